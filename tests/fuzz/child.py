"""One run of one entry point on one case file, in a forked child with a time and memory
limit, and the outcome it counts as (see harness.py for the outcomes)."""

from __future__ import annotations

import json
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from edgesim.errors import EdgesimError

MEMORY_LIMIT = 2**30                   # peak RSS growth that counts as a memory failure
AS_HEADROOM = int(1.2 * 2**30)         # address space a child may add: runaways fail fast
_OOM_WORDS = ("bad_alloc", "memoryerror", "cannot allocate memory", "out of memory",
              "pthread_create")     # a thread's stack did not fit under RLIMIT_AS


def run_child(entry, case_file: Path, cwd: Path, timeout: float, cap: bool = True) -> dict:
    """Run entry(case_file) in a forked child in the fresh folder `cwd` (with `cap`, under
    RLIMIT_AS); returns the outcome, a detail, seconds, peak RSS growth (MiB), the traceback
    and the stderr tail."""
    shutil.rmtree(cwd, ignore_errors=True)
    cwd.mkdir(parents=True)
    result, errfile = cwd / "result.json", cwd / "stderr.txt"
    rss, size = _status_kb("VmRSS"), _status_kb("VmSize")
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        limit = size * 1024 + AS_HEADROOM if cap else None
        _child(entry, case_file, cwd, result, errfile, limit)
    try:
        os.setpgid(pid, pid)                      # the child does so too; whoever is first
    except OSError:
        pass
    timed_out, status, usage = _wait(pid, timeout)
    seconds = time.monotonic() - start
    stderr = errfile.read_text(errors="replace") if errfile.exists() else ""
    raw = json.loads(result.read_text()) if result.exists() and result.stat().st_size else None
    # Measured from the child's own start: fork() does not count the worker's file pages.
    growth = max(0, usage.ru_maxrss - (raw or {}).get("rss_kb", rss)) / 1024
    outcome, detail = classify(raw, stderr, status, timed_out, timeout, growth)
    return {"outcome": outcome, "detail": detail, "seconds": round(seconds, 3),
            "rss_growth_mb": round(growth, 1),
            "traceback": (raw or {}).get("traceback", ""), "stderr_tail": stderr[-2000:]}


def _child(entry, case_file, cwd, result, errfile, as_limit):
    """The forked child: run the entry point, write result.json, never return."""
    raw, rss = None, _status_kb("VmRSS")
    try:
        os.setpgid(0, 0)
        os.chdir(cwd)
        os.environ["TMPDIR"] = tempfile.tempdir = str(cwd)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(os.open(errfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if as_limit:
            resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
        try:
            value = entry(case_file)
        except SystemExit as exc:             # argparse and friends: an exit status
            value = 0 if exc.code is None else exc.code
        if value is not None and not isinstance(value, int):
            value = None                      # an API call that returns its result
        raw = {"kind": "returned", "value": value, "rss_kb": rss}
    except MemoryError as exc:
        raw = {"kind": "memory", "message": str(exc) or "(no message)", "rss_kb": rss}
    except BaseException as exc:
        raw = {"kind": "raised", "clean": isinstance(exc, EdgesimError),
               "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
               "message": " ".join(str(exc).split())[:500],
               "traceback": traceback.format_exc()[-4000:], "rss_kb": rss}
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            result.write_text(json.dumps(raw))
        except BaseException:
            os._exit(99)
        os._exit(0)


def classify(raw, stderr: str, status: int, timed_out: bool, timeout: float,
             growth_mb: float) -> tuple[str, str]:
    """The outcome and a one-line detail of one child run."""
    if timed_out:
        return "hang", f"killed after {timeout:g} s"
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        if any(w in stderr.lower() for w in _OOM_WORDS):
            return "memory", f"{name} after an allocation failure"
        return "crash", f"killed by {name}"
    if raw is None:
        return "internal", f"exited with status {os.waitstatus_to_exitcode(status)} and no result"
    if raw["kind"] == "memory":
        return "memory", f"MemoryError: {raw['message']}"
    if growth_mb * 2**20 > MEMORY_LIMIT:
        return "memory", f"peak RSS {growth_mb:,.0f} MiB above the child's start"
    if raw["kind"] == "raised":
        return ("clean" if raw["clean"] else "internal"), f"{raw['type']}: {raw['message']}"
    value, lines = raw["value"], stderr.splitlines()
    if value is None or value in (0, 1):
        return "accepted", "" if value is None else f"exit status {value}"
    if value == 2 and len(lines) == 1:
        return "clean", f"exit status 2: {lines[0][:300]}"
    if value == 2:
        return "internal", f"exit status 2 with {len(lines)} lines on stderr"
    return "internal", f"exit status {value}: {lines[-1][:300] if lines else ''}"


def _wait(pid: int, timeout: float):
    """Wait for `pid` at most `timeout` s, then SIGKILL its process group (also whatever it
    left running); returns (timed_out, wait status, rusage)."""
    fd = os.pidfd_open(pid)
    try:
        timed_out = not select.select([fd], [], [], timeout)[0]
    finally:
        os.close(fd)
    try:
        os.killpg(pid, signal.SIGKILL)            # before reaping: the group id stays ours
    except OSError:
        pass
    _, status, usage = os.wait4(pid, 0)
    return timed_out, status, usage


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0
