"""Benchmark knowledge editing: MobiEdit (ZO, W8A16 kernel on the NPU profile) against ROME
with backpropagation (float32 on the mobile-CPU profile), on a real model and scaled to 3B
configs. `edgesim edit bench` and tools/bench_edit.py print its table (or JSON) and write
out/bench_edit.json under the current directory.

Real model: the first N edits of a CounterFact-format set (default: the project's,
npu_sim/editing/data/counterfact_smollm2.json), both methods, each edit a Ray task whose
result streams to a JSON-lines file that a rerun resumes from (bench_runner); the means of
every metric of npu_sim.editing.metrics (CounterFact's scores and magnitudes, EasyEdit's
token accuracies, the strict greedy figures), steps, forward passes, MACs, memory, latency,
energy and wall time per edit (s); the MACs and forward passes early stopping and the prefix
cache saved. Ratios are BP over MobiEdit (> 1: MobiEdit needs less).
Scaled: Qwen2.5-3B-Instruct and Llama-3.2-3B from their configs alone, with the real run's
mean steps, the same prompts' token counts and the same cost model (npu_sim.performance);
the NPU kernel is costed operator by operator from the config (checked on the real model
against check() of the exported graph: `kernel_model_check`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgesim.errors import EdgesimError

if TYPE_CHECKING:
    from npu_sim.editing import EditRequest

EDIT_SET = Path(__file__).parent / "data" / "counterfact_smollm2.json"
DEFAULT_OUT = Path("out") / "bench_edit.json"     # relative to the current directory
SCALED = ("qwen2.5-3b-instruct", "llama-3.2-3b")
METHODS = ("mobiedit", "rome-bp")
DEFAULT_EDITS = 3      # the edits before the set's first unlearning request (the slowest kind)


#: Per-edit metrics the bench averages (npu_sim.editing.metrics).
METRICS = ("efficacy_score", "efficacy_magnitude", "paraphrase_score", "paraphrase_magnitude",
           "neighborhood_score", "neighborhood_magnitude", "rewrite_acc", "rephrase_acc",
           "locality_acc", "efficacy", "generalization", "locality")


@dataclass(frozen=True)
class Case:
    """One record of an edit set: its key in the results file (the record's `case_id`, else
    its index), a digest of the record (a result recorded for another version of it is not
    reused) and its edit request."""
    key: int | str
    digest: str
    request: EditRequest


def load_cases(path: str | Path = EDIT_SET) -> list[Case]:
    """The records of a CounterFact-format file: a list of objects with `requested_rewrite`
    (`prompt` with "{}" for the subject, `subject`, `target_new` and `target_true` as
    {"str": ...}), `paraphrase_prompts`, `neighborhood_prompts`, an optional `case_id` and the
    project's optional `kind` ("unlearn": the target is a refusal). Targets get a leading
    space, as ROME's rome_main.py gives them. A missing or malformed file or record is an
    EdgesimError naming it."""
    from npu_sim.editing import EditRequest

    def spaced(s: str) -> str:
        return s if s.startswith(" ") else " " + s

    try:
        records = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EdgesimError(f"{path}: no such edit set") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgesimError(f"{path}: cannot read the edit set: "
                           f"{getattr(exc, 'strerror', None) or exc}") from None
    except json.JSONDecodeError as exc:
        raise EdgesimError(f"{path}: not JSON ({exc})") from None
    if not isinstance(records, list) or not records:
        raise EdgesimError(f"{path}: an edit set is a non-empty JSON list of CounterFact "
                           "records")
    out, seen = [], set()
    for i, e in enumerate(records):
        where = f"{path}: record {i}"
        if not isinstance(e, dict):
            raise EdgesimError(f"{where}: not a JSON object")
        key = e.get("case_id", i)
        if isinstance(key, bool) or not isinstance(key, (int, str)) or key in seen:
            raise EdgesimError(f"{where}: case_id {key!r} is not a new integer or string")
        seen.add(key)
        rr = "requested_rewrite."
        subject = _field(e, rr + "subject", str, where)
        request = EditRequest(
            subject, _field(e, rr + "prompt", str, where).replace("{}", subject),
            spaced(_field(e, rr + "target_new.str", str, where)),
            tuple(_field(e, "paraphrase_prompts", list, where)),
            tuple(_field(e, "neighborhood_prompts", list, where)), e.get("kind", "edit"),
            spaced(_field(e, rr + "target_true.str", str, where)))
        digest = hashlib.sha256(json.dumps(e, sort_keys=True).encode()).hexdigest()[:16]
        out.append(Case(key, digest, request))
    return out


def _field(record, name: str, kind: type, where: str):
    """`record`'s field at the dotted `name`: a non-empty string (kind str) or a list of
    strings (kind list)."""
    value = record
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            raise EdgesimError(f"{where}: `{name}` is missing")
        value = value[part]
    if kind is str and not (isinstance(value, str) and value.strip()):
        raise EdgesimError(f"{where}: `{name}` is not a non-empty string")
    if kind is list and not (isinstance(value, list) and all(isinstance(s, str) for s in value)):
        raise EdgesimError(f"{where}: `{name}` is not a list of strings")
    return value


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def summarise(rows: list[dict]) -> dict:
    return {
        "edits": len(rows),
        "success_rate": _mean([float(r["success"]) for r in rows]),
        **{k: _mean([r.get(k) for r in rows]) for k in METRICS},
        "mean_steps": _mean([r["steps"] for r in rows]),
        "mean_forward_passes": _mean([r["forward_passes"] for r in rows]),
        "mean_macs": _mean([r["macs"] for r in rows]),
        "memory_bytes": max(r["memory_bytes"] for r in rows),
        "mean_latency_s": _mean([r["latency_s"] for r in rows]),
        "mean_energy_j": _mean([r["energy_j"] for r in rows]),
        "mean_wall_s": _mean([r.get("wall_s") for r in rows]),
    }


def ratios(bp: dict, zo: dict, prefix: str = "") -> dict:
    return {"memory_ratio": bp[prefix + "memory_bytes"] / zo[prefix + "memory_bytes"],
            "energy_ratio": bp[prefix + "mean_energy_j"] / zo[prefix + "mean_energy_j"],
            "latency_ratio": bp[prefix + "mean_latency_s"] / zo[prefix + "mean_latency_s"]}


def _mode_counts(L: dict, directions: int) -> dict:
    """Kernel runs of one prompt's kernel in both modes for a run's steps and checks:
    unbatched, 2 x directions passes per
    step, one per early-stopping check and one final loss; batched, one invocation of
    2 x directions + 1 rows per step and one more (the last check / the final loss)."""
    n_kernels = max(1, len(L["kernels"]))
    checks = L.get("check_forward_passes", 0) // n_kernels
    steps = L["steps"]
    return {"unbatched": (1, 2 * directions * steps + checks + 1),
            "batched": (2 * directions + 1, steps + 1)}


def _mode(L: dict) -> str:
    return "batched" if L.get("batched") else "unbatched"


def _kernel_totals(cfg, npu, layer: int, L: dict, directions: int, mode: str,
                   ops_per_layer: float, prefix_passes: bool) -> tuple[float, float, int]:
    """A run's editing kernels costed from the config alone (kernel_cost_from_config) for
    its steps and checks in `mode`: latency (s), energy (J) and the largest NPU session
    (bytes); with `prefix_passes`, each prompt's prefix pass costed from the config too."""
    from npu_sim.editing import costs

    lat = en = 0.0
    session = 0
    for k in L["kernels"]:
        batch, invocations = _mode_counts(L, directions)[mode]
        seqs = k.get("seqs", 1)
        kc = costs.kernel_cost_from_config(cfg, npu, layer, k["prefix"], k["suffix"],
                                           k["out_rows"], ops_per_layer, batch=batch,
                                           seqs=seqs)
        pc = costs.prefix_pass_cost(cfg, npu, k["prefix"] + k["suffix"]) if prefix_passes \
            else None
        lat += kc.latency_s * invocations + (seqs * pc.time_s if pc else 0.0)
        en += kc.energy_j * invocations + (seqs * pc.energy_j if pc else 0.0)
        session = max(session, kc.session_bytes)
    return lat, en, session


def scale(config_name: str, runs: dict, hp, npu_name="sd8gen3_htp", cpu_name="sd8gen3_cpu",
          ops_per_layer: float = 40.0, layer: int | None = None) -> dict:
    """Both methods on a config alone, with the real run's measured steps and shapes; MobiEdit
    in the run's mode (top level) and in both modes (`modes`: unbatched, one invocation per
    forward pass; batched, one invocation per ZO step)."""
    from firmware_sim.devices.cpu import load_cpu
    from npu_sim.devices import load_npu
    from npu_sim.editing import costs
    from npu_sim.llm.model import load_config

    cfg = load_config(config_name)
    if layer is None:
        layer = 5 if cfg.edit_layer is None else cfg.edit_layer
    directions = hp.mobiedit.directions
    npu, cpu = load_npu(npu_name), load_cpu(cpu_name)
    zo_rows, bp_rows = runs["mobiedit"], runs["rome-bp"]
    per_mode = {m: {"lat": [], "en": [], "mem": []} for m in ("unbatched", "batched")}
    bp_lat, bp_en, bp_mem = [], [], []
    for z, b in zip(zo_rows, bp_rows):
        L = z["ledger"]
        for mode, acc in per_mode.items():
            lat, en, session = _kernel_totals(cfg, npu, layer, L, directions, mode,
                                              ops_per_layer, prefix_passes=True)
            mem = costs.mobiedit_memory(
                cfg, layer, session, max(k.get("seqs", 1) * k["prefix"] for k in L["kernels"]),
                max(k.get("seqs", 1) * k["suffix"] for k in L["kernels"]))["total"]
            acc["lat"].append(lat), acc["en"].append(en), acc["mem"].append(mem)
        c = b["ledger"]["cost"]
        t = costs.bp_totals(cfg, cpu, layer, c["sequences"], b["steps"], c.get("head_rows"))
        bp_lat.append(t.latency_s), bp_en.append(t.energy_j), bp_mem.append(t.memory_bytes)
    bp = {"memory_bytes": max(bp_mem), "mean_latency_s": _mean(bp_lat),
          "mean_energy_j": _mean(bp_en)}
    modes = {}
    for mode, acc in per_mode.items():
        zo = {"memory_bytes": max(acc["mem"]), "mean_latency_s": _mean(acc["lat"]),
              "mean_energy_j": _mean(acc["en"])}
        modes[mode] = {"mobiedit": zo, **ratios(bp, zo)}
    mode = _mode(zo_rows[0]["ledger"])
    return {"config": cfg.name, "params": cfg.n_params, "edit_layer": layer,
            "mobiedit_mode": mode, "mobiedit": modes[mode]["mobiedit"], "rome-bp": bp,
            **ratios(bp, modes[mode]["mobiedit"]), "modes": modes}


def _real_other_mode(cfg, runs, hp, ops_per_layer, real) -> dict:
    """The real model's measured trajectories costed in the mode they did not run in, from
    the config-only kernel model (the BP side is the measured one)."""
    from npu_sim.devices import load_npu

    npu = load_npu("sd8gen3_htp")
    other = "unbatched" if _mode(runs["mobiedit"][0]["ledger"]) == "batched" else "batched"
    lat, en, mem = [], [], []
    for z in runs["mobiedit"]:
        L = z["ledger"]
        t, e, session = _kernel_totals(cfg, npu, hp.layer, L, hp.mobiedit.directions, other,
                                       ops_per_layer, prefix_passes=False)
        t += L["prefix_pass"]["latency_s"]
        e += L["prefix_pass"]["energy_j"]
        lat.append(t), en.append(e)
        m = dict(L["memory"])
        m["kernel_session_bytes"] = session
        mem.append(sum(v for key, v in m.items() if key != "total"))
    zo = {"memory_bytes": max(mem), "mean_latency_s": _mean(lat), "mean_energy_j": _mean(en)}
    return {"mode": other, "note": "cost model only (kernel_cost_from_config) on the measured "
            "steps (the other mode's own trajectory can differ slightly: on SmolLM2 the "
            "batched graph's int16 scales differ from the unbatched graph's in the last "
            "digits)", "mobiedit": zo,
            **ratios(real["rome-bp"], zo)}


def run_bench(model_name: str = "smollm2", n_edits: int | None = None, progress: bool = True,
              log=None, batched: bool | None = None, dataset: str | Path | None = None,
              results: str | Path = DEFAULT_OUT.with_suffix(".jsonl"),
              workers: int | None = None, address: str | None = None,
              hparams: str | Path | None = None, finished: bool = False) -> dict:
    """The bench of the first `n_edits` records of `dataset` (default: the project's edit set,
    its first DEFAULT_EDITS; a given set, all of it), both methods, with the hyperparameters
    `hparams` (a .toml file; default the model's own). The edits run as Ray
    tasks and stream to the JSON-lines file `results`, whose finished edits a rerun skips
    (npu_sim.editing.bench_runner); the summary is built from that file's rows. `finished`:
    run nothing and summarise the records `results` holds with both methods (a long bench's
    progress, while it runs elsewhere or after it was stopped)."""
    from dataclasses import replace

    from npu_sim.editing import load_hparams
    from npu_sim.llm import load_model

    from .bench_runner import run_edits

    t0 = time.time()
    cases = load_cases(dataset or EDIT_SET)
    if n_edits is None and dataset is None:
        n_edits = DEFAULT_EDITS
    cases = cases[:n_edits] if n_edits else cases
    model = load_model(model_name)
    hp = load_hparams(hparams or Path(model.path).stem)
    if batched is not None:
        hp = replace(hp, mobiedit=replace(hp.mobiedit, batched=batched))
    rows = run_edits(cases, METHODS, model, hp, Path(results), workers, address, progress, log,
                     run=not finished)
    if finished:
        cases = [c for c in cases if all((c.key, m) in rows for m in METHODS)]
        if not cases:
            raise EdgesimError(f"{results} holds no edit of this set finished with both "
                               "methods yet")
    runs = {m: [rows[c.key, m] for c in cases] for m in METHODS}
    return report(model, hp, runs, time.time() - t0)


def report(model, hp, runs: dict, wall_s: float) -> dict:
    """The bench's summary of recorded `runs` (method -> list of EditResult.to_dict())."""
    from npu_sim.devices import load_npu
    from npu_sim.editing import costs, metrics

    real = {m: summarise(runs[m]) for m in METHODS}
    unlearning = {m: metrics.unlearning(runs[m]) for m in METHODS}
    real.update(ratios(real["rome-bp"], real["mobiedit"]))
    zo_runs = runs["mobiedit"]
    early = {"forward_passes_saved": sum(r["ledger"]["savings"]["early_stopping"]
                                         ["forward_passes_saved"] for r in zo_runs),
             "macs_saved": sum(r["ledger"]["savings"]["early_stopping"]["macs_saved"]
                               for r in zo_runs),
             "macs_spent": sum(r["macs"] for r in zo_runs)}
    prefix = {"macs_saved": sum(r["ledger"]["savings"]["prefix_cache"]["macs_saved"]
                                for r in zo_runs),
              "macs_without": sum(r["ledger"]["savings"]["prefix_cache"]["macs_without"]
                                  for r in zo_runs)}
    # the config-only kernel model against check() of the exported graphs (real model)
    npu = load_npu("sd8gen3_htp")
    kernels = [k for r in zo_runs for k in r["ledger"]["kernels"]]
    n_after = model.config.n_layers - hp.layer - 1
    ops_per_layer = _mean([(k["ops"] - 6) / max(1, n_after) for k in kernels])
    est = [costs.kernel_cost_from_config(model.config, npu, hp.layer, k["prefix"], k["suffix"],
                                         k["out_rows"], ops_per_layer, batch=k.get("batch", 1),
                                         seqs=k.get("seqs", 1))
           for k in kernels]

    def inv(k, key):        # per invocation (no `_per_invocation` keys: one pass each)
        return k.get(f"{key}_per_invocation", k[f"{key}_per_pass"])

    check = {"ops_per_layer": ops_per_layer, "batch": kernels[0].get("batch", 1),
             "latency_config_over_graph": _mean([e.latency_s * 1e3 / inv(k, "latency_ms")
                                                 for e, k in zip(est, kernels)]),
             "energy_config_over_graph": _mean([e.energy_j * 1e3 / inv(k, "energy_mj")
                                                for e, k in zip(est, kernels)]),
             "macs_config_over_graph": _mean([e.macs / inv(k, "macs")
                                              for e, k in zip(est, kernels)])}
    scaled = {name: scale(name, runs, hp, ops_per_layer=ops_per_layer) for name in SCALED}
    real["mobiedit_mode"] = _mode(zo_runs[0]["ledger"])
    real["other_mode"] = _real_other_mode(model.config, runs, hp, ops_per_layer, real)
    invocations = {"mean_forward_passes": _mean([r["forward_passes"] for r in zo_runs]),
                   "mean_invocations": _mean([r["ledger"].get("invocations",
                                                              r["forward_passes"])
                                              for r in zo_runs]),
                   "batch": zo_runs[0]["ledger"].get("batch", 1)}
    return {"model": model.config.name, "model_path": model.path, "edit_layer": hp.layer,
            "hparams": hp.source, "edits": len(runs["mobiedit"]),
            "real": real, "memory_ratio": real["memory_ratio"],
            "energy_ratio": real["energy_ratio"], "latency_ratio": real["latency_ratio"],
            "mobiedit_mode": real["mobiedit_mode"], "mobiedit_invocations": invocations,
            "unlearning": unlearning, "early_stopping": early, "prefix_cache": prefix,
            "kernel_model_check": check,
            "scaled": scaled, "runs": runs, "wall_s": round(wall_s, 1)}


def bench_to_file(out: str | Path = DEFAULT_OUT, model_name: str = "smollm2",
                  n_edits: int | None = None, progress: bool = True,
                  batched: bool | None = None, rescore: str | Path | None = None,
                  dataset: str | Path | None = None, results: str | Path | None = None,
                  workers: int | None = None, address: str | None = None,
                  hparams: str | Path | None = None, finished: bool = False) -> dict:
    """Run the bench (run_bench; `results` defaults to `out` with the suffix .jsonl) or, with
    `rescore`, summarise the runs recorded in an earlier bench JSON again, and write its JSON
    to `out` atomically; returns the bench."""
    from edgesim.io import atomic_write

    if rescore:
        from npu_sim.editing import load_hparams
        from npu_sim.llm import load_model

        old = json.loads(Path(rescore).read_text(encoding="utf-8"))
        model = load_model(old["model_path"])
        bench = report(model, load_hparams(old["hparams"]), old["runs"], old["wall_s"])
    else:
        bench = run_bench(model_name, n_edits, progress=progress, batched=batched,
                          dataset=dataset, results=results or Path(out).with_suffix(".jsonl"),
                          workers=workers, address=address, hparams=hparams,
                          finished=finished)
    atomic_write(out, json.dumps(bench, indent=1))
    return bench
