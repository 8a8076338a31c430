"""Where the arena goes: the fastest contiguous RAM span of the device that holds it."""

from __future__ import annotations

from dataclasses import dataclass

from ..devices import DeviceProfile, MemoryRegion


def access_cycles(region: MemoryRegion, core_clock_hz: int) -> float:
    """Core cycles per uncached 32-bit access to `region`: bus wait states scaled by the
    core/bus clock ratio (a TCM at core clock with no wait states costs 1)."""
    return (1 + region.wait_states) * core_clock_hz / region.bus_clock_hz


@dataclass(frozen=True)
class ArenaPlacement:
    regions: tuple[MemoryRegion, ...]

    @property
    def name(self) -> str:
        return "+".join(r.name for r in self.regions)

    @property
    def size(self) -> int:
        return sum(r.size for r in self.regions)

    @property
    def slowest(self) -> MemoryRegion:
        """The region that sets the span's speed (the cost model charges its access time)."""
        return max(self.regions, key=lambda r: (r.kind != "tcm", r.wait_states, -r.bus_clock_hz))


def place_arena(device: DeviceProfile, arena_bytes: int) -> ArenaPlacement | None:
    """The fastest span that holds `arena_bytes`, or None if none does. Ties go to a TCM
    (a bus SRAM at core clock is as fast per access, but its misses go through the D-cache
    and its bus is shared with DMA), then to the smallest span.

    Spans mix only regions of one kind: a TCM and a bus SRAM that happen to be adjacent
    in the address map are different memories with different speeds.
    """
    spans = _data_spans(device)
    fitting = [p for p in spans if p.size >= arena_bytes]
    if not fitting:
        return None
    return min(fitting, key=lambda p: (access_cycles(p.slowest, device.clock_hz),
                                       p.slowest.kind != "tcm", p.size))


def largest_span(device: DeviceProfile) -> ArenaPlacement:
    return max(_data_spans(device), key=lambda p: p.size)


def _data_spans(device: DeviceProfile) -> list[ArenaPlacement]:
    return [ArenaPlacement(tuple(span)) for span in device.contiguous_spans()
            if len({r.kind for r in span}) == 1 and all(r.data for r in span)]
