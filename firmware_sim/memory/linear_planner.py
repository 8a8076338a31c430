"""TFLM's LinearMemoryPlanner (`memory_planner/linear_memory_planner.cc`): no reuse at all,
each buffer follows the previous one. A lower bound on what reuse saves."""

from __future__ import annotations

from .planner import BufferRequest, MemoryPlanner, Placement


class LinearPlanner(MemoryPlanner):
    def plan(self, requests: list[BufferRequest]) -> list[Placement]:
        out, offset = [], 0
        for r in requests:
            out.append(Placement(r, offset))
            offset += r.size
        return out
