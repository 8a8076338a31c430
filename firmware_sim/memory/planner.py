"""The memory-planner interface, after TFLM's `memory_planner/micro_memory_planner.h`.

A planner receives buffers (size in bytes, first and last operator step that uses them) and
assigns each an offset in the arena head; `head_bytes` is the extent of the plan.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class BufferRequest:
    """One buffer to place: `size` bytes alive from step `first` to step `last` (inclusive).
    `tensor` is the tensor index of an activation buffer, `op` the operator index of a kernel's
    scratch buffer (None where they do not apply); planners ignore both."""

    name: str
    size: int
    first: int
    last: int
    tensor: int | None = None
    op: int | None = None


@dataclass(frozen=True)
class Placement:
    request: BufferRequest
    offset: int  # bytes from the start of the arena head


class MemoryPlanner(ABC):
    """Assigns arena offsets to buffers; subclasses differ in how they reuse memory."""

    @abstractmethod
    def plan(self, requests: list[BufferRequest]) -> list[Placement]:
        """Offsets for `requests`, in the order given."""

    @staticmethod
    def head_bytes(placements: list[Placement]) -> int:
        """Bytes the plan spans: the highest offset + size."""
        return max((p.offset + p.request.size for p in placements), default=0)


def format_plan(placements: list[Placement], width: int = 60) -> str:
    """The plan as text: one line per buffer, its offset, size, lifetime and a bar."""
    total = MemoryPlanner.head_bytes(placements) or 1
    lines = [f"{'buffer':<28} {'offset':>8} {'bytes':>8}  life   layout (head = {total} bytes)"]
    for p in sorted(placements, key=lambda p: (p.offset, p.request.first)):
        lo = p.offset * width // total
        hi = max(lo + 1, (p.offset + p.request.size) * width // total)
        bar = " " * lo + "#" * (hi - lo)
        r = p.request
        lines.append(f"{r.name[:28]:<28} {p.offset:>8} {r.size:>8}  {r.first:>2}-{r.last:<2}  |{bar:<{width}}|")
    return "\n".join(lines)
