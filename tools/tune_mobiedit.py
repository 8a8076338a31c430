"""Tune MobiEdit's zeroth-order hyperparameters on the editing kernel's float twin.

MobiEdit's own loop (npu_sim.editing.mobiedit.search: directions, eps, the lr schedule, the
clamp, early stopping) runs on kernel.FloatKernel, TfLlama.kernel in float32 fed exactly as
the W8A16 graph is, then ROME's rank-one update and the edit metrics follow as
in `edgesim edit`. A step costs a fraction of the quantized kernel's on LiteRT's reference
int16 kernels, so a setting can be tried on the whole edit set. The float kernel has no
quantization noise and no NPU cost: step counts follow the quantized kernel's where its noise
is small, so check a chosen setting with `edgesim edit --method mobiedit` (or the bench).

    python tools/tune_mobiedit.py [--model smollm2] [--dataset COUNTERFACT.json]
                                  [--records 0,1,4-9] [--set lr=1.0 --set lr=2,eps=0.05]
                                  [--out out/tune_mobiedit.json]

Each --set is one setting: comma-separated overrides of the model's [mobiedit] table (default:
the file's values alone). Prints one line per (record, setting) and the means per setting:
steps, early stops, ||delta|| / ||v_init||, CounterFact's scores, EasyEdit's accuracies and
the strict greedy figures (efficacy 1: the edit took); writes them as JSON to --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from edgesim.io import atomic_write
from npu_sim.editing import EDITORS, Editor, edit, load_hparams
from npu_sim.editing.bench import EDIT_SET, load_cases
from npu_sim.editing.kernel import FloatKernel
from npu_sim.editing.mobiedit import search
from npu_sim.editing.rome import objective_sequences
from npu_sim.llm import load_model
from npu_sim.llm.tf_model import TfLlama

SCORES = ("efficacy_score", "paraphrase_score", "neighborhood_score", "rewrite_acc",
          "rephrase_acc", "locality_acc", "efficacy", "generalization", "locality")


class FloatMobiEdit(Editor):
    """MobiEdit's search on the float kernel; its ledger holds the search's figures only."""

    name = "mobiedit-float"

    def optimise(self, model, tfm, req, hp, v_init, device, progress=None):
        zo = hp.mobiedit
        objective = objective_sequences(model, req, hp.context_templates, hp.kl_prompt)
        kernel = FloatKernel(model, tfm, hp.layer, objective.sequences,
                             2 * zo.directions + 1 if zo.batched else 1)
        found = search(kernel, objective, zo, v_init, progress)
        return found.delta, {"device": device, "steps": found.steps,
                             "early_stopped": found.stopped, "final_loss": found.final_loss}


def records(spec: str | None, n: int) -> list[int]:
    """Indices from "0,1,4-9" (default: every record)."""
    if not spec:
        return list(range(n))
    out = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    bad = [i for i in out if not 0 <= i < n]
    if bad:
        raise SystemExit(f"--records: {bad} not in 0..{n - 1}")
    return out


def _setting(hp, spec: str):
    """`hp` with the [mobiedit] overrides "key=value,..." (values parsed as the field's type)."""
    zo = hp.mobiedit
    changes = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        if not hasattr(zo, key):
            raise SystemExit(f"--set: [mobiedit] has no {key!r}")
        kind = type(getattr(zo, key))
        changes[key] = value.lower() in ("1", "true") if kind is bool else kind(value)
    return dataclasses.replace(hp, mobiedit=dataclasses.replace(zo, **changes))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2")
    p.add_argument("--dataset", default=str(EDIT_SET), help="a CounterFact-format edit set "
                   "(default: the project's)")
    p.add_argument("--records", help="record indices, e.g. 0,1,4-9 (default: all)")
    p.add_argument("--set", dest="settings", action="append", default=[],
                   help="[mobiedit] overrides, e.g. lr=2,eps=0.05 (repeatable)")
    p.add_argument("--out", default="out/tune_mobiedit.json")
    args = p.parse_args(argv)

    model = load_model(args.model)
    hp0 = load_hparams(Path(model.path).stem)
    tfm = TfLlama(model)
    EDITORS[FloatMobiEdit.name] = FloatMobiEdit()
    cases = load_cases(args.dataset)
    settings = {s: _setting(hp0, s) for s in (args.settings or [""])}
    baseline: dict = {}
    rows = []
    for i in records(args.records, len(cases)):
        for spec, hp in settings.items():
            t = time.perf_counter()
            r = edit(model, cases[i].request, FloatMobiEdit.name, hparams=hp,
                     device="float kernel", tfm=tfm, baseline=baseline)
            row = {"record": i, "setting": spec or "file", "steps": r.ledger["steps"],
                   "early_stopped": r.ledger["early_stopped"],
                   "delta_ratio": round(r.delta_norm / r.v_init_norm, 3),
                   **{k: r.metrics.get(k) for k in SCORES},
                   "wall_s": round(time.perf_counter() - t, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    means = {}
    for spec in settings:
        mine = [r for r in rows if r["setting"] == (spec or "file")]
        means[spec or "file"] = {k: float(np.mean([r[k] for r in mine if r[k] is not None]))
                                 for k in ("steps", "early_stopped", "delta_ratio", *SCORES,
                                           "wall_s")
                                 if any(r[k] is not None for r in mine)}
    print(json.dumps({"means": means}, indent=2))
    atomic_write(Path(args.out), json.dumps({"hparams": hp0.source, "rows": rows,
                                             "means": means}, indent=2).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
