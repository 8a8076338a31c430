"""Run the edit bench's edits as Ray tasks, one task per (case, method), and stream each
result to a JSON-lines file as it finishes, so that an interrupted bench resumes where it
stopped.

Ray: a local instance started in this process (one CPU per worker, no dashboard, its log
lines kept off the terminal unless `edgesim -v`), or an existing cluster joined at `address`
(its nodes need edgesim and the model installed). Each worker is an actor that loads the model
and its TfLlama once, keeps its own unedited-model baseline and runs TensorFlow on one thread,
so that N workers keep N cores busy and no more.

Results file: one JSON object per line, EditResult.to_dict() plus `case` (the record's key,
bench.Case), `record` (the record's digest), `wall_s` (seconds the edit took in its worker)
and `run` (sha256 of the model file and of the hyperparameters the row's method reads: the
shared ones and its own table). Each row is flushed and fsync'd as it arrives. A rerun skips
every (case, method) with a row for the same record digest and run; a last line cut short by
a kill is dropped and cut off the file before new rows are appended. A method's rows of other
hyperparameters are left in the file, unused, and its edits run again, so that retuning one
method does not rerun the other's edits. A file of another model is refused (one line naming
it): such a bench needs a new --results file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

from edgesim.errors import EdgesimError

# Ray's shared-memory object store: the results are small dicts, and the bench may share
# the machine, so it asks for little more than Ray's minimum.
OBJECT_STORE_BYTES = 128 * 2**20
CONNECT_TIMEOUT_S = 5.0       # for the head node of a --address cluster to answer


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# each method's own table in HParams; the other table is never read by its edits
METHOD_TABLES = {"mobiedit": "mobiedit", "rome-bp": "rome_bp"}


def run_key(model_sha256: str, hp, method: str) -> dict:
    """What a `method` row depends on besides its record: the model file's bytes and the
    hyperparameters that method reads, in effect (file values and overrides such as
    --unbatched alike): the shared ones and its own table."""
    skip = {"source"} | {t for m, t in METHOD_TABLES.items() if m != method}
    params = {k: v for k, v in dataclasses.asdict(hp).items() if k not in skip}
    return {"model_sha256": model_sha256,
            "hparams_sha256": hashlib.sha256(json.dumps(params, sort_keys=True)
                                             .encode()).hexdigest()}


def read_results(path: Path) -> tuple[list[dict], int]:
    """The rows of a results file and the length in bytes of its complete lines (a last line
    without its newline was cut short by a kill and is left out); lines that are not a row
    are skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    except OSError as exc:
        raise EdgesimError(f"{path}: cannot read the results file: "
                           f"{exc.strerror or exc}") from None
    end = data.rfind(b"\n") + 1
    rows = []
    for line in data[:end].splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and {"case", "method", "record", "run"} <= row.keys() \
                and isinstance(row["run"], dict):
            rows.append(row)
    if end and not rows:
        raise EdgesimError(f"{path} is not a bench results file (no row in it); give "
                           "another --results file")
    return rows, end


class EditWorker:
    """A Ray actor: one model, its TfLlama and its unedited-model baseline, for many edits."""

    def __init__(self, model_name: str, hp):
        from edgesim.logs import import_tensorflow
        from npu_sim.llm import load_model
        from npu_sim.llm.tf_model import TfLlama

        tf = import_tensorflow()
        tf.config.threading.set_intra_op_parallelism_threads(1)   # the actor's one CPU
        tf.config.threading.set_inter_op_parallelism_threads(1)
        self.model = load_model(model_name)
        self.tfm = TfLlama(self.model)
        self.hp = hp
        self.baseline: dict = {}

    def ready(self) -> bool:
        """True once the actor is up (a failed start raises in the caller's ray.get)."""
        return True

    def run(self, case, method: str) -> dict:
        """One row: `case` (bench.Case) edited with `method`."""
        from npu_sim.editing import edit

        t = time.perf_counter()
        r = edit(self.model, case.request, method, hparams=self.hp, tfm=self.tfm,
                 baseline=self.baseline)
        return {"case": case.key, **r.to_dict(), "wall_s": round(time.perf_counter() - t, 3),
                "record": case.digest}


def run_edits(cases: list, methods: tuple[str, ...], model, hp, path: Path,
              workers: int | None = None, address: str | None = None, progress: bool = True,
              log=None, run: bool = True) -> dict:
    """Every (case, method) row of `cases` (bench.Case) edited with `hp` on `model` (a
    LlamaModel): those `path` already holds for the same record, model and hyperparameters,
    and (unless `run` is false) the missing ones, run on Ray (`workers` actors, default one
    per CPU; `address`: join that cluster) and appended to `path` as each finishes. Keyed
    (case key, method). Notices and progress go to `log` (default: sys.stderr as it is at
    the call)."""
    log = log or sys.stderr
    model_sha = file_sha256(model.path)
    keys = {m: run_key(model_sha, hp, m) for m in methods}
    rows, end = read_results(path)
    if any(r["run"].get("model_sha256") != model_sha for r in rows):
        raise EdgesimError(f"{path} holds results of another model file; give a new "
                           "--results file to start afresh")
    digests = {c.key: c.digest for c in cases}
    done = {(r["case"], r["method"]): r for r in rows
            if digests.get(r["case"]) == r["record"] and keys.get(r["method"]) == r["run"]}
    stale = sorted({r["method"] for r in rows if r["method"] in keys
                    and r["run"] != keys[r["method"]]})
    if stale:
        print(f"{path}: rows of other {', '.join(stale)} hyperparameters are left aside"
              + ("; those edits run again" if run else ""), file=log)
    pending = [(c, m) for c in cases for m in methods if (c.key, m) not in done]
    if not pending or not run:
        return done
    if done:
        print(f"{path}: {len(done)} of {len(done) + len(pending)} edits already done; "
              f"running the other {len(pending)}", file=log)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as out:
        out.truncate(end)

        def record(row: dict) -> None:
            row["run"] = keys[row["method"]]
            out.write(json.dumps(row).encode() + b"\n")
            out.flush()
            os.fsync(out.fileno())
            done[row["case"], row["method"]] = row

        _run_on_ray(pending, str(model.path), hp, workers, address, progress, log, record)
    return done


def _run_on_ray(pending: list, model_name: str, hp, workers: int | None, address: str | None,
                progress: bool, log, record) -> None:
    """Run the `pending` (case, method) pairs on Ray, handing each row to `record` as it
    finishes, under a progress bar of edits done and the time left; Ray is shut down on the
    way out, Ctrl-C included. An edit's own error is raised here as it was in the worker."""
    import ray
    from ray.util import ActorPool
    from tqdm import tqdm

    _start_ray(workers, address)
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))    # more actors would never start
        n = max(1, min(workers or cpus, cpus, len(pending)))
        actor = ray.remote(num_cpus=1)(EditWorker)
        actors = [actor.remote(model_name, hp) for _ in range(n)]
        try:
            ray.get([a.ready.remote() for a in actors])
        except ray.exceptions.RayActorError as exc:
            raise EdgesimError(f"a Ray worker could not start (every node needs edgesim and "
                               f"the model): {_last_line(exc)}") from None
        pool = ActorPool(actors)
        rows = pool.map_unordered(lambda a, job: a.run.remote(*job), pending)
        with tqdm(total=len(pending), unit="edit", desc=f"edit bench, {n} workers",
                  file=log, disable=not progress) as bar:
            for row in rows:
                record(row)
                bar.update()
                tqdm.write(f"{row['method']:8s} case {row['case']!r}: {row['subject']!r} -> "
                           f"{row['target']!r} success={int(row['success'])} "
                           f"steps={row['steps']} ({row['wall_s']:.1f} s)", file=log)
    except ray.exceptions.RayTaskError as exc:
        raise exc.cause from exc
    finally:
        ray.shutdown()


def _start_ray(workers: int | None, address: str | None) -> None:
    """Join the cluster at `address`, or start a local Ray in this process with `workers`
    CPUs (default: this machine's); quietly unless `edgesim -v`."""
    import ray

    from edgesim.logs import quiet, verbose

    options = {"log_to_driver": verbose(),
               "logging_level": logging.INFO if verbose() else logging.ERROR}
    if address:
        _check_reachable(address)
        options["address"] = address
    else:       # "local": a new instance even where `ray start` left a cluster to join
        options.update(address="local", num_cpus=workers or os.cpu_count(),
                       include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES)
    try:
        with quiet():
            ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        if not address:
            raise
        raise EdgesimError(f"cannot join the Ray cluster at {address}: "
                           f"{_last_line(exc.__cause__ or exc)}") from None


def _last_line(exc: BaseException) -> str:
    """The last line of a Ray error, which holds the remote cause (its traceback comes
    before)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _check_reachable(address: str) -> None:
    """Refuse a `host:port` (or `ray://host:port`) address nothing answers at: Ray itself
    keeps retrying such an address. Other forms ("auto") are left to Ray."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise EdgesimError(f"cannot join the Ray cluster at {address}: nothing answers there "
                           f"({exc.strerror or exc})") from None
