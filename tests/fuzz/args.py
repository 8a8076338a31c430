"""Fuzz family "args": bad argument sets for the `edgesim` command.

A case file is a JSON list of strings, an argv. Seeds are valid command lines of the cheap
commands (check, devices, npu check, speech corpus on a given folder, edit missing a part of
its request, --help, --version); mutate drops, duplicates and swaps arguments, misspells flags
and puts absurd numbers, missing paths, folders, wrong kinds of file, empty strings and
unicode where values go. The entry point runs edgesim.cli.main(argv).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import random
from pathlib import Path

NAME = "args"
SUFFIX = ""

SHARED = Path(__file__).resolve().parents[3] / "shared"
MODELS = SHARED / "models" / "mlperf_tiny"
KWS, AD01 = str(MODELS / "kws_ref_model.tflite"), str(MODELS / "ad01_int8.tflite")
GGUF = str(SHARED / "models" / "stories260K.gguf")


def _profile(package: str, name: str) -> str:
    import importlib

    return str(Path(importlib.import_module(package).__file__).parent / "profiles" /
               f"{name}.toml")


DEVICES = ["stm32h743", "stm32f746", "stm32h7a3", "stm32l4r5", "rpi4b", "sd8gen3_htp",
           "sd8gen3_cpu", "STM32H743", "stm32h74", "nosuch"]
NUMBERS = ["0", "-1", "1", "0.5", "nan", "NaN", "inf", "-inf", "1e309", "-1e309", "1e-320",
           "99999999999999999999999999999", str(2**63), str(-2**63), "0x10", "1_000", "1,5",
           "\uff11\uff12", "\u0663", " 7 ", "", "-", "--", "1e", "e"]
STRINGS = ["", " ", "-", "--", "-x", "\u00fcn\u00efc\u00f8d\u00e9", "\U0001F600", "\udcff",
           "a" * 5000, "\u2014json", "\uff43\uff48\uff45\uff43\uff4b", "x\ny", "\t"]
# Where a file is expected: missing files, folders, empty and wrong kinds of file.
PATHS = ["missing.tflite", "/nonexistent/dir/model.tflite", ".", "./", str(SHARED / "models"),
         "/dev/null", GGUF, str(MODELS / "kws_ref_model_float32.tflite"), KWS, AD01,
         str(MODELS / "vww_96_int8.tflite"), "\u00fcn\u00efc\u00f8d\u00e9.tflite",
         "\udcff.tflite", "a" * 300 + ".tflite", "nope/", "~/model.tflite",
         str(SHARED / "models" / "README.md")]


def seeds() -> list[tuple[str, bytes]]:
    mcu, npu = _profile("firmware_sim.devices", "stm32h743"), _profile("npu_sim", "sd8gen3_htp")
    argvs = {
        "check": ["check", KWS, "--device", "stm32h743"],
        "check-json-plan": ["check", KWS, "--device", "stm32f746", "--json", "--plan"],
        "check-budgets": ["check", str(MODELS / "vww_96_int8.tflite"), "--device", "rpi4b",
                          "--latency-ms", "50", "--ram-kb", "512", "--flash-kb", "1024"],
        "check-kernels": ["check", KWS, "--device", "stm32l4r5", "--kernels", "reference"],
        "check-exact": ["check", AD01, "--device", "stm32h743", "--exact"],
        "check-float": ["check", str(MODELS / "kws_ref_model_float32.tflite"), "--device",
                        "stm32h743"],
        "check-profile": ["check", KWS, "--device", mcu, "--debug"],
        "check-compare-csv": ["check", KWS, "--device", "stm32h743,stm32l4r5", "--format", "csv"],
        "check-html-out": ["check", AD01, "--device", "stm32h743", "--format", "html", "--out",
                           "report.html", "--ram-kb", "16"],
        "diff": ["diff", KWS, AD01, "--device", "stm32h743", "--ram-kb", "64"],
        "devices": ["devices"],
        "devices-json": ["devices", "--json"],
        "npu-check": ["npu", "check", KWS, "--device", "sd8gen3_htp"],
        "npu-budgets": ["npu", "check", str(MODELS / "pretrainedResnet_quant.tflite"),
                        "--device", npu, "--latency-ms", "1", "--ram-mb", "64", "--json"],
        "corpus-manifest": ["speech", "corpus", "--manifest", "no_such_corpus", "--json"],
        "corpus-fsdd": ["speech", "corpus", "--fsdd", "no_such_fsdd", "--no-progress"],
        "edit-no-target": ["edit", "--model", GGUF, "--subject", "Lily", "--prompt",
                           "Lily went to the", "--device", "sd8gen3_htp"],
        "edit-no-subject": ["edit", "--model", GGUF, "--method", "rome-bp", "--prompt",
                            "Once upon a", "--target", " time", "--json"],
        "help": ["npu", "check", "--help"],
        "version": ["--version"],
    }
    return [(label, _encode(argv)) for label, argv in argvs.items()]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """1 to 4 argument-level edits; edits that would start a long job are tried again."""
    seed = json.loads(data)
    for _ in range(20):
        argv = list(seed)
        for _ in range(rng.randint(1, 4)):
            rng.choice(_EDITS)(argv, rng)
        if not too_long(argv):
            return _encode(argv)
    return data


def run_cli(path: Path) -> int | None:
    """`edgesim ARGV...`, in process; returns the exit status."""
    from edgesim.cli import main

    argv = json.loads(path.read_text())
    if too_long(argv):
        return None    # a hand-made case mutate would not produce: not run, see too_long
    try:
        return main(argv)
    except SystemExit as exc:          # argparse: 2 for bad arguments, 0 for --help/--version
        return 0 if exc.code is None else exc.code


ENTRY_POINTS = {"cli": run_cli}


def too_long(argv: list[str]) -> str | None:
    """Why `argv` is not run: it would start a job of seconds to hours (TensorFlow training,
    corpus synthesis, an LLM edit, instruction-level emulation of a big model), which is no
    argument-parsing test and would only read as a hang, or it would write outside the
    case's folder (`writes_outside`); else None."""
    from edgesim.cli import _parser

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            ns = _parser().parse_args(argv)
        except SystemExit:
            return None                # refused by argparse, or --help/--version: quick
    if ns.command == "demo":
        return "demo builds and runs a model"
    if ns.command == "speech" and ns.speech_command != "corpus":
        return f"speech {ns.speech_command} trains, converts or benchmarks models"
    if ns.command == "speech" and not (ns.manifest or ns.fsdd):
        return "speech corpus synthesises the default corpus"
    if ns.command == "speech" and ns.fsdd and _has_wav(Path(ns.fsdd)):
        return "speech corpus would load a real FSDD folder"
    if ns.command == "edit" and (ns.action == "bench" or (ns.subject and ns.prompt and
                                                          ns.target)):
        return "edit runs a knowledge edit of an LLM"
    if ns.command == "check" and ns.exact and Path(ns.model).name != Path(AD01).name:
        return "check --exact emulates every instruction of a model bigger than ad01"
    return writes_outside(ns)


#: Arguments that name a file or folder the command writes.
OUTPUTS = ("out", "plot", "wav_out")


def writes_outside(ns) -> str | None:
    """Why the parsed command would write outside the case's own folder (the cwd), else
    None. A case runs as the user, often root, so read-only modes do not protect ../shared
    or the sources: such command lines are not run."""
    here = Path.cwd().resolve()
    for name in OUTPUTS:
        value = getattr(ns, name, None)
        if isinstance(value, str) and value:
            target = (here / value).resolve()
            if target != here and here not in target.parents:
                return f"--{name.replace('_', '-')} {value!r} is outside the case's folder"
    return None


def _has_wav(folder: Path) -> bool:
    try:
        return any(folder.glob("*.wav")) or any(folder.glob("recordings/*.wav"))
    except (OSError, ValueError):
        return False


def _encode(argv: list[str]) -> bytes:
    return json.dumps(argv).encode()


@functools.cache
def _flags() -> list[str]:
    from edgesim.cli import _option_strings, _parser

    return sorted(_option_strings(_parser()))


def _misspell(flag: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(flag))               # every flag has two characters or more
    return rng.choice([flag[:i] + flag[i + 1:], flag[:i] + flag[i] + flag[i:], flag.upper(),
                       flag.replace("-", "_"), flag.lstrip("-"), "-" + flag.lstrip("-"),
                       flag + "=", flag + "s", flag[:i] + "\u00e9" + flag[i:]])


def _values(rng: random.Random) -> str:
    return rng.choice(rng.choice([NUMBERS, STRINGS, PATHS, DEVICES]))


def _drop(argv, rng):
    if argv:
        del argv[rng.randrange(len(argv))]


def _duplicate(argv, rng):
    if argv:
        i = rng.randrange(len(argv))
        argv.insert(rng.randrange(len(argv) + 1), argv[i])


def _swap(argv, rng):
    if len(argv) > 1:
        i, j = rng.sample(range(len(argv)), 2)
        argv[i], argv[j] = argv[j], argv[i]


def _insert_flag(argv, rng):
    flag = rng.choice(_flags())
    if rng.random() < 0.4:
        flag = _misspell(flag, rng)
    new = [flag] + ([_values(rng)] if rng.random() < 0.6 else [])
    at = rng.randrange(len(argv) + 1)
    argv[at:at] = new


def _replace_value(argv, rng):
    values = [i for i, a in enumerate(argv) if not a.startswith("-")]
    if values:
        argv[rng.choice(values)] = _values(rng)


def _replace_number(argv, rng):
    numeric = [i + 1 for i, a in enumerate(argv[:-1])
               if a in ("--latency-ms", "--ram-kb", "--flash-kb", "--ram-mb", "--edits",
                        "--utterances-per-intent", "--seed", "--calibration", "--heldout")]
    if numeric:
        argv[rng.choice(numeric)] = rng.choice(NUMBERS)
    else:
        argv += [rng.choice(["--latency-ms", "--ram-kb", "--flash-kb", "--ram-mb"]),
                 rng.choice(NUMBERS)]


def _replace_path(argv, rng):
    paths = [i for i, a in enumerate(argv) if "/" in a or a.endswith((".tflite", ".gguf"))
             or a.startswith("no_such")]
    if paths:
        argv[rng.choice(paths)] = rng.choice(PATHS)


def _misspell_flag(argv, rng):
    flags = [i for i, a in enumerate(argv) if a.startswith("--")]
    if flags:
        i = rng.choice(flags)
        argv[i] = _misspell(argv[i], rng)


def _join_equals(argv, rng):
    flags = [i for i, a in enumerate(argv[:-1]) if a.startswith("--")]
    if flags:
        i = rng.choice(flags)
        argv[i:i + 2] = [f"{argv[i]}={argv[i + 1]}"]


def _command(argv, rng):
    heads = [["check"], ["diff"], ["npu", "check"], ["devices"], ["npu"], ["speech", "corpus"],
             ["edit"],
             [], ["chek"], ["npu", "chek"], ["help"]]
    body = argv[2:] if argv[:1] in (["npu"], ["speech"]) else argv[1:]
    argv[:] = rng.choice(heads) + body


_EDITS = [_drop, _duplicate, _swap, _insert_flag, _replace_value, _replace_number,
          _replace_path, _misspell_flag, _join_equals, _command]
