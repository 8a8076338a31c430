"""TFLM's GreedyMemoryPlanner (`memory_planner/greedy_memory_planner.cc`), step for step.

Buffers are taken largest first (ties: the later-added buffer first, because TFLM fills its
sort array from the back and bubble-sorts it stably), and each is put at the lowest offset
where it does not overlap, in both address and lifetime, any buffer already placed.
"""

from __future__ import annotations

from .planner import BufferRequest, MemoryPlanner, Placement


class GreedyPlanner(MemoryPlanner):
    def plan(self, requests: list[BufferRequest]) -> list[Placement]:
        order = sorted(reversed(range(len(requests))), key=lambda i: -requests[i].size)
        offsets: dict[int, int] = {}
        by_offset: list[int] = []  # placed request ids, ordered by offset (ties: insertion order)
        for i in order:
            want = requests[i]
            offset = 0
            for j in by_offset:
                other = requests[j]
                if other.first > want.last or want.first > other.last:
                    continue  # not alive at the same time
                if offsets[j] - offset >= want.size:
                    break  # the gap before this buffer is big enough
                offset = max(offset, offsets[j] + other.size)
            offsets[i] = offset
            k = len(by_offset)
            while k > 0 and offsets[by_offset[k - 1]] > offset:
                k -= 1
            by_offset.insert(k, i)
        return [Placement(r, offsets[i]) for i, r in enumerate(requests)]
