"""Where each method's edits sit on the paraphrase-neighbourhood trade-off of a rank-one
update: the delta (v* - v) each method finds, scored again at other norms.

Per record, ROME-BP's delta (backpropagation on the float model) and MobiEdit's (its own
zeroth-order loop on the editing kernel's float twin, as tools/tune_mobiedit.py runs it) are
found once. The edit is then made and scored with ROME-BP's delta clamped afterwards to
c x ||v_init|| for each --clamps c, and with MobiEdit's scaled by each --scales s. A larger
update carries the new fact to more paraphrases and to more neighbours alike; comparing the two
methods at equal norms separates the direction each finds from how far each goes. Prints the
means of CounterFact's scores and EasyEdit's accuracies per setting, over all records and per
prompt template, and writes the rows and means as JSON to --out.

    python tools/edit_tradeoff.py [--model smollm2] [--dataset COUNTERFACT.json]
                                  [--records 0-3,40-43] [--clamps 4,3,2.5,2]
                                  [--scales 1,1.25,1.5] [--out out/edit_tradeoff.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from tune_mobiedit import FloatMobiEdit, records   # tools/ is this script's folder

from edgesim.io import atomic_write
from npu_sim.editing import EDITORS, Editor, edit, load_hparams
from npu_sim.editing.bench import EDIT_SET, load_cases
from npu_sim.llm import load_model
from npu_sim.llm.tf_model import TfLlama

SCORES = ("efficacy_score", "paraphrase_score", "neighborhood_score", "rewrite_acc",
          "rephrase_acc", "locality_acc")


class Rescaled(Editor):
    """Another editor's delta, found once per prompt, passed through `self.rescale`."""

    def __init__(self, inner: Editor):
        self.inner, self.name = inner, "rescaled-" + inner.name
        self.found: dict = {}
        self.rescale = None        # (delta, v_init) -> delta

    def optimise(self, model, tfm, req, hp, v_init, device, progress=None):
        if req.prompt not in self.found:
            self.found = {req.prompt: self.inner.optimise(model, tfm, req, hp, v_init, device)}
        delta, ledger = self.found[req.prompt]
        return self.rescale(delta, v_init), ledger


def _clamp(c: float):
    return lambda d, v: d * min(1.0, c * np.linalg.norm(v) / np.linalg.norm(d))


def _scale(s: float):
    return lambda d, v: d * s


def _means(rows: list[dict]) -> dict:
    by = defaultdict(list)
    for r in rows:
        by[r["setting"]].append(r)
    return {k: {"records": len(v), "norm_ratio": float(np.mean([r["norm_ratio"] for r in v])),
                **{s: float(np.mean([r[s] for r in v])) for s in SCORES}}
            for k, v in by.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2")
    p.add_argument("--dataset", default=str(EDIT_SET))
    p.add_argument("--records", help="record indices, e.g. 0-3,40-43 (default: all)")
    p.add_argument("--clamps", default="4,3,2.5,2", help="ROME-BP: c in c x ||v_init||")
    p.add_argument("--scales", default="1,1.25,1.5", help="MobiEdit: factors on its delta")
    p.add_argument("--out", default="out/edit_tradeoff.json")
    args = p.parse_args(argv)

    model = load_model(args.model)
    hp = load_hparams(Path(model.path).stem)
    tfm = TfLlama(model)
    bp, zo = Rescaled(EDITORS["rome-bp"]), Rescaled(FloatMobiEdit())
    EDITORS.update({bp.name: bp, zo.name: zo})
    plan = [(bp, f"rome-bp clamp {c}", _clamp(float(c)), "sd8gen3_cpu")
            for c in args.clamps.split(",")]
    plan += [(zo, f"mobiedit x{s}", _scale(float(s)), "float kernel")
             for s in args.scales.split(",")]
    cases = load_cases(args.dataset)
    templates = [r["requested_rewrite"]["prompt"]
                 for r in json.loads(Path(args.dataset).read_text(encoding="utf-8"))]
    baseline: dict = {}
    rows = []
    for i in records(args.records, len(cases)):
        if cases[i].request.kind != "edit":
            continue
        for editor, setting, rescale, device in plan:
            editor.rescale = rescale
            r = edit(model, cases[i].request, editor.name, hparams=hp, device=device, tfm=tfm,
                     baseline=baseline)
            row = {"record": i, "template": templates[i], "setting": setting,
                   "norm_ratio": r.delta_norm / r.v_init_norm,
                   **{s: r.metrics[s] for s in SCORES}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    groups = {"all": _means(rows)}
    for t in dict.fromkeys(r["template"] for r in rows):
        groups[t] = _means([r for r in rows if r["template"] == t])
    for name, means in groups.items():
        print(f"\n{name} ({next(iter(means.values()))['records']} records)")
        print(f"  {'setting':20s} {'norm':>5s} " + " ".join(f"{s[:12]:>12s}" for s in SCORES))
        for setting, m in means.items():
            print(f"  {setting:20s} {m['norm_ratio']:5.2f} "
                  + " ".join(f"{m[s]:12.2f}" for s in SCORES))
    atomic_write(Path(args.out), json.dumps({"hparams": hp.source, "rows": rows,
                                             "means": groups}, indent=2).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
