"""The stages of `edgesim speech train`, in order: data, reference models, mask generators,
the evaluation of one masker (cloud SLU and attackers fine-tuned on its masked audio), the
trained maskers and the privacy/utility curve. Each takes what the earlier ones made."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .config import Stopwatch, TrainConfig
from .masks import masked, ranked_masks, speech_mask_ratio


@dataclass
class Run:
    """What every stage shares: the configuration, the split, the clock and the outputs."""

    cfg: TrainConfig
    clock: Stopwatch
    progress: bool
    say: object                   # print-like: the running commentary
    corpus: object = None
    train: object = None
    test: object = None


def load_data(run: Run) -> None:
    """The default corpus and its (train, test) split."""
    from ..corpus import load_default_corpus
    from ..mask.gate import MaskError

    cfg, t = run.cfg, time.perf_counter()
    corpus = load_default_corpus(cfg.utterances_per_intent, cfg.seed, run.progress)
    if cfg.segments < 1 or corpus.audio.shape[1] % cfg.segments:
        raise MaskError(f"segments={cfg.segments} does not divide a "
                        f"{corpus.audio.shape[1]}-sample clip")
    run.corpus = corpus
    run.train, run.test = corpus.split(seed=cfg.seed)
    run.clock("corpus", t)
    run.say(f"corpus: {len(corpus)} clips ({len(run.train)} train, {len(run.test)} test), "
            f"{len(corpus.intent_names())} intents, {len(corpus.speaker_names())} speakers")


@dataclass
class References:
    """The models trained on clean audio, and what they score unmasked."""

    local: object                 # the local SLU: the intent model the mask must preserve
    asr: object                   # the passive attacker: CTC ASR trained on clean clips
    speaker: object               # speaker classifier trained on clean clips
    local_clean: np.ndarray       # the local SLU's logits on the clean test clips (KL reference)
    unmasked: dict


def train_references(run: Run) -> References:
    from ..attacks.asr import train_asr
    from ..attacks.speaker import train_speaker_classifier
    from ..metrics import intent_guess_transcripts, word_error_rate
    from ..slu import fine_tune_on_masked, train_slu

    cfg, train, test = run.cfg, run.train, run.test
    t = time.perf_counter()
    local = train_slu(train, cfg.slu_epochs, cfg.seed, progress=run.progress,
                      drop=tuple(cfg.slu_drop) if cfg.slu_drop else None,
                      segments=cfg.segments, clean_share=cfg.slu_clean_share)
    run.clock("local_slu", t)
    t = time.perf_counter()
    asr = train_asr(train, cfg.asr_epochs, cfg.seed, progress=run.progress)
    run.clock("asr", t)
    t = time.perf_counter()
    speaker = train_speaker_classifier(train, cfg.speaker_epochs, cfg.seed)
    run.clock("speaker", t)
    # The unmasked reference gets the same extra training as every cloud SLU below (the
    # local SLU fine-tuned cloud_epochs more, here on clean audio), so that differences in
    # intent accuracy come from the masks, not from the training budget.
    t = time.perf_counter()
    cloud = fine_tune_on_masked(local, train, None, cfg.cloud_epochs, cfg.seed,
                                progress=run.progress)
    run.clock("cloud_slu_clean", t)
    local_clean = local.logits(test.audio)
    unmasked = {"intent_accuracy": cloud.accuracy(test),
                "intent_accuracy_local": accuracy(local, local_clean, test),
                "wer_asr": word_error_rate(test.transcripts, asr.transcribe(test.audio)),
                "wer_intent_oracle": word_error_rate(test.transcripts, intent_guess_transcripts(
                    train.transcripts, train.intents, test.intents)),
                "speaker_accuracy": speaker.accuracy(test)}
    run.say(f"unmasked: intent accuracy {unmasked['intent_accuracy']:.3f} (local SLU "
            f"{unmasked['intent_accuracy_local']:.3f}), ASR WER {unmasked['wer_asr']:.3f}, "
            f"speaker accuracy {unmasked['speaker_accuracy']:.3f}; an attacker who knows "
            f"only the intent: WER {unmasked['wer_intent_oracle']:.3f}")
    return References(local, asr, speaker, local_clean, unmasked)


def train_generators(run: Run, refs: References, out) -> tuple[dict, dict]:
    """({variant: generator}, {variant: training log}); each generator saved into `out`."""
    from ..mask.generator import GeneratorConfig, build_generator, save_generator
    from ..mask.train import train_mask_generator
    from ..results import generator_path

    cfg = run.cfg
    generators, logs = {}, {}
    for variant in cfg.variants:
        gen = build_generator(variant, GeneratorConfig(samples=run.corpus.audio.shape[1],
                                                       segments=cfg.segments), cfg.seed)
        logs[variant] = train_mask_generator(gen, refs.local.keras, run.train.audio,
                                             cfg.mask_steps, cfg.mask_batch, cfg.mask_lr,
                                             cfg.gamma, seed=cfg.seed, progress=run.progress,
                                             anneal=cfg.mask_anneal)
        run.clock(f"mask_generator_{variant.lower()}",
                  time.perf_counter() - logs[variant].seconds)
        save_generator(gen, out / generator_path(variant).name)
        generators[variant] = gen
    return generators, logs


def evaluate(run: Run, refs: References, name: str, train_masks: np.ndarray,
             test_masks: np.ndarray, speaker: bool) -> dict:
    """One masker's row: the cloud SLU and the adaptive ASR fine-tuned on its masked train
    clips, scored on its masked test clips with the passive ASR, the intent-guess attacker
    and (if `speaker`) a speaker classifier trained on masked clips."""
    from ..attacks.speaker import train_speaker_classifier
    from ..mask.train import mean_kl
    from ..metrics import intent_guess_transcripts, word_error_rate
    from ..slu import fine_tune_on_masked

    cfg, train, test = run.cfg, run.train, run.test
    t0 = time.perf_counter()
    m_train, m_test = masked(train, train_masks), masked(test, test_masks)
    cloud = fine_tune_on_masked(refs.local, m_train, None, cfg.cloud_epochs, cfg.seed,
                                progress=run.progress)
    adaptive = refs.asr.fine_tune(m_train, cfg.adaptive_epochs, cfg.seed, progress=run.progress)
    heard = cloud.predict_intents(m_test)
    local_masked = refs.local.logits(m_test.audio)

    def wer(model) -> float:
        return word_error_rate(test.transcripts, model.transcribe(m_test.audio))

    row = {"mask_ratio": float(1.0 - test_masks.mean()),
           "speech_mask_ratio": speech_mask_ratio(test.audio, test_masks),
           "kl": mean_kl(refs.local_clean, local_masked),
           "intent_accuracy_local": accuracy(refs.local, local_masked, test),
           "intent_accuracy": float(np.mean(np.array(heard) == np.array(test.intents))),
           "wer_asr": wer(refs.asr), "wer_adaptive": wer(adaptive),
           "wer_intent_guess": word_error_rate(test.transcripts, intent_guess_transcripts(
               train.transcripts, train.intents, heard))}
    if speaker:
        row["speaker_accuracy"] = train_speaker_classifier(
            m_train, cfg.speaker_epochs, cfg.seed).accuracy(m_test)
    run.clock(f"evaluate_{name}", t0)
    run.say(f"{name}: mask ratio {row['mask_ratio']:.2f} (speech "
            f"{row['speech_mask_ratio']:.2f}), intent accuracy {row['intent_accuracy']:.3f} "
            f"(local SLU {row['intent_accuracy_local']:.3f}), WER {row['wer_asr']:.3f} / "
            f"adaptive {row['wer_adaptive']:.3f} / intent guess "
            f"{row['wer_intent_guess']:.3f}"
            + (f", speaker accuracy {row['speaker_accuracy']:.3f}" if speaker else ""))
    return row


def evaluate_maskers(run: Run, refs: References, generators: dict, logs: dict) -> dict:
    """The trained generators and Random at cfg.random_ratio, each with its training log."""
    from ..mask.generator import RandomMask

    cfg, train, test = run.cfg, run.train, run.test
    maskers = {}
    for variant, gen in generators.items():
        maskers[f"mask_generator_{variant.lower()}"] = evaluate(
            run, refs, f"mask generator {variant}", gen.masks(train.audio),
            gen.masks(test.audio), True)
    rand = RandomMask(cfg.segments, 1.0 - cfg.random_ratio, cfg.seed)
    maskers["random_mask"] = evaluate(run, refs, f"random mask {cfg.random_ratio:.2f}",
                                      rand.masks(train.audio), rand.masks(test.audio), True)
    for key, log in logs.items():
        maskers[f"mask_generator_{key.lower()}"]["training"] = log.to_dict()
    return maskers


def privacy_curve(run: Run, refs: References, generators: dict) -> list[dict]:
    """Per ratio of cfg.curve_ratios: Random masks and the S generator's ranking (keep the
    segments with the highest gate logits), each evaluated with its own fine-tuned models."""
    from ..mask.generator import RandomMask

    cfg, train, test = run.cfg, run.train, run.test
    ranker = generators.get("S") or next(iter(generators.values()), None)
    train_logits = ranker.log_alpha(train.audio) if ranker else None
    test_logits = ranker.log_alpha(test.audio) if ranker else None
    curve = []
    for ratio in cfg.curve_ratios:
        points = [("random_mask", RandomMask(cfg.segments, 1.0 - ratio, cfg.seed + 1))]
        if ranker is not None:
            points.append((f"mask_generator_{ranker.variant.lower()}", None))
        for name, rnd in points:
            if rnd is not None:
                tr_m, te_m = rnd.masks(train.audio), rnd.masks(test.audio)
            else:
                tr_m, te_m = ranked_masks(train_logits, ratio), ranked_masks(test_logits, ratio)
            row = evaluate(run, refs, f"curve {name} {ratio:.2f}", tr_m, te_m, False)
            curve.append({"masker": name, **{k: row[k] for k in (
                "mask_ratio", "speech_mask_ratio", "intent_accuracy", "intent_accuracy_local",
                "wer_asr", "wer_adaptive", "wer_intent_guess")}})
    return curve


def accuracy(slu, logits: np.ndarray, corpus) -> float:
    """Share of `corpus` clips whose top intent in `logits` (of `slu`, on those clips) is
    right."""
    heard = np.array(slu.intent_names)[logits.argmax(axis=1)]
    return float(np.mean(heard == np.array(corpus.intents)))
