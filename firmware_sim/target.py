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
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar

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


class Target(ABC):
    """One kind of device. A subclass names its `kind` (the profile's), its profile type,
    shipped-profile `folder` and `loader`, the violation kinds after which it cannot run a
    graph (`unrunnable`), and implements the pipeline's steps (module docstring)."""

    kind: ClassVar[str]
    profile_type: ClassVar[type]
    folder: ClassVar[Path]
    loader: ClassVar[Callable[[str | os.PathLike[str]], Any]]
    unrunnable: ClassVar[tuple[str, ...]]

    def __init__(self, profile, kernels: str | None = None):
        stacks = self.stacks(profile)
        self.profile, self.kernels = profile, kernels or stacks[0]
        if self.kernels not in stacks:
            raise EdgesimError(f"kernel stack {self.kernels!r} is not available on "
                               f"{profile.name} (it has: {', '.join(stacks)})")

    @staticmethod
    def stacks(profile) -> tuple[str, ...]:
        """The kernel stacks `profile` offers, the default first."""
        return tuple(profile.kernels)

    @abstractmethod
    def rules(self, graph: Graph, found: Findings, int8_only: bool) -> None: ...

    @abstractmethod
    def memory(self, graph: Graph, limits: Limits, found: Findings) -> MemoryUse: ...

    @abstractmethod
    def cost(self, graph: Graph, memory: MemoryUse, found: Findings,
             exact: bool) -> list[Timing]: ...

    def fixed(self) -> tuple[float, float]:
        """Time (ms) and energy (mJ) per inference outside the layers."""
        return 0.0, 0.0

    @abstractmethod
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
        return targets()[kind](targets()[kind].loader(source), kernels)
    for cls in targets().values():
        if isinstance(device, cls.profile_type):
            return cls(device, kernels)
    raise TypeError(f"not a device profile: {type(device).__name__}")


def load_profile(name_or_path: str | os.PathLike[str]):
    """A shipped profile by name or a .toml file by path, of any registered kind."""
    kind, source = profile_kind(name_or_path)
    return targets()[kind].loader(source)


def profile_kind(name_or_path: str | os.PathLike[str]) -> tuple[str, str]:
    """(kind, what its target's loader takes) of a shipped profile's name or a path."""
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


@cache
def shipped_profiles() -> tuple[tuple[str, Path], ...]:
    """(kind, file) of every shipped profile, by name: each file of the targets' folders read
    once (targets may share a folder; they are the package's own files)."""
    folders = {cls.folder for cls in targets().values()}
    found = [(read_toml(p).get("kind", DEFAULT_KIND), p) for f in folders for p in f.glob("*.toml")]
    return tuple(sorted(((k, p) for k, p in found if k in targets()), key=lambda kp: kp[1].stem))
