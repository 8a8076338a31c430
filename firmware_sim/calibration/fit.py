"""Per-operator calibrations from the probe measurements, and what the report cannot separate,
fitted by recomputing every probe model exactly.

Differencing a probe's chains gives, per added instance, the unrecorded tail bytes (builtin
options + scratch handles) and the persistent buffers; the channel, spatial and input-count
variants show what those scale with. The split of the unrecorded bytes, of the constant
buffers into Init() and Prepare() ones, and the persistent-buffer alignment are fitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..memory.arena import BUFFERS, plan_arena, prepare_temp
from .probe import Built, ProbeResult, recorded, unrecorded
from .probes import BASE, VARIANTS
from .verify import mismatch


@dataclass(frozen=True)
class Delta:
    """Per-instance change of a probe's report: unrecorded tail bytes (builtin data + scratch
    handles), persistent-buffer bytes requested and persistent-buffer allocations."""

    unrecorded: int
    buffer_bytes: int
    buffer_allocs: int


def per_instance(models: dict[int, Built]) -> tuple[Delta, bool]:
    """The change per added instance between consecutive k, and whether it is the same for every
    step (a chain that is not linear in k hints at alignment effects)."""
    ks = sorted(models)
    steps = []
    for a, b in zip(ks, ks[1:], strict=False):
        ra, rb, n = models[a].report, models[b].report, b - a
        ba, bb = recorded(ra, BUFFERS), recorded(rb, BUFFERS)
        steps.append(Delta((unrecorded(rb) - unrecorded(ra)) // n,
                           (bb.requested - ba.requested) // n, (bb.count - ba.count) // n))
    return steps[0], all(s == steps[0] for s in steps)


@dataclass
class OpCalibration:
    """Derived numbers for one operator (bytes unless noted)."""

    op: str
    unrecorded: int = 0                 # builtin data + scratch handles per instance
    builtin_bytes: int = 0
    builtin_align: int = 1
    scratch_buffers: int = 0            # ScratchBufferHandles per instance
    init_bytes: int = 0                 # first persistent buffer (Init's OpData)
    prepare_bytes: int = 0              # constant-size persistent buffers after the first
    prepare_allocations: int = 0
    per_channel_arrays: int = 0         # int32 arrays of output-channel length (Prepare)
    per_channel_when: str = "never"
    prepare_bytes_per_input: int = 0    # CONCATENATION-like dependence on the input count
    allocations: int = 0                # persistent buffers per instance at the base probe
    prepare_temp_extra: int = 0         # transient Prepare() bytes beyond the temp tensors
    probes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _lowbit(n: int) -> int:
    return n & -n if n else 1


def derive_op(results: list[ProbeResult]) -> OpCalibration | None:
    """Combine the probes of one operator into an OpCalibration (None if none measured)."""
    usable = [r for r in results if "base" in r.models]
    if not usable:
        return None
    cal = OpCalibration(usable[0].probe.op)
    arrays_by_weights = {}
    for res in usable:
        probe = res.probe
        cal.probes.append(probe.key)
        deltas = {}
        for variant, models in res.models.items():
            delta, linear = per_instance(models)
            deltas[variant] = delta
            if not linear:
                cal.notes.append(f"{probe.key}: {variant} chain not linear in k")
        base = deltas["base"]
        c0 = BASE["c"]
        arrays = 0
        if "channels" in deltas:
            wide = deltas["channels"]
            dc = VARIANTS["channels"]["c"] - c0
            slope = (wide.buffer_bytes - base.buffer_bytes) / dc
            if slope:
                if slope % 4 == 0 and wide.buffer_allocs == base.buffer_allocs:
                    arrays = int(slope // 4)
                else:
                    cal.notes.append(f"{probe.key}: persistent bytes change by {slope:g} per "
                                     "output channel (not whole int32 arrays)")
            if wide.unrecorded != base.unrecorded:
                cal.notes.append(f"{probe.key}: unrecorded bytes depend on the channel count")
        for variant, what in (("spatial", "spatial size"), ("inputs", "input count")):
            if variant in deltas and deltas[variant] != base:
                d = deltas[variant]
                if variant == "inputs" and d.buffer_allocs == base.buffer_allocs \
                        and d.unrecorded == base.unrecorded:
                    cal.prepare_bytes_per_input = (d.buffer_bytes - base.buffer_bytes) // (
                        VARIANTS["inputs"]["n"] - BASE["n"])
                else:
                    cal.notes.append(f"{probe.key}: depends on the {what}: {base} -> {d}")
        arrays_by_weights[probe.weights or "none"] = arrays
        cal.notes += [f"{probe.key}: {note}" for note in res.notes]
        cal.notes += [probe.note] if probe.note else []
        if probe.weights == "per_tensor":
            continue                         # the per-channel probe gives the other numbers
        cal.unrecorded = base.unrecorded
        cal.builtin_bytes = base.unrecorded  # split by fit() if scratch handles are needed
        cal.builtin_align = min(4, _lowbit(base.unrecorded))
        cal.allocations = base.buffer_allocs
        per_input = cal.prepare_bytes_per_input * BASE["n"]
        constant = base.buffer_bytes - arrays * 4 * c0 - per_input
        const_allocs = base.buffer_allocs - arrays - (1 if per_input else 0)
        cal.per_channel_arrays = arrays
        if const_allocs >= 1:
            cal.init_bytes = constant        # split by fit() if more than one allocation
            cal.prepare_allocations = const_allocs - 1
        elif constant:
            cal.notes.append(f"{probe.key}: {constant} bytes without an allocation")
    if cal.per_channel_arrays:
        if "per_tensor" not in arrays_by_weights:
            cal.per_channel_when = "always"
            cal.notes.append("no per-tensor probe: assumed the arrays are always allocated")
        elif arrays_by_weights["per_tensor"] == cal.per_channel_arrays:
            cal.per_channel_when = "always"
        elif arrays_by_weights["per_tensor"] == 0:
            cal.per_channel_when = "per_channel_weights"
        else:
            cal.notes.append(f"per-tensor weights give {arrays_by_weights['per_tensor']} arrays")
    return cal


def op_table(cal: OpCalibration) -> dict:
    """The TOML table of one operator (also used, unwritten, while fitting)."""
    t = {
        "builtin_bytes": cal.builtin_bytes,
        "builtin_align": cal.builtin_align,
        "init_bytes": cal.init_bytes,
        "prepare_bytes": cal.prepare_bytes,
        "prepare_allocations": cal.prepare_allocations,
        "per_channel_arrays": cal.per_channel_arrays,
        "per_channel_when": cal.per_channel_when,
        "scratch_buffers": cal.scratch_buffers,
        "allocations": cal.allocations,
    }
    if cal.prepare_allocations:
        t["prepare_allocation_bytes"] = split(cal.prepare_bytes, cal.prepare_allocations)
    if cal.prepare_bytes_per_input:
        t["prepare_bytes_per_input"] = cal.prepare_bytes_per_input
    t["prepare_temp_extra"] = cal.prepare_temp_extra
    return t


def split(total: int, parts: int) -> list[int]:
    """`total` bytes as `parts` allocations: 16-byte pieces, the remainder in the last one."""
    if parts <= 0:
        return []
    pieces = [16] * (parts - 1)
    return pieces + [total - sum(pieces)]


def _candidates(cal: OpCalibration, handle: int):
    """Every (scratch handles, builtin bytes, init bytes, prepare bytes) split of the measured
    per-instance numbers, most plausible first: no scratch buffers, then as many as fit (the
    builtin option structs are small); the first persistent buffer largest first."""
    max_scratch = cal.unrecorded // handle
    scratch_order = [0] + list(range(max_scratch, 0, -1))
    constant = cal.init_bytes + cal.prepare_bytes
    if cal.prepare_allocations:
        inits = range(constant - 16 * cal.prepare_allocations, 0, -4)
    else:
        inits = [constant]
    for n in scratch_order:
        for init in inits:
            yield n, cal.unrecorded - n * handle, init, constant - init


def _fitting_splits(name: str, cal: OpCalibration, cals: dict[str, OpCalibration],
                    structs: dict, models: list[Built]) -> list[OpCalibration]:
    """Every split of `cal` (see _candidates) that recomputes all `models` of the operator
    exactly, category by category, most plausible first."""
    others = {o: op_table(c) for o, c in cals.items() if o != name}
    fits = []
    for n, builtin, init, prep in _candidates(cal, structs["scratch_buffer_handle"]):
        trial = OpCalibration(**{**cal.__dict__, "notes": list(cal.notes),
                                 "scratch_buffers": n, "builtin_bytes": builtin,
                                 "builtin_align": min(4, _lowbit(builtin)),
                                 "init_bytes": init, "prepare_bytes": prep})
        table = {"structs": structs, "ops": {**others, name: op_table(trial)}}
        if all(not mismatch(b, table) for b in models):
            fits.append(trial)
    return fits


def fit(cals: dict[str, OpCalibration], results: list[ProbeResult], structs: dict,
        notes: list[str]) -> None:
    """Fit what the report leaves open, by recomputing every probe model exactly:
    the persistent-buffer alignment, the fixed bytes, and per operator the split of its
    unrecorded bytes into builtin data and scratch handles and of its persistent buffers into
    the first (Init) allocation and the rest."""
    by_op: dict[str, list[Built]] = {}
    for r in results:
        for ms in r.models.values():
            by_op.setdefault(r.probe.op, []).extend(ms.values())
    # Fixed bytes: unrecorded bytes of the first model of each chain less its instances'.
    fixed = set()
    for r in results:
        if "base" in r.models and r.probe.op in cals:
            k = min(r.models["base"])
            base = r.models["base"][k]
            helper_unrec = cals[r.probe.helper_op].unrecorded if r.probe.helper_op else 0
            fixed.add(unrecorded(base.report) - k * cals[r.probe.op].unrecorded - helper_unrec)
    if len(fixed) != 1:
        notes.append(f"fixed bytes differ between probes: {sorted(fixed)}")
    structs["fixed_bytes"] = min(fixed)
    for align in (4, 8, 16, 32, 64):
        structs["persistent_buffer_align"] = align
        chosen = {}
        for name, cal in cals.items():
            fits = _fitting_splits(name, cal, cals, structs, by_op.get(name, []))
            if not fits:
                break
            best = chosen[name] = fits[0]
            if len(fits) > 1 and (best.scratch_buffers or best.prepare_allocations):
                alts = "; ".join(f"builtin {t.builtin_bytes} + {t.scratch_buffers} scratch, "
                                 f"init {t.init_bytes}" for t in fits[1:4])
                best.notes.append(f"split fitted, not unique (also consistent: {alts})")
        else:
            cals.update(chosen)
            return
    notes.append("no persistent-buffer alignment reproduces every probe model; "
                 "keeping 16 and builtin = unrecorded bytes")
    structs["persistent_buffer_align"] = 16
    for cal in cals.values():
        cal.builtin_bytes = cal.unrecorded
        cal.builtin_align = min(4, _lowbit(cal.unrecorded))


def derive_prepare_extras(results: list[ProbeResult], cals: dict[str, OpCalibration],
                          structs: dict, minima: dict[str, int]) -> None:
    """Set each operator's prepare_temp_extra from the minimum arena of its probes' small
    models: where that minimum exceeds head + tail, the planning peak and the tail plus every
    operator's temporary tensor structs (arena.prepare_temp without this operator's extra),
    the excess over tail + structs of the probed operator; else 0. The largest over the
    operator's probes. Probes without a helper operator go first, so that a helper's own extra
    is known when its probe model is explained."""
    print(f"\n{'small probe model':<30}{'minimum':>8}{'head+tail':>10}{'planning':>9}"
          f"{'tail':>6}{'temp':>6}{'max temp':>9}{'extra':>6}")
    for r in sorted(results, key=lambda r: bool(r.probe.helper_op)):
        op, b = r.probe.op, r.small
        if b is None or op not in cals:
            continue
        ops = {o: {**op_table(c), "prepare_temp_extra": 0 if o == op else c.prepare_temp_extra}
               for o, c in cals.items()}
        table = {"structs": structs, "ops": ops}
        sg = b.graph.main
        temps = [(o.opcode, prepare_temp(o, sg, table)) for o in sg.operators]
        own = max(t for o, t in temps if o == op)
        planning = plan_arena(b.graph, table=table).planning_bytes
        minimum, tail = minima[b.name], b.report.tail_bytes
        floor = max(b.report.total_bytes, planning, tail + max(t for _, t in temps))
        extra = minimum - tail - own if minimum > floor else 0
        cals[op].prepare_temp_extra = max(cals[op].prepare_temp_extra, extra)
        print(f"{b.name:<30}{minimum:>8}{b.report.total_bytes:>10}{planning:>9}{tail:>6}"
              f"{own:>6}{max(t for _, t in temps):>9}{extra:>6}")
