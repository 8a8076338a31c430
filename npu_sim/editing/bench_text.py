"""The edit bench's summary as text for a person: the means per method, the unlearning
summary, the BP/MobiEdit ratios, what MobiEdit's optimisations saved and the 3B scaling."""

from __future__ import annotations

from .bench import METHODS, METRICS


def format_bench(b: dict) -> str:
    r = b["real"]
    lines = [f"model {b['model']} (edit layer {b['edit_layer']}), {b['edits']} edits, "
             f"{b['wall_s']} s", "",
             f"{'':22s} {'MobiEdit':>14s} {'ROME-BP':>14s}"]
    for key, fmt in (("success_rate", "{:.2f}"),
                     *((k, "{:+.3f}" if k.endswith("magnitude") else "{:.2f}")
                       for k in METRICS), ("mean_steps", "{:.1f}"),
                     ("mean_forward_passes", "{:.0f}"), ("mean_macs", "{:.3g}"),
                     ("memory_bytes", "{:,}"), ("mean_latency_s", "{:.4g}"),
                     ("mean_energy_j", "{:.4g}"), ("mean_wall_s", "{:.1f}")):
        vals = [fmt.format(r[m][key]) if r[m][key] is not None else "-" for m in METHODS]
        lines.append(f"{key:22s} {vals[0]:>14s} {vals[1]:>14s}")
    for m, u in b["unlearning"].items():
        if u:
            lines.append(f"unlearning {m}: {u['requests']} requests, refusal greedy on prompt "
                         f"{u['refusal_on_prompt']:.2f} / paraphrases "
                         f"{u['refusal_on_paraphrases']:.2f}, neighbours kept "
                         f"{u['neighbours_kept']:.2f}, all three {u['success_rate']:.2f}")
    inv = b["mobiedit_invocations"]
    lines.append(f"MobiEdit {b['mobiedit_mode']}: {inv['mean_forward_passes']:.0f} forward "
                 f"passes in {inv['mean_invocations']:.0f} NPU invocations per edit (batch "
                 f"{inv['batch']})")
    lines.append(f"ratios BP/MobiEdit: memory {b['memory_ratio']:.2f}, energy "
                 f"{b['energy_ratio']:.2f}, latency {b['latency_ratio']:.2f}")
    e, p = b["early_stopping"], b["prefix_cache"]
    lines.append(f"early stopping saved {e['forward_passes_saved']:,} forward passes, "
                 f"{e['macs_saved']:.3g} MACs; prefix cache saved {p['macs_saved']:.3g} of "
                 f"{p['macs_without']:.3g} MACs")
    w = r["other_mode"]
    lines.append(f"  {w['mode']} (cost model): memory {w['memory_ratio']:.2f}, energy "
                 f"{w['energy_ratio']:.2f}, latency {w['latency_ratio']:.2f}")
    for name, s in b["scaled"].items():
        lines.append(f"{s['config']:22s} memory {s['mobiedit']['memory_bytes'] / 2**30:.2f} vs "
                     f"{s['rome-bp']['memory_bytes'] / 2**30:.2f} GiB, ratios memory "
                     f"{s['memory_ratio']:.2f}, energy {s['energy_ratio']:.2f}, latency "
                     f"{s['latency_ratio']:.2f}")
        for mode, w in s["modes"].items():
            lines.append(f"  {mode:9s}: memory {w['memory_ratio']:.2f}, energy "
                         f"{w['energy_ratio']:.2f}, latency {w['latency_ratio']:.2f}")
    return "\n".join(lines)
