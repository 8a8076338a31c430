"""`edgesim speech ...`: the speech-privacy commands.

    edgesim speech corpus [--corpus fsc-style|slurp-style] [--utterances-per-intent N]
                          [--seed S] [--wav-out DIR] [--manifest DIR | --fsdd DIR] [--json]
                          [--no-progress]
    edgesim speech train  [--quick] [--seed S] [--segments K] [--gamma G] [...] [--out DIR]
                          [--json] [--no-progress]
    edgesim speech export --out DIR [--only NAMES] [--calibration N] [--heldout N] [--json]
    edgesim speech bench  [--models DIR] [--out DIR] [--devices A,B] [--json]
    edgesim speech baselines [--seeds 0,1,2] [--seconds S] [--only ppslu|vae] [--reference]
                          [--out FILE] [--json]

Wired into edgesim/cli.py with `add_parser(subparsers)` and `run(args)`. Every subcommand is
one `_add_<name>(sub)` in `SUBCOMMANDS` and one entry in `HANDLERS`; more commands append
there. Exit status as for `edgesim check`: 0 done, 2 the input is unusable (one line on
stderr); 1 (a budget violated) is for commands that check budgets. Heavy packages
(TensorFlow, librosa) are imported inside the handlers only, so `edgesim --help` and
`edgesim check` stay fast. Progress bars go to stderr; with --json, stdout is one JSON object
and the running commentary goes to stderr.
"""

from __future__ import annotations


#: The synthetic command corpora (speech_privacy.corpus.CORPORA, named here so that building
#: the parser imports nothing heavy); the first is the default.
CORPUS_NAMES = ("fsc-style", "slurp-style")


def _numbers(text: str, kind, what: str) -> tuple:
    """A comma-separated list of at least one `kind` (int, float) from an argument."""
    import argparse

    try:
        values = tuple(kind(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of "
                                         f"{what}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least one of the {what}")
    return values


def _ratios(text: str) -> tuple[float, ...]:
    import argparse

    values = _numbers(text, float, "numbers")
    if not all(0.0 <= v < 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: mask ratios must lie in [0, 1)")
    return values


def _variants(text: str) -> tuple[str, ...]:
    import argparse

    values = tuple(x.strip().upper() for x in text.split(",") if x.strip())
    if not values or not set(values) <= {"S", "M"} or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"{text!r}: variants are a comma-separated subset of "
                                         "S,M")
    return values


def _add_common(p, json_help: str) -> None:
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_corpus(sub):
    from edgesim.cli import _positive

    c = sub.add_parser(
        "corpus", help="synthesise (and cache) a speech corpus, or load and check a real one",
        description="Synthesise a corpus of spoken commands with eSpeak NG (12 voices, 16 kHz; "
        "cached under $EDGESIM_CACHE or ~/.cache/edgesim, identical for the same seed): "
        "fsc-style, the default, has 28 home-automation intents in 4 s clips; slurp-style has "
        "assistant intents (scenario_action) with entity slots (names, times, dates, places, "
        "numbers, songs, ...) in 5 s clips, with test voices and test entity values that no "
        "training clip uses, and comes with accompanying free sentences. Or load and "
        "validate a real corpus (--manifest DIR with DIR/manifest.csv: path,transcript,intent,speaker; or "
        "--fsdd DIR for the Free Spoken Digit Dataset). Prints a summary.")
    c.add_argument("--corpus", choices=CORPUS_NAMES, default=CORPUS_NAMES[0],
                   help="which synthetic corpus (default fsc-style)")
    c.add_argument("--utterances-per-intent", type=_positive(int),
                   help="clips per intent of the synthetic corpus (default 12 for fsc-style, "
                   "16 for slurp-style)")
    c.add_argument("--seed", type=int, default=0, help="seed of the synthetic corpus")
    src = c.add_mutually_exclusive_group()
    src.add_argument("--manifest", metavar="DIR", help="load DIR/manifest.csv instead")
    src.add_argument("--fsdd", metavar="DIR", help="load the FSDD recordings in DIR instead")
    c.add_argument("--wav-out", metavar="DIR", help="also write the clips as 16-bit WAV files "
                   "plus manifest.csv into DIR (readable again with --manifest DIR)")
    _add_common(c, "print one JSON object (the summary)")
    return c


def _add_train(sub):
    from edgesim.cli import _positive

    t = sub.add_parser(
        "train", help="train the SLU models, the S/M mask generators and the attackers; write "
        "results JSON and the privacy/utility plot",
        description="Train on a command corpus (--corpus): the local SLU intent model, the CTC "
        "ASR attacker on clean commands and accompanying sentences, the S and M mask generators (DiffMask: minimise "
        "kept segments s.t. KL <= gamma), the cloud SLU and adaptive ASR fine-tuned on masked "
        "audio (S, M and Random masks), the privacy/utility curve over mask ratios, and "
        "speaker privacy on FSDD. Saves the generators, results.json and privacy_utility.png "
        "under $EDGESIM_CACHE/speech/trained (about 35-40 min on 2 CPU cores; --quick: a "
        "small smoke run of about 2.5 min whose figures mean little).")
    t.add_argument("--quick", action="store_true", help="tiny corpus and few epochs")
    t.add_argument("--corpus", choices=CORPUS_NAMES, default=CORPUS_NAMES[0],
                   help="command corpus (default fsc-style; slurp-style: entities, "
                   "held-out speakers and entity values)")
    t.add_argument("--seed", type=int, help="seed of corpus, split and training (default 0)")
    t.add_argument("--utterances-per-intent", type=_positive(int),
                   help="clips per intent of the synthetic corpus (default: the corpus's own, "
                   "12 fsc-style, 16 slurp-style)")
    t.add_argument("--segments", type=_positive(int), help="k, mask segments per clip "
                   "(default 100: 40 ms of a 4 s clip); must divide the clip's samples")
    t.add_argument("--gamma", type=_positive(float), help="KL bound, nats (default 0.15)")
    t.add_argument("--variants", type=_variants, help="generators to train (default S,M)")
    t.add_argument("--slu-epochs", type=_positive(int), help="local SLU epochs (default 80)")
    t.add_argument("--asr-epochs", type=_positive(int), help="ASR attacker epochs (default 25)")
    t.add_argument("--mask-steps", type=_positive(int), help="generator steps (default 1000)")
    t.add_argument("--cloud-epochs", type=_positive(int), help="cloud SLU fine-tuning epochs "
                   "on masked audio, at every masker and curve point (default 15)")
    t.add_argument("--adaptive-epochs", type=_positive(int), help="adaptive ASR fine-tuning "
                   "epochs on masked audio, at every masker and curve point (default 10)")
    t.add_argument("--random-ratio", type=float, help="Random baseline's mask ratio "
                   "(default 0.5)")
    t.add_argument("--curve-ratios", type=_ratios, help="mask ratios of the curve (default "
                   "0.5,0.75,0.9)")
    fs = t.add_mutually_exclusive_group()
    fs.add_argument("--fsdd", metavar="DIR", help="FSDD folder for speaker privacy on real "
                    "speech (default: $EDGESIM_FSDD when set)")
    fs.add_argument("--no-fsdd", action="store_true", help="skip the FSDD experiment")
    t.add_argument("--out", metavar="DIR", help="also copy results.json and the PNG into DIR")
    _add_common(t, "print the results as one JSON object")
    return t


def _encoders(text: str) -> tuple[str, ...]:
    import argparse

    from speech_privacy.export import ENCODERS

    alias = {"s": "mask_generator_s", "m": "mask_generator_m", "ppslu": "ppslu_encoder",
             "vae": "vae_encoder"}
    values = tuple(alias.get(x.strip().lower(), x.strip().lower()) for x in text.split(",")
                   if x.strip())
    bad = [v for v in values if v not in ENCODERS]
    if not values or bad:
        raise argparse.ArgumentTypeError(f"{text!r}: encoders are a comma-separated subset of "
                                         f"{','.join(ENCODERS)} (or s,m,ppslu,vae)")
    return tuple(dict.fromkeys(values))


def _add_export(sub):
    from edgesim.cli import _positive

    e = sub.add_parser(
        "export", help="write the four encoders as full-INT8 TFLite files with a checked "
        "manifest",
        description="Convert mask_generator_s, mask_generator_m, ppslu_encoder (94.4 M "
        "parameters, wav2vec2-base size) and vae_encoder (48.9 M) to full-INT8 TFLite (int8 "
        "input and output, calibrated on clips of the default corpus), write each atomically "
        "as DIR/<name>.tflite, re-load it with LiteRT, compare it with the float model on "
        "held-out clips and write DIR/manifest.json (agreement, sha256, sizes, parameters, "
        "whether trained, conversion time). Mask generators carry the weights of `edgesim "
        "speech train` when it has run (else their initial weights, marked untrained); the "
        "baselines are exported untrained at their real size (costs depend on the "
        "architecture only). Converting the PPSLU encoder takes about a minute and 5.5 GB "
        "of RAM.")
    e.add_argument("--out", required=True, metavar="DIR", help="output folder")
    e.add_argument("--only", type=_encoders, metavar="NAMES",
                   help="comma-separated encoders to export (default all four; aliases "
                   "s,m,ppslu,vae); the manifest keeps the other entries")
    e.add_argument("--calibration", type=_positive(int), default=32, metavar="N",
                   help="calibration clips (default 32; the baselines use at most 8)")
    e.add_argument("--heldout", type=_positive(int), default=16, metavar="N",
                   help="held-out clips for the agreement check (default 16; the baselines "
                   "use at most 4)")
    _add_common(e, "print the manifest as one JSON object")
    return e


def _add_bench(sub):
    b = sub.add_parser(
        "bench", help="cost every exported encoder on stm32h743 and rpi4b: latency, memory, "
        "fit, speedup and memory ratio against PPSLU and the VAE, with utility/privacy",
        description="Cost each exported encoder (a 4 s clip) with firmware_sim on stm32h743 "
        "and rpi4b: latency_ms, ram_bytes, flash_bytes, fits, speedup_vs_<ppslu|vae> and "
        "memory_ratio_vs_<ppslu|vae> (same device), the RAM and latency targets, the utility and "
        "privacy figures of `edgesim speech train` and of the baselines' brief training, and "
        "a PNG of per-encoder latency and memory. Encoders not yet exported into --models "
        "are exported first. Exit 0 when the benchmark ran (targets are reported, not "
        "enforced).")
    b.add_argument("--models", metavar="DIR", help="folder of exported .tflite files (default "
                   "$EDGESIM_CACHE/speech/export; missing encoders are exported there)")
    b.add_argument("--out", metavar="DIR", help="write speech_bench.json and speech_bench.png "
                   "into DIR (default: the PNG beside the models)")
    b.add_argument("--devices", default="stm32h743,rpi4b",
                   help="comma-separated devices (default stm32h743,rpi4b)")
    _add_common(b, "print the benchmark as one JSON object")
    return b


def _seeds(text: str) -> tuple[int, ...]:
    import argparse

    seeds = _numbers(text, int, "integers")
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds must be distinct, got {text!r}")
    return seeds


def _add_baselines(sub):
    from edgesim.cli import _positive

    b = sub.add_parser(
        "baselines", help="train the reduced-width PPSLU-class and VAE baselines over several "
        "seeds and attack their output (about 5 min per seed and baseline)",
        description="Train reduced-width copies of the disentanglement baselines on the "
        "FSC-style corpus, once per seed for a wall-time budget each, then measure their "
        "intent accuracy and attack their device output with a CTC recogniser and a speaker "
        "classifier; reports each figure's mean and spread over the seeds and writes them "
        "where `edgesim speech bench` reads them. Their costs are those of the real size.")
    b.add_argument("--seeds", type=_seeds, default=(0, 1, 2),
                   help="comma-separated seeds (default 0,1,2)")
    b.add_argument("--seconds", type=_positive(float), default=240.0,
                   help="wall-time training budget per baseline and seed (default 240)")
    b.add_argument("--only", choices=("ppslu", "vae"), action="append",
                   help="train only this baseline (repeatable)")
    b.add_argument("--adversary-weight", type=float, help="gradient-reversal factor (default "
                   "0.5; 0: no adversarial training, the utility reference)")
    b.add_argument("--reference", action="store_true", help="only run the attackers on clean "
                   "MFCC frames (their strength when nothing is hidden)")
    b.add_argument("--out", metavar="FILE", help="results JSON (default "
                   "$EDGESIM_CACHE/speech/trained/baselines.json)")
    _add_common(b, "print the results as one JSON object")
    return b


#: Subcommand builders, in help order; each returns its parser (run() dispatches by name).
SUBCOMMANDS = [_add_corpus, _add_train, _add_export, _add_bench, _add_baselines]


def add_parser(subparsers) -> None:
    """Add the `speech` command group to edgesim's subparsers."""
    speech = subparsers.add_parser(
        "speech", help="speech privacy: corpus, mask-generator training, attacks",
        description="Differential-mask speech privacy (SILENCE) on the edge.")
    sub = speech.add_subparsers(dest="speech_command", required=True)
    for add in SUBCOMMANDS:
        add(sub).set_defaults(handler=run)




def run(args) -> int:
    """Run the parsed `speech` command; returns the exit status."""
    from . import speech_commands

    return speech_commands.HANDLERS[args.speech_command](args)
