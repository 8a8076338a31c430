"""The fuzz runner: seeded cases per input family, every entry point in a forked child with a
time and memory limit, outcomes counted and failing cases kept.

A family is tests/fuzz/<name>.py (or any .py file, for the harness's own tests) with NAME,
SUFFIX, seeds() -> [(label, bytes)], mutate(data, rng) -> bytes and ENTRY_POINTS
{name: fn(path) -> None | int}. An optional SLOW_ENTRY_POINTS (a set, or a dict name -> N)
runs those entry points on every Nth case only (a set: every `slow_every`th), rotated so that
two slow ones do not share their cases.

Case i of family F with seed S is deterministic: rng = random.Random(f"{F}:{S}:{i}") picks a
seed input and mutate(data, rng) edits it. The parent (`run`) keeps at most `jobs` worker
processes. A worker imports one family, warms up (`warm`), then per case writes the case file
and per entry point forks a child, which works in its own temp dir, caps its address space at
the worker's size + child.AS_HEADROOM, sends stdout to /dev/null and stderr to a file, runs the
entry point and writes what happened to result.json. The worker kills the child's process
group after `timeout` seconds and reads its peak RSS from wait4. Linux only.

Outcomes: accepted (None, or exit status 0/1), clean (an EdgesimError, or exit status 2 with
exactly one stderr line), internal (anything else raised or returned), crash (death by a
signal), hang (killed at the timeout), memory (MemoryError, an allocation failure, or a peak
RSS more than child.MEMORY_LIMIT above the child's start).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .child import run_child

FAMILIES = ("tflite", "gguf", "wav", "toml", "args")
OUTCOMES = ("clean", "accepted", "internal", "crash", "hang", "memory")
FAILURES = ("internal", "crash", "hang", "memory")
WARM_SECONDS = 3.0                     # per entry point, to find its lazy imports
WARM_TIMEOUT = 60.0                    # a first import of TensorFlow alone takes seconds
JOIN_MIN_CASES = 20                    # a second worker joins a family only for this many
FUZZ_DIR = Path(__file__).resolve().parent
ROOT = FUZZ_DIR.parents[1]
# One thread per child and few malloc arenas: RLIMIT_AS then bounds data, not reservations.
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "MALLOC_ARENA_MAX": "2", "PYTHONDONTWRITEBYTECODE": "1"}


def run(families=FAMILIES, cases: int = 60, seed: int = 0, jobs: int = 2,
        out: str | Path = "out/fuzz", timeout: float = 10.0, slow_every: int = 5,
        warm_up: bool = True, progress=None) -> dict:
    """Fuzz `families` (names in tests/fuzz, or .py paths) with `cases` cases each and return
    the report; failing cases go to `out`. `warm_up`: see `warm`. `progress(family, done,
    total)` runs per case."""
    before = _guarded_files()
    with tempfile.TemporaryDirectory(prefix="edgesim-fuzz-") as tmp:
        config = {"seed": seed, "timeout": timeout, "slow_every": slow_every,
                  "warm_up": warm_up, "out": str(Path(out).resolve())}
        state = _Run(families, cases, config, Path(tmp), progress)
        slots = [threading.Thread(target=state.slot, daemon=True) for _ in range(max(1, jobs))]
        for t in slots:
            t.start()
        for t in slots:
            t.join()
        report = state.report()
    changed = sorted({path for path, _ in set(before.items()) ^ set(_guarded_files().items())})
    report["wrote_outside"] = changed
    return report


#: Folders no case may write into (a case runs as the user, often root, so file modes alone
#: do not protect them): the shared data beside the repository and the project's sources.
GUARDED = ("../shared", "edgesim", "firmware_sim", "npu_sim", "speech_privacy", "tests",
           "tools")


def _guarded_files() -> dict[str, tuple[int, int]]:
    """path -> (size, mtime in ns) of every file under GUARDED, caches left out."""
    found = {}
    for name in GUARDED:
        for folder, dirs, files in os.walk(ROOT / name):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for f in files:
                path = os.path.join(folder, f)
                with contextlib.suppress(OSError):
                    st = os.stat(path)
                    found[path] = (st.st_size, st.st_mtime_ns)
    return found


def failures(report: dict) -> list[str]:
    """One line per failing run or broken family of `report`, naming the finding file."""
    lines = [f"a case wrote outside its folder: {path}"
             for path in report.get("wrote_outside", [])]
    for name, fam in report["families"].items():
        lines += [f"{name}: {e}" for e in fam["errors"]]
        lines += [f"{name} case {f['case']} {f['entry']}: {f['outcome']} {f['detail']}"
                  f" -> {f['path']}" for f in fam["findings"]]
    return lines


class _Run:
    """The parent's shared state: the cases left per family, and what came back."""

    def __init__(self, specs, cases, config, tmp, progress):
        self.cases, self.config, self.tmp, self.progress = cases, config, tmp, progress
        self.lock = threading.Lock()
        self.fams = {}
        for spec in map(str, specs):
            path = Path(spec) if spec.endswith(".py") else FUZZ_DIR / f"{spec}.py"
            note = "" if path.exists() else f"skipped: {path.name} does not exist (yet)"
            self.fams[path.stem] = {"spec": spec, "next": cases if note else 0, "done": 0,
                                    "workers": 0, "started": None, "ended": None,
                                    "note": note, "entries": {}, "findings": [],
                                    "errors": [], "warnings": []}

    def slot(self):
        """One worker at a time: drain a family's cases, then move on to another family."""
        while (name := self._pick()) is not None:
            fam, worker, restarts = self.fams[name], None, 0
            try:
                while (i := self._take(name)) is not None:
                    try:
                        if worker is None:
                            worker = _Worker(fam["spec"], self.config, self.tmp)
                            self._note(fam["warnings"], worker.warning)
                        self._record(name, i, worker.case(i))
                    except _WorkerError as exc:
                        worker, restarts = None, restarts + 1
                        self._note(fam["errors"], str(exc) if exc.fatal else f"case {i}: {exc}")
                        if exc.fatal or restarts > 2:
                            with self.lock:
                                fam["next"] = self.cases     # give up on this family
            finally:
                if worker:
                    worker.close()
                with self.lock:
                    fam["workers"] -= 1

    def _pick(self):
        with self.lock:
            left = {n: self.cases - f["next"] for n, f in self.fams.items()
                    if f["next"] < self.cases}
            fresh = [n for n in left if self.fams[n]["workers"] == 0]
            busy = [n for n in left if left[n] >= JOIN_MIN_CASES]   # worth a second import
            name = fresh[0] if fresh else max(busy, key=left.get, default=None)
            if name is not None:
                self.fams[name]["workers"] += 1
                self.fams[name]["started"] = self.fams[name]["started"] or time.monotonic()
            return name

    def _take(self, name):
        with self.lock:
            fam = self.fams[name]
            if fam["next"] >= self.cases:
                return None
            fam["next"] += 1
            return fam["next"] - 1

    def _note(self, where: list, message: str | None):
        with self.lock:
            if message and message not in where:
                where.append(message)

    def _record(self, name, i, reply):
        with self.lock:
            fam = self.fams[name]
            fam["done"] += 1
            fam["ended"] = time.monotonic()
            if reply.get("error"):
                fam["errors"].append(f"case {i}: {reply['error']}")
            for r in reply["runs"]:
                e = fam["entries"].setdefault(r["entry"], dict.fromkeys(
                    ("tried", *OUTCOMES), 0) | {"seconds": 0.0, "max_rss_growth_mb": 0.0})
                e["tried"] += 1
                e[r["outcome"]] += 1
                e["seconds"] = round(e["seconds"] + r["seconds"], 3)
                e["max_rss_growth_mb"] = max(e["max_rss_growth_mb"], r["rss_growth_mb"])
                if "path" in r:
                    fam["findings"].append({"case": i, **r})
            done = fam["done"]
        if self.progress:
            self.progress(name, done, self.cases)

    def report(self) -> dict:
        fams = {}
        for name, f in self.fams.items():
            wall = (f["ended"] or f["started"] or 0) - (f["started"] or 0)
            fams[name] = {"note": f["note"], "cases": f["done"], "wall_s": round(wall, 2),
                          **{k: f[k] for k in ("entries", "findings", "errors", "warnings")}}
        return {"cases": self.cases, **self.config, "families": fams}


class _WorkerError(Exception):
    def __init__(self, message, fatal=False):
        super().__init__(message)
        self.fatal = fatal


class _Worker:
    """A warm worker process for one family, spoken to in JSON lines over its stdin/stdout;
    its stderr goes to a log whose tail explains a worker that died."""

    _ids = itertools.count(1)

    def __init__(self, spec, config, tmp):
        home = tmp / f"worker{next(self._ids)}"
        (home / "cwd").mkdir(parents=True)
        self.log = home / "worker.log"
        env = os.environ | WORKER_ENV | {"EDGESIM_CACHE": str(tmp / "cache"),
                                          "TMPDIR": str(home / "cwd")}
        code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                "from tests.fuzz.harness import worker_main; worker_main()")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, json.dumps({**config, "spec": spec,
                                                         "home": str(home)})],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, cwd=home / "cwd",
                env=env, text=True)
        hello = self._read()
        if "error" in hello:
            self.close()
            raise _WorkerError(hello["error"], fatal=True)
        self.warning = hello.get("warning")

    def case(self, i: int) -> dict:
        try:
            self.proc.stdin.write(json.dumps({"case": i}) + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass                                  # it died: _read says how
        return self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            tail = self.log.read_text(errors="replace")[-1500:].strip()
            raise _WorkerError(f"worker exited with status {self.proc.returncode}: {tail}")
        return json.loads(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def load_family(spec: str):
    """The family module: tests.fuzz.<spec>, or the .py file `spec`."""
    if not spec.endswith(".py"):
        return importlib.import_module(f"tests.fuzz.{spec}")
    name = f"fuzz_family_{Path(spec).stem}"
    loader = importlib.util.spec_from_file_location(name, spec)
    module = importlib.util.module_from_spec(loader)
    sys.modules[name] = module
    loader.loader.exec_module(module)
    return module


def worker_main():
    """The worker process: import the family, then answer {"case": i} lines until EOF."""
    cfg = json.loads(sys.argv[1])
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)                        # stray prints go to the worker log, not the protocol
    try:
        fam = load_family(cfg["spec"])
        seeds, entries = list(fam.seeds()), list(fam.ENTRY_POINTS)
        if not seeds or not entries:
            raise ValueError("the family has no seeds or no entry points")
        every = _every(fam, cfg["slow_every"])
    except Exception as exc:
        proto.write(json.dumps({"error": f"cannot load family {cfg['spec']}: "
                                f"{type(exc).__name__}: {exc}"}) + "\n")
        return
    home = Path(cfg["home"])
    if cfg["warm_up"]:
        warm(fam, seeds, entries, home)
    threads = len(os.listdir("/proc/self/task"))
    # A thread holding a lock at fork() can leave a child waiting forever: a false hang.
    warning = (f"the worker runs {threads} threads after importing the family; its children "
               "may deadlock" if threads > 1 else None)
    proto.write(json.dumps({"ready": True, "warning": warning}) + "\n")
    for line in sys.stdin:
        i = json.loads(line)["case"]
        reply = {"case": i, "runs": []}
        try:
            rng = random.Random(f"{fam.NAME}:{cfg['seed']}:{i}")
            label, data = rng.choice(seeds)
            data = bytes(fam.mutate(data, rng))
        except Exception as exc:
            reply["error"] = f"mutate failed: {type(exc).__name__}: {exc}"
            proto.write(json.dumps(reply) + "\n")
            continue
        case_file = home / f"case{fam.SUFFIX}"
        case_file.write_bytes(data)
        for position, entry in enumerate(entries):
            n = every[entry]
            if i % n != position % n:
                continue
            r = run_child(fam.ENTRY_POINTS[entry], case_file, home / "run", cfg["timeout"])
            r = {"entry": entry, "seed_label": label, **r}
            if r["outcome"] in FAILURES:
                r["path"] = _keep(fam, cfg, i, case_file, r)
            for bulky in ("traceback", "stderr_tail"):
                del r[bulky]
            reply["runs"].append(r)
        proto.write(json.dumps(reply) + "\n")


def warm(fam, seeds, entries, home: Path) -> None:
    """Import what the entry points import lazily, so that no child pays for it (TensorFlow
    alone adds seconds and a GiB of address space): per entry point, a child without the
    memory cap runs it on the seeds (for about WARM_SECONDS) and lists its new modules and
    the environment variables it set (e.g. TensorFlow's log level, read at import). Running
    them here instead could leave threads behind, which forked children lack."""
    files = []
    for k, (_, data) in enumerate(seeds):
        files.append(home / f"seed{k}{fam.SUFFIX}")
        files[-1].write_bytes(data)
    listing = home / "warm.json"
    for entry in entries:
        def probe(_, run=fam.ENTRY_POINTS[entry]):
            modules, env, start = set(sys.modules), dict(os.environ), time.monotonic()
            for path in files:
                try:
                    run(path)
                except BaseException:
                    pass
                listing.write_text(json.dumps({
                    "modules": [m for m in sys.modules if m not in modules],
                    "env": {k: v for k, v in os.environ.items() if env.get(k) != v}}))
                if time.monotonic() - start > WARM_SECONDS:
                    break

        listing.unlink(missing_ok=True)
        run_child(probe, files[0], home / "run", WARM_TIMEOUT, cap=False)
        found = json.loads(listing.read_text()) if listing.exists() else {}
        os.environ.update(found.get("env", {}))
        for name in found.get("modules", []):
            try:
                importlib.import_module(name)
            except Exception:
                pass                     # a module made at run time, not importable by name


def _every(fam, slow_every: int) -> dict[str, int]:
    slow = getattr(fam, "SLOW_ENTRY_POINTS", None) or {}
    if not isinstance(slow, dict):
        slow = dict.fromkeys(slow, slow_every)
    unknown = set(slow) - set(fam.ENTRY_POINTS)
    if unknown:
        raise ValueError(f"SLOW_ENTRY_POINTS names unknown entry points {sorted(unknown)}")
    return {e: max(1, int(slow.get(e, 1))) for e in fam.ENTRY_POINTS}


def _keep(fam, cfg, i, case_file, r) -> str:
    """Copy the case file and write a finding JSON into the findings folder; returns its path."""
    out = Path(cfg["out"]) / fam.NAME
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{fam.NAME}-{cfg['seed']}-{i:06d}"
    kept = out / f"{stem}.case{fam.SUFFIX}"
    shutil.copyfile(case_file, kept)
    path = out / f"{stem}-{r['entry']}.json"
    finding = {"family": fam.NAME, "spec": cfg["spec"], "seed": cfg["seed"], "case": i,
               "case_file": str(kept), **r,
               "reproduce": f"python tools/fuzz.py --replay {path}"}
    path.write_text(json.dumps(finding, indent=2) + "\n")
    return str(path)
