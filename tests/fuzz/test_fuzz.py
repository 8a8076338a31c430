"""The fuzz suite in pytest: a short run per family by default, 5,000 cases per family under
`-m slow`, and self-tests that the harness tells the outcomes apart."""

from __future__ import annotations

import importlib.util
import json
import random
import textwrap

import pytest

from . import harness

DEFAULT_CASES = 60      # per family: keeps the default run of all families within CI's minutes
SLOW_CASES = 5000


def _fuzz(family, cases, out):
    if not (harness.FUZZ_DIR / f"{family}.py").exists():
        pytest.skip(f"tests/fuzz/{family}.py does not exist yet")
    report = harness.run([family], cases=cases, jobs=2, out=out)
    failed = harness.failures(report)
    assert not failed, (f"{len(failed)} failing run(s); reproduce one with `python "
                        "tools/fuzz.py --replay FINDING.json`:\n" + "\n".join(failed[:30]))
    assert report["families"][family]["cases"] == cases


@pytest.mark.parametrize("family", harness.FAMILIES)
def test_fuzz(family, tmp_path):
    _fuzz(family, DEFAULT_CASES, tmp_path / "findings")


@pytest.mark.slow
@pytest.mark.parametrize("family", harness.FAMILIES)
def test_fuzz_many(family, tmp_path):
    _fuzz(family, SLOW_CASES, tmp_path / "findings")


FAKE = '''
import os, signal, sys, time
from edgesim.errors import EdgesimError

NAME, SUFFIX = "fake", ".bin"
SLOW_ENTRY_POINTS = {"hang": 2}

def seeds():
    return [("a", b"abc"), ("b", b"xyz")]

def mutate(data, rng):
    return data + bytes([rng.randrange(256)])

def segv(path): os.kill(os.getpid(), signal.SIGSEGV)
def hang(path): time.sleep(60)
def alloc(path): return len(bytearray(2 * 2**30))
def rss(path): return len(b"\\x01" * int(1.05 * 2**30))
def keyerror(path): raise KeyError(path.name)
def refuse(path): raise EdgesimError(f"{path}: bad")
def two_lines(path):
    print("edgesim: error: one", file=sys.stderr)
    print("two", file=sys.stderr)
    return 2
def one_line(path):
    print("edgesim: error: one", file=sys.stderr)
    return 2
def status3(path): return 3
def fits(path): return 1
def api(path): print("some output"); return None

ENTRY_POINTS = {f.__name__: f for f in (segv, hang, alloc, rss, keyerror, refuse, two_lines,
                                        one_line, status3, fits, api)}
'''

EXPECTED = {"segv": "crash", "hang": "hang", "alloc": "memory", "rss": "memory",
            "keyerror": "internal", "refuse": "clean", "two_lines": "internal",
            "one_line": "clean", "status3": "internal", "fits": "accepted", "api": "accepted"}


def test_harness_classifies_outcomes(tmp_path):
    fake = tmp_path / "fake.py"
    fake.write_text(textwrap.dedent(FAKE))
    out = tmp_path / "findings"
    report = harness.run([str(fake), "no_such_family"], cases=2, jobs=2, out=out, timeout=4,
                         warm_up=False)     # warming up would run the segfault and the hang
    assert report["families"]["no_such_family"]["note"].startswith("skipped")
    fam = report["families"]["fake"]
    assert fam["errors"] == [] and fam["cases"] == 2
    got = {entry: [o for o in harness.OUTCOMES if e[o]] for entry, e in fam["entries"].items()}
    assert got == {entry: [outcome] for entry, outcome in EXPECTED.items()}
    # The slow entry point ran on every second case only; the others on both.
    assert {e: v["tried"] for e, v in fam["entries"].items()} == {
        e: 1 if e == "hang" else 2 for e in EXPECTED}
    assert "peak RSS" in next(f["detail"] for f in fam["findings"] if f["entry"] == "rss")
    assert "SIGSEGV" in next(f["detail"] for f in fam["findings"] if f["entry"] == "segv")

    # A finding names its case; the kept case is the one (family, seed, index) determines.
    finding = json.loads((out / "fake" / "fake-0-000001-keyerror.json").read_text())
    assert finding["outcome"] == "internal" and "KeyError" in finding["detail"]
    assert "KeyError" in finding["traceback"] and "--replay" in finding["reproduce"]
    rng = random.Random("fake:0:1")
    label, data = rng.choice([("a", b"abc"), ("b", b"xyz")])
    expected = data + bytes([rng.randrange(256)])
    assert (out / "fake" / "fake-0-000001.case.bin").read_bytes() == expected
    assert finding["seed_label"] == label
    two = json.loads((out / "fake" / "fake-0-000000-two_lines.json").read_text())
    assert two["stderr_tail"].splitlines() == ["edgesim: error: one", "two"]


def test_broken_family_is_reported(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_anywhere\n")
    report = harness.run([str(broken)], cases=3, jobs=1, out=tmp_path / "findings")
    errors = report["families"]["broken"]["errors"]
    assert len(errors) == 1 and "ModuleNotFoundError" in errors[0]
    assert harness.failures(report)


def test_tools_fuzz_replays_a_finding(tmp_path, capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location("edgesim_tool_fuzz",
                                                  harness.ROOT / "tools" / "fuzz.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    fake = tmp_path / "fake.py"
    fake.write_text(textwrap.dedent(FAKE).replace('{"hang": 2}', '{"hang": 9, "rss": 9}'))
    monkeypatch.chdir(tmp_path)
    assert tool.main(["--cases", "1", "--families", str(fake), "--json", "r.json",
                      "--timeout", "4", "--no-warm-up"]) == 1
    table = capsys.readouterr().out
    assert "fake (1 cases)" in table and "keyerror" in table
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["families"]["fake"]["entries"]["keyerror"]["internal"] == 1
    finding = tmp_path / "out" / "fuzz" / "fake" / "fake-0-000000-keyerror.json"
    assert tool.main(["--replay", str(finding)]) == 1
    assert "now: internal" in capsys.readouterr().out


LAZY = '''
import os, sys

NAME, SUFFIX = "lazy", ""

def seeds():
    return [("a", b"a")]

def mutate(data, rng):
    return data

def lazy(path):
    warm = "xml.dom.minidom" in sys.modules and os.environ.get("FUZZ_LAZY_SET") == "1"
    import xml.dom.minidom
    os.environ["FUZZ_LAZY_SET"] = "1"
    return None if warm else 3

ENTRY_POINTS = {"lazy": lazy}
'''


@pytest.mark.parametrize("warm_up", [True, False])
def test_warm_up_imports_lazy_modules(warm_up, tmp_path):
    lazy = tmp_path / "lazy.py"
    lazy.write_text(LAZY)
    report = harness.run([str(lazy)], cases=2, jobs=1, out=tmp_path / "findings",
                         warm_up=warm_up)
    entry = report["families"]["lazy"]["entries"]["lazy"]
    assert entry["accepted" if warm_up else "internal"] == 2


def test_a_case_that_writes_into_the_sources_fails_the_run(tmp_path):
    """Cases run as the user (often root): the harness notices a write into the guarded
    folders (../shared, the sources) whatever the file modes say."""
    probe = harness.ROOT / "tests" / "fuzz" / "_written_by_a_case.tmp"
    fake = tmp_path / "writer.py"
    fake.write_text(textwrap.dedent(f'''
        NAME, SUFFIX = "writer", ".bin"
        def seeds(): return [("a", b"abc")]
        def mutate(data, rng): return data
        def write(path):
            open({str(probe)!r}, "w").write("x")
        ENTRY_POINTS = {{"write": write}}
    '''))
    try:
        report = harness.run([str(fake)], cases=1, jobs=1, out=tmp_path / "findings",
                             warm_up=False)
        assert report["wrote_outside"] == [str(probe)]
        assert any("wrote outside" in line for line in harness.failures(report))
    finally:
        probe.unlink(missing_ok=True)
