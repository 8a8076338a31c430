"""The stages of `edgesim speech train`, in order: data, reference models, mask generators,
the rows of the maskers and the privacy/utility curve. Each takes what the earlier ones made;
one masker's row is evaluate.py."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .config import Stopwatch, TrainConfig
from .evaluate import evaluate, no_mask
from .masks import ranked_masks


@dataclass
class Run:
    """What every stage shares: the configuration, the data, the clock and the commentary."""

    cfg: TrainConfig
    clock: Stopwatch
    progress: bool
    say: object                      # print-like: the running commentary
    corpus: object = None
    train: object = None
    test: object = None
    fit: object = None               # the train clips the local SLU and the generators learn
    validation: object = None        # the rest: where the operating threshold is set
    accompanying_test: object = None

    @property
    def train_speakers_cover_test(self) -> bool:
        """Whether every test voice also speaks in training (no voices held out)."""
        return not self.corpus.test_speakers


def load_data(run: Run) -> None:
    """The command corpus and its (train, test) split: speaker- and entity-value-disjoint
    where the corpus holds speakers out; the accompanying sentences at the same clip length,
    split the same way."""
    from ..corpus import load_corpus, synthetic_corpus
    from ..corpus.accompanying import NAME as ACCOMPANYING
    from ..mask.gate import MaskError

    cfg, t = run.cfg, time.perf_counter()
    corpus = load_corpus(cfg.corpus, cfg.utterances_per_intent, cfg.seed, run.progress)
    if cfg.segments < 1 or corpus.audio.shape[1] % cfg.segments:
        raise MaskError(f"segments={cfg.segments} does not divide a "
                        f"{corpus.audio.shape[1]}-sample clip")
    run.corpus = corpus
    if corpus.test_speakers:
        run.train, run.test = corpus.split_by_speaker()
    else:
        run.train, run.test = corpus.split(seed=cfg.seed)
    run.fit, run.validation = validation_split(run.train, cfg.validation_share, cfg.seed,
                                               by_speaker=not run.train_speakers_cover_test)
    if cfg.accompanying:
        seconds = corpus.audio.shape[1] / corpus.sample_rate
        acc = synthetic_corpus(cfg.accompanying, cfg.seed, seconds, run.progress, ACCOMPANYING)
        run.accompanying_test = acc.split_by_speaker()[1]
    run.clock("corpus", t)
    run.say(f"corpus {cfg.corpus}: {len(corpus)} clips ({len(run.train)} train, "
            f"{len(run.test)} test), {len(corpus.intent_names())} intents, "
            f"{len(corpus.speaker_names())} speakers"
            + (f"; {len(run.accompanying_test)} accompanying test sentences"
               if run.accompanying_test is not None else ""))


@dataclass
class References:
    """The models trained on clean audio."""

    local: object                 # the local SLU: the intent model the mask must preserve
    asr: object                   # the passive attacker: CTC ASR trained on clean speech
    local_clean: np.ndarray       # the local SLU's logits on the clean test clips (KL reference)
    reference: dict               # what the intent alone gives away, speaker chance


def train_references(run: Run) -> References:
    """The local SLU on the fit clips (not the validation voices, so that the KL the
    operating threshold sees there is the KL of voices the SLU never heard, as on test); the
    passive ASR on the attacker's own speech (corpus.attacker_corpus: the commands with
    every entity value and free sentences, by the training voices), whose words are its
    lexicon."""
    from ..attacks.asr import train_asr
    from ..corpus import attacker_corpus
    from ..metrics import intent_guess_transcripts, word_error_rate
    from ..slu import train_slu

    cfg, train, test = run.cfg, run.train, run.test
    t = time.perf_counter()
    local = train_slu(run.fit, cfg.slu_epochs, cfg.seed, progress=run.progress,
                      drop=tuple(cfg.slu_drop) if cfg.slu_drop else None,
                      segments=cfg.segments, clean_share=cfg.slu_clean_share)
    run.clock("local_slu", t)
    t = time.perf_counter()
    speech = attacker_corpus(cfg.corpus, cfg.attacker_utterances_per_intent,
                             cfg.attacker_sentences, cfg.seed, run.progress)
    run.clock("attacker_corpus", t)
    t = time.perf_counter()
    asr = train_asr(speech, cfg.asr_epochs, cfg.seed, progress=run.progress)
    run.clock("asr", t)
    speakers = len(set(train.speakers))
    reference = {"wer_intent_oracle": word_error_rate(test.transcripts, intent_guess_transcripts(
                     train.transcripts, train.intents, test.intents)),
                 "speaker_chance": 1.0 / speakers, "offtheshelf_clips":
                     min(cfg.offtheshelf_clips, len(test))}
    return References(local, asr, local.logits(test.audio), reference)


def train_generators(run: Run, refs: References, out) -> tuple[dict, dict]:
    """({variant: generator}, {variant: training log}); each generator is trained on most of
    the train split, its operating threshold set on the rest (validation: the KL bound must
    hold on clips the generator never saw, mask/calibrate.py), and saved into `out`."""
    from ..mask.calibrate import operating_threshold
    from ..mask.generator import GeneratorConfig, build_generator, save_generator
    from ..mask.train import train_mask_generator
    from ..results import generator_path

    cfg, fit, val = run.cfg, run.fit, run.validation
    val_clean = refs.local.logits(val.audio)
    generators, logs = {}, {}
    for variant in cfg.variants:
        t = time.perf_counter()
        gen = build_generator(variant, GeneratorConfig(samples=run.corpus.audio.shape[1],
                                                       segments=cfg.segments), cfg.seed)
        logs[variant] = train_mask_generator(
            gen, refs.local.keras, fit.audio, cfg.mask_steps, cfg.mask_batch,
            cfg.mask_lr[variant], cfg.gamma, seed=cfg.seed, progress=run.progress,
            anneal=cfg.mask_anneal)
        gen.threshold, val_kl, bound = operating_threshold(
            gen, refs.local, val.audio, cfg.gamma, clean=val_clean,
            confidence=cfg.kl_confidence)
        logs[variant].validation = {"clips": len(val), "threshold": gen.threshold,
                                    "kl": val_kl, "kl_bound": bound}
        run.clock(f"mask_generator_{variant.lower()}", t)
        run.say(f"mask generator {variant}: operating threshold {gen.threshold:.3f}, "
                f"validation KL {val_kl:.4f} (upper {cfg.kl_confidence:.0%} bound {bound:.4f}) "
                f"on {len(val)} clips (gamma {cfg.gamma})")
        save_generator(gen, out / generator_path(variant).name)
        generators[variant] = gen
    return generators, logs


def validation_split(train, share: float, seed: int, by_speaker: bool):
    """(fit, validation) of the train split. `by_speaker`: the validation clips are those of
    round(share x voices) training voices (at least one), as the test split holds voices out,
    so that the operating point is set on voices the generator never heard; else a split
    stratified by intent."""
    if not by_speaker:
        return train.split(share, seed=seed + 1)
    voices = np.random.default_rng(seed).permutation(train.speaker_names())
    held = voices[:max(1, round(share * len(voices)))]
    is_val = np.isin(np.array(train.speakers), held)
    return train.subset(~is_val), train.subset(is_val)


def evaluate_maskers(run: Run, refs: References, generators: dict, logs: dict) -> dict:
    """Rows `none` (every segment kept), each trained generator and `random` (at
    cfg.random_ratio); the generators' rows carry their training logs."""
    from ..mask.generator import RandomMask

    cfg = run.cfg
    maskers = {"none": evaluate(run, refs, "none", no_mask(cfg.segments), True)}
    for variant, gen in generators.items():
        maskers[variant] = evaluate(run, refs, f"mask generator {variant}", gen.masks, True)
        maskers[variant]["training"] = logs[variant].to_dict()
    rand = RandomMask(cfg.segments, 1.0 - cfg.random_ratio, cfg.seed)
    maskers["random"] = evaluate(run, refs, f"random mask {cfg.random_ratio:.2f}", rand.masks,
                                 True)
    return maskers


def privacy_curve(run: Run, refs: References, generators: dict) -> list[dict]:
    """Per ratio of cfg.curve_ratios: Random masks and the S generator's ranking (keep the
    segments with the highest gate logits), each evaluated with its own fine-tuned models."""
    from ..mask.generator import RandomMask

    cfg = run.cfg
    ranker = generators.get("S") or next(iter(generators.values()), None)
    # the ranking's gate logits, once per split (evaluate masks the two splits only)
    scores = ({id(a): ranker.log_alpha(a) for a in (run.train.audio, run.test.audio)}
              if ranker is not None else {})
    curve = []
    for ratio in cfg.curve_ratios:
        points = [("random", RandomMask(cfg.segments, 1.0 - ratio, cfg.seed + 1).masks)]
        if ranker is not None:
            points.append((ranker.variant, lambda audio, r=ratio: ranked_masks(
                scores[id(audio)], r)))
        for name, masker in points:
            row = evaluate(run, refs, f"curve {name} {ratio:.2f}", masker, False)
            curve.append({"masker": name, **{k: row[k] for k in CURVE_KEYS}})
    return curve


CURVE_KEYS = ("mask_ratio", "speech_mask_ratio", "test_kl", "intent_acc", "intent_acc_local",
              "wer_passive", "wer_adaptive", "entity_error_adaptive", "wer_intent_guess")
