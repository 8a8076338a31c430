"""`edgesim edit bench` on stories260K with a two-record CounterFact-format set: the edits
run as tasks of an in-process Ray, stream to a JSON-lines file, and a rerun resumes from it."""

import contextlib
import io
import json
import shutil

import pytest

from conftest import SHARED

STORIES = SHARED / "models" / "stories260K.gguf"
METHODS = ("mobiedit", "rome-bp")
RECORDS = [
    {"case_id": 10,
     "requested_rewrite": {"prompt": "Once upon a time, there was a little {} named",
                           "subject": "girl", "target_new": {"str": "Sue"},
                           "target_true": {"str": "Lily"}},
     "paraphrase_prompts": ["There was a girl named"],
     "neighborhood_prompts": ["One day, a boy named"]},
    {"case_id": 11,
     "requested_rewrite": {"prompt": "Once upon a time, there was a big {} named",
                           "subject": "dog", "target_new": {"str": "Max"},
                           "target_true": {"str": "Spot"}},
     "paraphrase_prompts": ["There was a dog named"],
     "neighborhood_prompts": ["One day, a cat named"]},
]


def _bench(folder, *extra):
    """`edgesim edit bench --json` on folder/set.json in this process: (exit status, summary
    or None, stderr)."""
    from edgesim.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["edit", "bench", "--model", str(STORIES), "--dataset",
                   str(folder / "set.json"), "--out", str(folder / "bench.json"), "--json",
                   *extra])
    return rc, json.loads(out.getvalue()) if rc == 0 else None, err.getvalue()


def _without_wall(summary):
    return {k: v for k, v in summary.items() if k != "wall_s"}    # this invocation's time


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """The bench run once on two Ray workers: its folder, results file and summary."""
    folder = tmp_path_factory.mktemp("bench")
    (folder / "set.json").write_text(json.dumps(RECORDS))
    rc, summary, err = _bench(folder, "--workers", "2")
    assert rc == 0, err
    return folder, (folder / "bench.jsonl").read_bytes(), summary


@pytest.fixture
def pending_runs(monkeypatch):
    """The (case key, method) pairs each Ray run of this test was given."""
    from npu_sim.editing import bench_runner

    calls = []
    run = bench_runner._run_on_ray

    def spy(pending, *args):
        calls.append([(c.key, m) for c, m in pending])
        return run(pending, *args)

    monkeypatch.setattr(bench_runner, "_run_on_ray", spy)
    return calls


def _copy(first_run, tmp_path):
    folder, jsonl, _ = first_run
    shutil.copy(folder / "set.json", tmp_path / "set.json")
    (tmp_path / "bench.jsonl").write_bytes(jsonl)
    return tmp_path


def test_each_edit_is_one_row_with_its_wall_time(first_run):
    folder, jsonl, summary = first_run
    rows = [json.loads(line) for line in jsonl.decode().splitlines()]
    assert sorted((r["case"], r["method"]) for r in rows) == \
        [(c, m) for c in (10, 11) for m in sorted(METHODS)]
    for r in rows:
        assert r["wall_s"] > 0 and r["success"] in (True, False) and r["ledger"]
        assert set(r["run"]) == {"model_sha256", "hparams_sha256"}
    assert summary["edits"] == 2
    for m in METHODS:
        assert summary["real"][m]["mean_wall_s"] == pytest.approx(
            sum(r["wall_s"] for r in rows if r["method"] == m) / 2)
    assert json.loads((folder / "bench.json").read_text())["runs"]["mobiedit"][0]["case"] == 10


def test_a_finished_bench_reruns_no_edit(first_run, tmp_path, pending_runs):
    folder = _copy(first_run, tmp_path)
    rc, summary, err = _bench(folder)
    assert rc == 0, err
    assert pending_runs == []                           # Ray was not even started
    assert (folder / "bench.jsonl").read_bytes() == first_run[1]
    assert _without_wall(summary) == _without_wall(first_run[2])


def test_the_text_summary_names_each_method_and_the_ratios(first_run, tmp_path, pending_runs):
    from edgesim.cli import main

    folder = _copy(first_run, tmp_path)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["edit", "bench", "--model", str(STORIES), "--dataset",
                   str(folder / "set.json"), "--out", str(folder / "bench.json")])
    text, summary = out.getvalue(), first_run[2]
    assert rc == 0 and pending_runs == [], err.getvalue()
    assert text.splitlines()[2].split() == ["MobiEdit", "ROME-BP"]
    assert f"ratios BP/MobiEdit: memory {summary['memory_ratio']:.2f}" in text
    assert "unlearning" not in text                     # the set has no unlearning request


def test_a_row_cut_short_by_a_kill_is_redone_alone(first_run, tmp_path, pending_runs):
    folder = _copy(first_run, tmp_path)
    lines = first_run[1].splitlines(keepends=True)
    last = json.loads(lines[-1])
    (folder / "bench.jsonl").write_bytes(b"".join(lines[:-1]) + lines[-1][:200])
    rc, summary, err = _bench(folder, "--workers", "1")
    assert rc == 0, err
    assert pending_runs == [[(last["case"], last["method"])]]
    assert "3 of 4 edits already done; running the other 1" in err
    data = (folder / "bench.jsonl").read_bytes()
    assert data.startswith(b"".join(lines[:-1]))        # the cut line is gone, the rest kept
    redone = json.loads(data.splitlines()[-1])
    assert len(data.splitlines()) == 4 and (redone["case"], redone["method"]) == \
        (last["case"], last["method"])
    assert summary["edits"] == 2


def test_finished_summarises_the_edits_done_with_both_methods_and_runs_none(
        first_run, tmp_path, pending_runs):
    folder = _copy(first_run, tmp_path)
    rows = [json.loads(line) for line in first_run[1].splitlines()]
    kept = [r for r in rows if not (r["case"] == 11 and r["method"] == "rome-bp")]
    partial = b"".join(json.dumps(r).encode() + b"\n" for r in kept)
    (folder / "bench.jsonl").write_bytes(partial)
    rc, summary, err = _bench(folder, "--finished")
    assert rc == 0 and pending_runs == [], err
    assert (folder / "bench.jsonl").read_bytes() == partial      # nothing run or appended
    assert summary["edits"] == 1                                   # case 11 lacks ROME-BP
    case10 = {r["method"]: r for r in rows if r["case"] == 10}
    for m in METHODS:
        assert summary["real"][m]["mean_wall_s"] == pytest.approx(case10[m]["wall_s"])
    (folder / "bench.jsonl").write_bytes(b"")
    rc, _, err = _bench(folder, "--finished")
    assert rc == 2 and "no edit of this set finished" in err and pending_runs == []


def test_results_of_another_model_file_are_refused(first_run, tmp_path, pending_runs):
    folder = _copy(first_run, tmp_path)
    rows = [json.loads(line) for line in first_run[1].splitlines()]
    rows[0]["run"]["model_sha256"] = "0" * 64
    (folder / "bench.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rc, _, err = _bench(folder)
    assert rc == 2 and "--results" in err and len(err.strip().splitlines()) == 1
    assert pending_runs == []


def test_other_hyperparameters_of_one_method_rerun_only_its_edits(first_run, tmp_path,
                                                                   pending_runs):
    from npu_sim.editing.hparams import HPARAMS_DIR

    folder = _copy(first_run, tmp_path)
    same = folder / "same.toml"
    same.write_text((HPARAMS_DIR / "stories260K.toml").read_text())
    rc, summary, err = _bench(folder, "--hparams", str(same))
    assert rc == 0 and pending_runs == [] and summary["hparams"] == str(same), err
    other = folder / "other.toml"
    other.write_text(same.read_text().replace("steps = 25", "steps = 20"))   # [rome_bp]
    rc, summary, err = _bench(folder, "--hparams", str(other), "--workers", "1")
    assert rc == 0 and "rows of other rome-bp hyperparameters are left aside" in err, err
    assert pending_runs == [[(10, "rome-bp"), (11, "rome-bp")]]
    data = (folder / "bench.jsonl").read_bytes()
    assert data.startswith(first_run[1]) and len(data.splitlines()) == 6   # old rows kept
    assert summary["real"]["mobiedit"] == first_run[2]["real"]["mobiedit"]
    rc, _, err = _bench(folder, "--hparams", str(other), "--unbatched", "--finished")
    assert rc == 2 and "left aside" in err and "run again" not in err    # [mobiedit] changed
    assert len(pending_runs) == 1


@pytest.mark.parametrize("text, why", [
    ('{"requested_rewrite": ', "not JSON"),
    ("{}", "non-empty JSON list"),
    ('[{"requested_rewrite": {"prompt": "a {}", "subject": "x"}, "paraphrase_prompts": [],'
     ' "neighborhood_prompts": []}]', "target_new.str` is missing"),
    ('[{"requested_rewrite": {"prompt": "a {}", "subject": "x", "target_new": {"str": "y"},'
     ' "target_true": {"str": "z"}}, "paraphrase_prompts": "a b",'
     ' "neighborhood_prompts": []}]', "not a list of strings"),
    (None, "no such edit set"),
])
def test_a_malformed_dataset_is_one_line_and_exit_2(tmp_path, text, why):
    if text is not None:
        (tmp_path / "set.json").write_text(text)
    rc, _, err = _bench(tmp_path)
    assert rc == 2 and why in err and len(err.strip().splitlines()) == 1, err


def test_read_results_skips_invalid_lines_and_a_cut_last_line(tmp_path):
    from npu_sim.editing.bench_runner import read_results

    row = {"case": 0, "method": "mobiedit", "record": "r", "run": {}}
    good = json.dumps(row).encode() + b"\n"
    path = tmp_path / "r.jsonl"
    path.write_bytes(good + b"not json\n" + good[:10])
    rows, end = read_results(path)
    assert rows == [row] and end == len(good) + len(b"not json\n")
    assert read_results(tmp_path / "none.jsonl") == ([], 0)


def test_an_unreachable_cluster_is_one_line(tmp_path):
    (tmp_path / "set.json").write_text(json.dumps(RECORDS))
    rc, _, err = _bench(tmp_path, "--address", "127.0.0.1:1")
    assert rc == 2 and "nothing answers" in err and len(err.strip().splitlines()) == 1, err
