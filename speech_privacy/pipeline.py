"""What `edgesim speech train` runs: every model of the SILENCE experiment on one corpus, the
attacks on masked audio, and the results JSON and privacy/utility plot.

Stages (on the default corpus's train split; every figure on its test split):
  1. local SLU (the intent model whose output the mask must preserve), on clean clips and,
     by default, clips with random segments zeroed (TrainConfig.slu_drop),
  2. ASR attacker (CTC) on clean clips, speaker classifier on clean clips (references),
  3. mask generators S and M with the DiffMask objective against the local SLU (gate noise
     annealed, TrainConfig.mask_anneal),
  4. per masker (S, M, Random at `random_ratio`): deterministic masks, the cloud SLU
     fine-tuned on masked train clips, the clean ASR's WER on masked test clips, the adaptive
     ASR (the clean ASR fine-tuned on masked train clips), the intent-guess attacker (the
     cloud SLU's intent, written in that intent's most typical training wording;
     metrics.intent_guess_transcripts) and a speaker classifier trained on masked clips,
  5. the privacy/utility curve: for each mask ratio in `curve_ratios`, Random masks and the S
     generator's ranking (keep the segments with the highest gate logits), each with its own
     cloud SLU and adaptive ASR fine-tuned at that ratio (the same budgets as in 4),
  6. on FSDD (real speech, 6 speakers) where present: speaker accuracy on clean and masked
     clips (the S generator's weights, which are per segment, applied to 1 s clips, and
     Random at `random_ratio`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .results import MASKERS, SCHEMA, generator_path, results_path, trained_dir

@dataclass
class TrainConfig:
    """Sizes of every stage. The defaults keep a full run within CPU-only training; the
    run's per-stage wall time is recorded in its results (`Stopwatch`)."""

    utterances_per_intent: int = 12
    seed: int = 0
    segments: int = 100
    gamma: float = 0.15
    variants: tuple[str, ...] = ("S", "M")
    slu_epochs: int = 80          # twice the clean-only budget: it also learns sparse audio
    asr_epochs: int = 35
    mask_steps: int = 1000
    mask_batch: int = 16
    mask_lr: float = 3e-3
    # The local SLU is trained with segment-drop augmentation (a random 40-90% of the
    # segments zeroed on all but `slu_clean_share` of the clips; slu.train_slu), so that
    # zeroing speech segments costs KL in proportion to the intent evidence they carry; and
    # the gate noise is annealed away over the first `mask_anneal` of the generator's steps
    # (mask.train), so that the KL bound holds for the deterministic mask the device sends.
    # None and 0.0 give the plain DiffMask setting (clean local SLU, full noise throughout),
    # under which the generator zeroes mostly silence and leaves the speech segments, and so
    # the words, to the attacker; the results JSON records the masked shares, WER and intent.
    slu_drop: tuple[float, float] | None = (0.4, 0.9)
    slu_clean_share: float = 0.1
    mask_anneal: float = 0.75
    cloud_epochs: int = 15
    # Every adaptive attacker (trained maskers and curve points alike) gets this budget:
    # the adaptive attacker's WER keeps falling with more fine-tuning, so a shorter budget
    # overstates the privacy of a mask.
    adaptive_epochs: int = 25
    speaker_epochs: int = 300
    random_ratio: float = 0.5
    curve_ratios: tuple[float, ...] = (0.5, 0.75, 0.85, 0.9)
    fsdd: str | None = None       # FSDD folder (edgesim.paths.fsdd_dir); None skips it


@dataclass
class Stopwatch:
    seconds: dict = field(default_factory=dict)

    def __call__(self, name: str, start: float) -> None:
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 1)


def ranked_masks(log_alpha: np.ndarray, mask_ratio: float) -> np.ndarray:
    """Binary masks [N, k] that keep, per clip, the round((1 - mask_ratio) * k) segments with
    the highest gate logits (ties by position)."""
    k = log_alpha.shape[1]
    keep = round((1.0 - mask_ratio) * k)
    order = np.argsort(-log_alpha, axis=1, kind="stable")
    masks = np.zeros_like(log_alpha, dtype=np.float32)
    np.put_along_axis(masks, order[:, :keep], 1.0, axis=1)
    return masks


def speech_mask_ratio(audio: np.ndarray, masks: np.ndarray, floor_db: float = -20.0) -> float:
    """Fraction of the speech segments that the masks zero, where a segment counts as speech
    when its RMS lies within `floor_db` dB of the loudest segment of its clip
    (features.voiced_frames; this leaves out the zero padding and most of the background
    noise around the command)."""
    from .features import voiced_frames

    k = masks.shape[1]
    length = audio.shape[1] // k
    speech = voiced_frames(audio, k, hop=length, win=length, floor_db=floor_db)
    return float(1.0 - masks[speech].mean()) if speech.any() else 0.0


def masked(corpus, masks: np.ndarray):
    """A copy of `corpus` whose clips are multiplied by the segment masks [N, k]."""
    from .corpus import SpeechCorpus
    from .mask.gate import apply_mask

    return SpeechCorpus(apply_mask(corpus.audio, masks).numpy(), corpus.sample_rate,
                        corpus.transcripts, corpus.intents, corpus.speakers)


def train_all(config: TrainConfig | None = None, progress: bool = True, say=print,
              out_dir: str | Path | None = None) -> dict:
    """Run every stage, save the generators, results.json and the PNG into `out_dir`
    (default results.trained_dir()) and return the results (schema in speech_privacy.results)."""
    from edgesim.io import atomic_write

    from .attacks.asr import train_asr
    from .attacks.speaker import train_speaker_classifier
    from .corpus import load_default_corpus
    from .mask.gate import MaskError
    from .mask.generator import GeneratorConfig, RandomMask, build_generator, save_generator
    from .mask.train import mean_kl, train_mask_generator
    from .metrics import intent_guess_transcripts, word_error_rate
    from .slu import fine_tune_on_masked, train_slu

    cfg = config or TrainConfig()
    for r in (cfg.random_ratio, *cfg.curve_ratios):
        if not 0.0 <= r < 1.0:
            raise MaskError(f"mask ratios must lie in [0, 1), got {r}")
    out = Path(out_dir) if out_dir is not None else trained_dir()
    clock = Stopwatch()
    t_all = t = time.perf_counter()
    corpus = load_default_corpus(cfg.utterances_per_intent, cfg.seed, progress)
    if cfg.segments < 1 or corpus.audio.shape[1] % cfg.segments:
        raise MaskError(f"segments={cfg.segments} does not divide a "
                        f"{corpus.audio.shape[1]}-sample clip")
    train, test = corpus.split(seed=cfg.seed)
    clock("corpus", t)
    say(f"corpus: {len(corpus)} clips ({len(train)} train, {len(test)} test), "
        f"{len(corpus.intent_names())} intents, {len(corpus.speaker_names())} speakers")

    t = time.perf_counter()
    local = train_slu(train, cfg.slu_epochs, cfg.seed, progress=progress,
                      drop=tuple(cfg.slu_drop) if cfg.slu_drop else None,
                      segments=cfg.segments, clean_share=cfg.slu_clean_share)
    clock("local_slu", t)
    t = time.perf_counter()
    asr = train_asr(train, cfg.asr_epochs, cfg.seed, progress=progress)
    clock("asr", t)
    t = time.perf_counter()
    speaker_clean = train_speaker_classifier(train, cfg.speaker_epochs, cfg.seed)
    clock("speaker", t)

    def wer(model, data) -> float:
        return word_error_rate(data.transcripts, model.transcribe(data.audio))

    # The unmasked reference gets the same extra training as every cloud SLU below (the
    # local SLU fine-tuned cloud_epochs more, here on clean audio), so that differences in
    # intent accuracy come from the masks, not from the training budget.
    t = time.perf_counter()
    cloud_clean = fine_tune_on_masked(local, train, None, cfg.cloud_epochs, cfg.seed,
                                      progress=progress)
    clock("cloud_slu_clean", t)
    local_clean = local.logits(test.audio)       # KL reference of every masker below
    unmasked = {"intent_accuracy": cloud_clean.accuracy(test),
                "intent_accuracy_local": _accuracy(local, local_clean, test),
                "wer_asr": wer(asr, test),
                "wer_intent_oracle": word_error_rate(test.transcripts, intent_guess_transcripts(
                    train.transcripts, train.intents, test.intents)),
                "speaker_accuracy": speaker_clean.accuracy(test)}
    say(f"unmasked: intent accuracy {unmasked['intent_accuracy']:.3f} (local SLU "
        f"{unmasked['intent_accuracy_local']:.3f}), ASR WER "
        f"{unmasked['wer_asr']:.3f}, speaker accuracy {unmasked['speaker_accuracy']:.3f}; "
        f"an attacker who knows only the intent: WER {unmasked['wer_intent_oracle']:.3f}")

    generators, logs = {}, {}
    for variant in cfg.variants:
        gen = build_generator(variant, GeneratorConfig(samples=corpus.audio.shape[1],
                                                       segments=cfg.segments), cfg.seed)
        logs[variant] = train_mask_generator(gen, local.keras, train.audio, cfg.mask_steps,
                                             cfg.mask_batch, cfg.mask_lr, cfg.gamma,
                                             seed=cfg.seed, progress=progress,
                                             anneal=cfg.mask_anneal)
        clock(f"mask_generator_{variant.lower()}", time.perf_counter() - logs[variant].seconds)
        save_generator(gen, out / generator_path(variant).name)
        generators[variant] = gen

    def evaluate(name: str, train_masks, test_masks, slu_epochs, asr_epochs,
                 speaker: bool) -> dict:
        t0 = time.perf_counter()
        m_train, m_test = masked(train, train_masks), masked(test, test_masks)
        cloud = fine_tune_on_masked(local, m_train, None, slu_epochs, cfg.seed,
                                    progress=progress)
        adaptive = asr.fine_tune(m_train, asr_epochs, cfg.seed, progress=progress)
        heard = cloud.predict_intents(m_test)
        local_masked = local.logits(m_test.audio)
        row = {"mask_ratio": float(1.0 - test_masks.mean()),
               "speech_mask_ratio": speech_mask_ratio(test.audio, test_masks),
               "kl": mean_kl(local_clean, local_masked),
               "intent_accuracy_local": _accuracy(local, local_masked, test),
               "intent_accuracy": float(np.mean(np.array(heard) == np.array(test.intents))),
               "wer_asr": wer(asr, m_test), "wer_adaptive": wer(adaptive, m_test),
               "wer_intent_guess": word_error_rate(test.transcripts, intent_guess_transcripts(
                   train.transcripts, train.intents, heard))}
        if speaker:
            row["speaker_accuracy"] = train_speaker_classifier(
                m_train, cfg.speaker_epochs, cfg.seed).accuracy(m_test)
        clock(f"evaluate_{name}", t0)
        say(f"{name}: mask ratio {row['mask_ratio']:.2f} (speech "
            f"{row['speech_mask_ratio']:.2f}), intent accuracy "
            f"{row['intent_accuracy']:.3f} (local SLU {row['intent_accuracy_local']:.3f}), "
            f"WER {row['wer_asr']:.3f} / adaptive {row['wer_adaptive']:.3f} / intent guess "
            f"{row['wer_intent_guess']:.3f}"
            + (f", speaker accuracy {row['speaker_accuracy']:.3f}" if speaker else ""))
        return row

    maskers = {}
    for variant, gen in generators.items():
        maskers[f"mask_generator_{variant.lower()}"] = evaluate(
            f"mask generator {variant}", gen.masks(train.audio), gen.masks(test.audio),
            cfg.cloud_epochs, cfg.adaptive_epochs, True)
    rand = RandomMask(cfg.segments, 1.0 - cfg.random_ratio, cfg.seed)
    maskers["random_mask"] = evaluate(f"random mask {cfg.random_ratio:.2f}",
                                      rand.masks(train.audio), rand.masks(test.audio),
                                      cfg.cloud_epochs, cfg.adaptive_epochs, True)
    for key, log in logs.items():
        maskers[f"mask_generator_{key.lower()}"]["training"] = log.to_dict()

    curve = []
    ranker = generators.get("S") or next(iter(generators.values()), None)
    train_logits = ranker.log_alpha(train.audio) if ranker else None
    test_logits = ranker.log_alpha(test.audio) if ranker else None
    for ratio in cfg.curve_ratios:
        points = [("random_mask", RandomMask(cfg.segments, 1.0 - ratio, cfg.seed + 1))]
        if ranker is not None:
            points.append((f"mask_generator_{ranker.variant.lower()}", None))
        for name, rnd in points:
            if rnd is not None:
                tr_m, te_m = rnd.masks(train.audio), rnd.masks(test.audio)
            else:
                tr_m, te_m = ranked_masks(train_logits, ratio), ranked_masks(test_logits, ratio)
            row = evaluate(f"curve {name} {ratio:.2f}", tr_m, te_m, cfg.cloud_epochs,
                           cfg.adaptive_epochs, False)
            curve.append({"masker": name, **{k: row[k] for k in (
                "mask_ratio", "speech_mask_ratio", "intent_accuracy", "intent_accuracy_local",
                "wer_asr", "wer_adaptive", "wer_intent_guess")}})

    fsdd = None
    if cfg.fsdd:
        t = time.perf_counter()
        fsdd = fsdd_speaker_privacy(Path(cfg.fsdd), generators.get("S"), cfg, progress)
        clock("fsdd", t)
        say(f"FSDD: speaker accuracy clean {fsdd['speaker_accuracy_clean']:.3f}, masked "
            f"(S) {fsdd['speaker_accuracy_masked']}, random "
            f"{fsdd['speaker_accuracy_random']:.3f}, chance {fsdd['chance']:.3f}")

    clock("total", t_all)
    results = {
        "schema": SCHEMA, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
        "seconds": clock.seconds,
        "corpus": {"name": "synthetic-espeak", "clips": len(corpus), "train": len(train),
                   "test": len(test), "intents": len(corpus.intent_names()),
                   "speakers": len(corpus.speaker_names()), "seed": cfg.seed,
                   "utterances_per_intent": cfg.utterances_per_intent,
                   "sample_rate": corpus.sample_rate, "samples": int(corpus.audio.shape[1])},
        "segments": cfg.segments, "gamma": cfg.gamma, "unmasked": unmasked,
        "maskers": {k: maskers[k] for k in MASKERS if k in maskers},
        "speaker_chance": speaker_clean.chance, "curve": curve, "fsdd": fsdd,
        "plot": str(out / "privacy_utility.png")}
    atomic_write(out / "privacy_utility.png", plot_curve(results))
    atomic_write(out / results_path().name, json.dumps(results, indent=2).encode())
    return results


def _accuracy(slu, logits: np.ndarray, corpus) -> float:
    """Share of `corpus` clips whose top intent in `logits` (of `slu`, on those clips) is
    right."""
    heard = np.array(slu.intent_names)[logits.argmax(axis=1)]
    return float(np.mean(heard == np.array(corpus.intents)))


def fsdd_speaker_privacy(folder: Path, generator, cfg: TrainConfig, progress: bool) -> dict:
    """Speaker accuracy on FSDD (train takes 5-49, test takes 0-4, 1 s clips): clean, masked
    by `generator`'s per-segment weights (its segment length, 1 s / k' segments) and by Random
    masks at cfg.random_ratio."""
    from .attacks.speaker import train_speaker_classifier
    from .datasets import load_fsdd
    from .mask.generator import GeneratorConfig, RandomMask, build_generator

    test = load_fsdd(folder, clip_seconds=1.0, takes=range(5), progress=progress)
    train = load_fsdd(folder, clip_seconds=1.0, takes=range(5, 50), progress=progress)
    speakers = len(set(train.speakers) | set(test.speakers))
    out = {"clips": len(train) + len(test), "train": len(train), "test": len(test),
           "speakers": speakers, "chance": 1.0 / speakers}
    out["speaker_accuracy_clean"] = train_speaker_classifier(
        train, cfg.speaker_epochs, cfg.seed).accuracy(test)
    seg = generator.config.segment_samples if generator is not None else 640
    k = train.audio.shape[1] // seg
    rand = RandomMask(k, 1.0 - cfg.random_ratio, cfg.seed)
    m_tr, m_te = rand.masks(train.audio), rand.masks(test.audio)
    out["speaker_accuracy_random"] = train_speaker_classifier(
        masked(train, m_tr), cfg.speaker_epochs, cfg.seed).accuracy(masked(test, m_te))
    out["speaker_accuracy_masked"] = out["mask_ratio"] = None
    if generator is not None and generator.variant == "S" and train.audio.shape[1] % seg == 0:
        small = build_generator("S", GeneratorConfig(samples=train.audio.shape[1], segments=k))
        small.keras.set_weights(generator.keras.get_weights())
        m_tr, m_te = small.masks(train.audio), small.masks(test.audio)
        out["mask_ratio"] = float(1.0 - m_te.mean())
        out["speaker_accuracy_masked"] = train_speaker_classifier(
            masked(train, m_tr), cfg.speaker_epochs, cfg.seed).accuracy(masked(test, m_te))
    return out


def plot_curve(results: dict) -> bytes:
    """PNG bytes: intent accuracy (utility) and attacker WER (privacy) against mask ratio."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_u, ax_p) = plt.subplots(1, 2, figsize=(10, 4))
    styles = {"random_mask": ("tab:gray", "Random"), "mask_generator_s": ("tab:blue", "S"),
              "mask_generator_m": ("tab:orange", "M")}
    for name, (colour, label) in styles.items():
        points = sorted((p for p in results["curve"] if p["masker"] == name),
                        key=lambda p: p["mask_ratio"])
        trained = results["maskers"].get(name)
        if not points and not trained:
            continue
        xs = [0.0] + [p["mask_ratio"] for p in points]
        ax_u.plot(xs, [results["unmasked"]["intent_accuracy"]]
                  + [p["intent_accuracy"] for p in points], "o-", color=colour, label=label)
        ax_p.plot(xs, [results["unmasked"]["wer_asr"]] + [p["wer_adaptive"] for p in points],
                  "o-", color=colour, label=f"{label}, adaptive ASR")
        ax_p.plot(xs, [results["unmasked"]["wer_asr"]] + [p["wer_asr"] for p in points],
                  "o--", color=colour, alpha=0.5, label=f"{label}, clean ASR")
        if trained:
            ax_u.plot(trained["mask_ratio"], trained["intent_accuracy"], "*", ms=14,
                      color=colour)
            ax_p.plot(trained["mask_ratio"], trained["wer_adaptive"], "*", ms=14, color=colour)
    ax_u.set(xlabel="mask ratio (segments zeroed)", ylabel="intent accuracy (cloud SLU)",
             title="utility", ylim=(0, 1.02))
    ax_p.set(xlabel="mask ratio (segments zeroed)", ylabel="word error rate",
             title="content privacy")
    ax_p.axhline(0.75, color="k", lw=0.5, ls=":")
    oracle = results["unmasked"].get("wer_intent_oracle")
    if oracle is not None:
        ax_p.axhline(oracle, color="tab:red", lw=0.8, ls="--",
                     label="knows the intent, guesses the wording")
    for ax in (ax_u, ax_p):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"SILENCE masking on {results['corpus']['name']} "
                 f"({results['corpus']['test']} test clips); stars: trained generators")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
