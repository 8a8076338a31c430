"""Speech corpora synthesised with eSpeak NG, seeded and cached: "fsc-style" (the default;
home-automation commands after Fluent Speech Commands, the intent fixes nearly every word),
"slurp-style" (assistant commands after SLURP: scenarios, actions and entity slots whose values
the intent does not fix; speaker- and value-disjoint train and test) and the accompanying
free sentences for WER on general speech (`accompanying_corpus`).

    core.py          SpeechCorpus (clips, labels, entity spans, splits), Utterance
    synth.py         speaking a grammar's script (Rendering: every jitter range), the cache
    fsc.py           the FSC-style grammar
    slurp.py         the SLURP-style grammar; values.py its entity value lists
    slurp_attacker.py  the SLURP-style commands an attacker's recogniser trains on
    accompanying.py  the free-sentence grammar
"""

from __future__ import annotations

from ..audio import AudioError
from . import accompanying, fsc, slurp, slurp_attacker
from .core import Span, SpeechCorpus, Utterance
from .fsc import GRAMMAR, LOCATIONS, intents
from .synth import (GRAMMARS, LEAD_SECONDS, NOISE_SLOPE, PEAK, PITCH, PITCH_RANGE, RATE_WPM,
                    SNR_DB, TAIL_SECONDS, Rendering, cache_path, grammar, record,
                    synthetic_corpus)

#: The command corpora by name; the first is the default.
CORPORA = (fsc.NAME, slurp.NAME)
DEFAULT_CORPUS = fsc.NAME
DEFAULT_UTTERANCES_PER_INTENT = fsc.DEFAULT_UTTERANCES_PER_INTENT
DEFAULT_SEED = 0


def load_corpus(name: str = DEFAULT_CORPUS, utterances_per_intent: int | None = None,
                seed: int = DEFAULT_SEED, progress: bool = True) -> SpeechCorpus:
    """Command corpus `name` at its own clip length, `utterances_per_intent` clips per intent
    (default: the corpus's own); synthesised on first use and cached. For "slurp-style",
    `split_by_speaker()` gives the speaker- and value-disjoint (train, test) split."""
    if name not in CORPORA:
        raise AudioError(f"unknown corpus {name!r} (known: {', '.join(CORPORA)})")
    per_intent = utterances_per_intent or grammar(name).DEFAULT_UTTERANCES_PER_INTENT
    return synthetic_corpus(per_intent, seed, None, progress, name)


def load_default_corpus(utterances_per_intent: int = DEFAULT_UTTERANCES_PER_INTENT,
                        seed: int = DEFAULT_SEED, progress: bool = True) -> SpeechCorpus:
    """The project's default corpus (what `edgesim speech corpus` and `train` use): 28
    intents x `utterances_per_intent` synthetic clips of 4 s at 16 kHz (64000 samples),
    12 eSpeak voices as speakers; synthesised on first use (a few seconds) and cached.
    `corpus.split()` gives the (train, test) split that `edgesim speech train` uses."""
    return synthetic_corpus(utterances_per_intent, seed, 4.0, progress)


def accompanying_corpus(n: int = accompanying.DEFAULT_SENTENCES, seed: int = DEFAULT_SEED,
                        progress: bool = True) -> SpeechCorpus:
    """`n` free sentences (intent "none"), spoken by the same voices as the command corpora,
    with the slurp-style held-out speakers; cached like them."""
    return synthetic_corpus(n, seed, None, progress, accompanying.NAME)


#: Per command corpus, the grammar of the commands an attacker's recogniser trains on: the
#: slurp-style attacker hears every entity value but never a held-out voice; the FSC-style
#: corpus has neither, so its attacker hears fresh recordings of its own grammar.
ATTACKER_GRAMMARS = {fsc.NAME: fsc.NAME, slurp.NAME: slurp_attacker.NAME}
#: Added to the run's seed for the attacker's recordings, so that they are never the run's.
ATTACKER_SEED = 1000


def attacker_corpus(name: str, utterances_per_intent: int, sentences: int, seed: int = DEFAULT_SEED,
                    progress: bool = True) -> SpeechCorpus:
    """The speech an attacker's recogniser trains on for command corpus `name`:
    `utterances_per_intent` commands of each intent (ATTACKER_GRAMMARS) and the training
    voices' share of `sentences` accompanying sentences, recorded with seed
    `seed + ATTACKER_SEED` (none of the run's clips); synthesised on first use and cached."""
    if name not in ATTACKER_GRAMMARS:
        raise AudioError(f"unknown corpus {name!r} (known: {', '.join(CORPORA)})")
    commands = synthetic_corpus(utterances_per_intent, seed + ATTACKER_SEED, None, progress,
                                ATTACKER_GRAMMARS[name])
    if not sentences:
        return commands
    seconds = commands.audio.shape[1] / commands.sample_rate
    free = synthetic_corpus(sentences, seed + ATTACKER_SEED, seconds, progress,
                            accompanying.NAME).split_by_speaker()[0]
    return commands.concatenate(free)


__all__ = ["CORPORA", "DEFAULT_CORPUS", "DEFAULT_SEED", "DEFAULT_UTTERANCES_PER_INTENT",
           "ATTACKER_GRAMMARS", "ATTACKER_SEED", "GRAMMAR", "GRAMMARS", "LEAD_SECONDS", "LOCATIONS", "NOISE_SLOPE", "PEAK", "PITCH",
           "PITCH_RANGE", "RATE_WPM", "SNR_DB", "TAIL_SECONDS", "Rendering", "Span",
           "SpeechCorpus", "Utterance", "accompanying_corpus", "cache_path", "grammar",
           "intents", "load_corpus", "load_default_corpus", "record", "synthetic_corpus"]
