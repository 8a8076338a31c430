"""The Target interface: what one kind of device (microcontroller, application CPU, NPU)
supplies to the one `check` pipeline (pipeline.py), and how a profile finds its target.

A target is built from a device profile and answers, in pipeline order:
  rules(graph, found, int8_only)     operators and tensor types it cannot run (violations)
  memory(graph, limits, found)       its arena or memory rule: the plan and the memory rows
  cost(graph, memory, found, exact)  one Timing per operator
  fixed()                            time (ms) and energy (mJ) per inference outside layers
  interpreter(graph)                 the numerics backend the Emulator runs the graph with
Targets register under the `edgesim.targets` entry-point group (pyproject.toml), so a package
built on firmware_sim (npu_sim) adds one without firmware_sim importing it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol

from edgesim.errors import EdgesimError

from .devices.schema import DeviceProfileError, is_profile_path, read_toml
from .graph import Graph
from .memory.arena import ArenaPlan
from .records import Limits, MemoryRow, Violation

#: The kind a profile file without a `kind` key has.
DEFAULT_KIND = "mcu"


@dataclass
class Findings:
    """What the pipeline's steps find, gathered in order."""

    violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: list[tuple[str, str]] = field(default_factory=list)   # (label, text) lines
    details: dict = field(default_factory=dict)                    # extra JSON figures


@dataclass(frozen=True)
class MemoryUse:
    """A target's memory verdict: the activation plan, where it sits, the memory rows."""

    plan: ArenaPlan
    rows: tuple[MemoryRow, ...]
    arena_region: str | None          # None: no region holds the arena
    region_bytes: int                 # its size (where none holds it: the largest's)
    placement: Any = None             # the target's own placement record, for cost()


@dataclass(frozen=True)
class Timing:
    """One operator's cost as a target reports it."""

    kernel: str
    cycles: int | None                # at the profile's clock (None: no single clock)
    latency_ms: float
    energy_mj: float
    region: str
    calibrated: bool = True
    bound: str = ""
    traffic: dict[str, int] = field(default_factory=dict)


class ProfileTarget:
    """What every target shares: built from a profile and a kernel stack (default the
    profile's first), shipped profiles in `folder`, read by `loader`."""

    folder: ClassVar[Path]
    loader: ClassVar[Callable[[str | os.PathLike[str]], Any]]

    def __init__(self, profile, kernels: str | None = None):
        stacks = self.stacks(profile)
        self.profile, self.kernels = profile, kernels or stacks[0]
        if self.kernels not in stacks:
            raise EdgesimError(f"kernel stack {self.kernels!r} is not available on "
                               f"{profile.name} (it has: {', '.join(stacks)})")

    @staticmethod
    def stacks(profile) -> tuple[str, ...]:
        return tuple(profile.kernels)

    @classmethod
    def profiles_dir(cls) -> Path:
        return cls.folder

    @classmethod
    def load_profile(cls, name_or_path: str | os.PathLike[str]):
        return cls.loader(name_or_path)

    def fixed(self) -> tuple[float, float]:
        return 0.0, 0.0


class Target(Protocol):
    kind: ClassVar[str]                     # "mcu", "cpu", "npu": the profile's `kind`
    unrunnable: ClassVar[tuple[str, ...]]   # violation kinds after which it cannot run a graph
    profile: Any
    kernels: str

    @classmethod
    def profiles_dir(cls) -> Path: ...
    @classmethod
    def load_profile(cls, name_or_path: str | os.PathLike[str]) -> Any: ...
    def rules(self, graph: Graph, found: Findings, int8_only: bool) -> None: ...
    def memory(self, graph: Graph, limits: Limits, found: Findings) -> MemoryUse: ...
    def cost(self, graph: Graph, memory: MemoryUse, found: Findings,
             exact: bool) -> list[Timing]: ...
    def fixed(self) -> tuple[float, float]: ...
    def interpreter(self, graph: Graph): ...


@cache
def targets() -> dict[str, type]:
    """Every registered target class by kind."""
    found = {}
    for ep in entry_points(group="edgesim.targets"):
        cls = ep.load()
        found[cls.kind] = cls
    return found


def target_for(device, kernels: str | None = None) -> Target:
    """The target for `device`: a profile object, a shipped profile's name or a .toml path."""
    if isinstance(device, (str, os.PathLike)):
        kind, source = profile_kind(device)
        return targets()[kind](targets()[kind].load_profile(source), kernels)
    for cls in targets().values():
        if isinstance(device, cls.profile_type):
            return cls(device, kernels)
    raise TypeError(f"not a device profile: {type(device).__name__}")


def load_profile(name_or_path: str | os.PathLike[str]):
    """A shipped profile by name or a .toml file by path, of any registered kind."""
    kind, source = profile_kind(name_or_path)
    return targets()[kind].load_profile(source)


def profile_kind(name_or_path: str | os.PathLike[str]) -> tuple[str, str]:
    """(kind, what its target's load_profile takes) of a shipped profile's name or a path."""
    text = os.fspath(name_or_path)
    if is_profile_path(text):
        kind = read_toml(Path(text)).get("kind", DEFAULT_KIND)
        if kind not in targets():
            raise DeviceProfileError(f"{text}: 'kind' must be one of "
                                     f"{', '.join(sorted(targets()))}, got {str(kind)[:40]!r}")
        return kind, text
    for kind, path in shipped_profiles():
        if path.stem == text.strip().lower():
            return kind, path.stem
    raise DeviceProfileError(f"unknown device {text[:80]!r}; known devices: "
                             f"{', '.join(p.stem for _, p in shipped_profiles())}")


def shipped_profiles() -> list[tuple[str, Path]]:
    """(kind, file) of every shipped profile, by name."""
    out = []
    for kind, cls in targets().items():
        for path in sorted(cls.profiles_dir().glob("*.toml")):
            if read_toml(path).get("kind", DEFAULT_KIND) == kind:
                out.append((kind, path))
    return sorted(out, key=lambda kp: kp[1].stem)
