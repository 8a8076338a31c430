"""One masker's row of the results: what the cloud keeps (intent and scenario accuracy of the
SLU fine-tuned on the masked audio) and what each attacker still gets from it (WER and entity
error of the passive, adaptive and off-the-shelf ASRs, WER on accompanying speech, speaker
accuracy), as the SILENCE paper measures them."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from .masks import masked, speech_mask_ratio

#: A masker: clips [N, samples] -> binary segment masks [N, k].
Masker = Callable[[np.ndarray], np.ndarray]


def no_mask(segments: int) -> Masker:
    """The identity masker: every segment kept (the `none` row)."""
    return lambda audio: np.ones((len(audio), segments), np.float32)


def evaluate(run, refs, name: str, masker: Masker, full: bool) -> dict:
    """`masker`'s row on the test split. The cloud SLU and the adaptive ASR are fine-tuned on
    the masked train clips with the same budgets for every masker (the unmasked row too). With
    `full`, also the off-the-shelf ASR, accompanying speech and the speaker attacker."""
    from ..attacks.speaker import train_speaker_classifier
    from ..mask.train import mean_kl
    from ..metrics import entity_error_rate, intent_guess_transcripts, word_error_rate
    from ..slu import fine_tune_on_masked

    cfg, train, test = run.cfg, run.train, run.test
    t0 = time.perf_counter()
    train_masks, test_masks = masker(train.audio), masker(test.audio)
    m_train, m_test = masked(train, train_masks), masked(test, test_masks)
    cloud = fine_tune_on_masked(refs.local, m_train, None, cfg.cloud_epochs, cfg.seed,
                                progress=run.progress)
    adaptive = refs.asr.fine_tune(m_train, cfg.adaptive_epochs, cfg.seed, progress=run.progress)
    heard = np.array(cloud.predict_intents(m_test))
    truth = np.array(test.intents)
    local_masked = refs.local.logits(m_test.audio)
    hyps = {"passive": refs.asr.transcribe(m_test.audio),
            "adaptive": adaptive.transcribe(m_test.audio)}
    row = {"intent_acc": float(np.mean(heard == truth)),
           "scenario_acc": _scenario_accuracy(run.corpus, test, heard),
           "intent_acc_local": _accuracy(refs.local, local_masked, test),
           "mask_ratio": float(1.0 - test_masks.mean()),
           "speech_mask_ratio": speech_mask_ratio(test.audio, test_masks),
           "test_kl": mean_kl(refs.local_clean, local_masked),
           "wer_intent_guess": word_error_rate(test.transcripts, intent_guess_transcripts(
               train.transcripts, train.intents, list(heard)))}
    ids = np.arange(len(test))
    if full:
        ids = ids[:cfg.offtheshelf_clips]
        hyps["offtheshelf"] = _pocketsphinx(m_test.audio[ids])
    for who in ("passive", "adaptive", "offtheshelf"):
        got = hyps.get(who)
        sub = ids if who == "offtheshelf" else np.arange(len(test))
        refs_text = [test.transcripts[i] for i in sub]
        row[f"wer_{who}"] = word_error_rate(refs_text, got) if got is not None else None
        row[f"entity_error_{who}"] = (
            entity_error_rate(refs_text, [test.entities[i] for i in sub], got)
            if got is not None and test.entities and any(test.entities[i] for i in sub)
            else None)
    row["wer_accompanying"] = row["speaker_acc"] = None
    if full:
        acc = run.accompanying_test
        if acc is not None:
            m_acc = masked(acc, masker(acc.audio))
            row["wer_accompanying"] = word_error_rate(acc.transcripts,
                                                      refs.asr.transcribe(m_acc.audio))
        spk_train, spk_test = _speaker_sets(run, m_train, m_test)
        row["speaker_acc"] = train_speaker_classifier(
            spk_train, cfg.speaker_epochs, cfg.seed).accuracy(spk_test)
    run.clock(f"evaluate_{name}", t0)
    run.say(f"{name}: mask ratio {row['mask_ratio']:.2f} (speech "
            f"{row['speech_mask_ratio']:.2f}), test KL {row['test_kl']:.3f}, intent accuracy "
            f"{row['intent_acc']:.3f}, WER passive {row['wer_passive']:.3f} / adaptive "
            f"{row['wer_adaptive']:.3f}"
            + (f" / off-the-shelf {row['wer_offtheshelf']:.3f}" if full else "")
            + (f", entity error adaptive {row['entity_error_adaptive']:.3f}"
               if row["entity_error_adaptive"] is not None else ""))
    return row


def _speaker_sets(run, m_train, m_test):
    """The speaker attacker's (train, test) clips: the test split where its speakers also
    speak in training; else (speaker-disjoint corpora) a split of the training clips."""
    if run.train_speakers_cover_test:
        return m_train, m_test
    return m_train.split(0.25, seed=run.cfg.seed)


def _scenario_accuracy(corpus, test, heard: np.ndarray) -> float | None:
    """Share of test clips whose heard intent belongs to the true intent's scenario."""
    if not test.scenarios:
        return None
    scenario_of = dict(zip(corpus.intents, corpus.scenarios))
    return float(np.mean([scenario_of.get(h, "") == s for h, s in zip(heard, test.scenarios)]))


def _accuracy(slu, logits: np.ndarray, corpus) -> float:
    """Share of `corpus` clips whose top intent in `logits` (of `slu`) is right."""
    heard = np.array(slu.intent_names)[logits.argmax(axis=1)]
    return float(np.mean(heard == np.array(corpus.intents)))


def _pocketsphinx(audio: np.ndarray) -> list[str]:
    from ..attacks.asr import pocketsphinx_transcribe

    return [pocketsphinx_transcribe(a) for a in audio]
