"""The attacker's language model: the words, word pairs and entity values its recogniser
heard in training.

A CTC recogniser decoded greedily spells each word by its sounds alone: eSpeak says "four"
and "for" alike, and a name heard once comes out a letter or two off. Every real recogniser
decodes with a language model (Whisper's decoder, a word n-gram in CTC beam search), and so
does this attacker. Its model is a class bigram, as spoken-command recognisers use: in the
training transcripts each entity word (a word inside an entity span) is replaced by its
type's class token ("<person>"), bigrams are counted over those tokens, and a class emits
its words with their training frequencies. `Lexicon.spell` re-spells a decoded transcript as
the word sequence w (each word read as itself or as a class it was heard in) maximising

    sum_i  log P(token_i | token_{i-1}) + log P(w_i | token_i)  -  EDIT_COST x edits(decoded_i, w_i)

(a noisy channel with a cost per character edit), searched exactly by Viterbi over each
decoded word's candidates: the training words within about 40 % of its length in edits and
the nearest training word. A decoded word with no training word nearer than its own length
stays as decoded (an unknown word).
"""

from __future__ import annotations

import math

from ..audio import AudioError

EDIT_COST = 3.0         # nats per character edit: one edit is worth a 20x likelier word
PRIOR_WEIGHT = 2.0      # pseudo-counts of the unigram distribution in each bigram estimate
START, END = "<s>", "</s>"


class Lexicon:
    """The language model of training `transcripts` (already normalised: lower case words
    separated by spaces) with, per transcript, its entity spans (start, end, type) over its
    words (none: a word bigram)."""

    def __init__(self, transcripts, entities=None):
        transcripts = list(transcripts)
        entities = list(entities) if entities is not None else [()] * len(transcripts)
        self.tokens: dict[str, int] = {}              # token counts (words and classes)
        self.bigrams: dict[tuple[str, str], int] = {}
        self.contexts: dict[str, int] = {}
        self.emits: dict[str, dict[str, int]] = {}    # class -> word -> count
        words_seen: dict[str, int] = {}
        for text, spans in zip(transcripts, entities):
            words = text.split()
            tokens = list(words)
            for start, end, kind in spans:
                for i in range(start, min(end, len(words))):
                    tokens[i] = f"<{kind}>"
                    emit = self.emits.setdefault(tokens[i], {})
                    emit[words[i]] = emit.get(words[i], 0) + 1
            for w in words:
                words_seen[w] = words_seen.get(w, 0) + 1
            for t in tokens:
                self.tokens[t] = self.tokens.get(t, 0) + 1
            for pair in zip([START, *tokens], [*tokens, END]):
                self.bigrams[pair] = self.bigrams.get(pair, 0) + 1
                self.contexts[pair[0]] = self.contexts.get(pair[0], 0) + 1
        if not words_seen:
            raise AudioError("a lexicon needs at least one word")
        self.words = sorted(words_seen, key=lambda w: (-words_seen[w], w))
        self._counts = words_seen
        self._total = sum(self.tokens.values()) + len(self.tokens) + 1
        self._classes: dict[str, list[tuple[str, float]]] = {}
        for kind, emit in self.emits.items():
            total = sum(emit.values())
            for w, c in emit.items():
                self._classes.setdefault(w, []).append((kind, math.log(c / total)))
        self._candidates: dict[str, list[tuple[str, int]]] = {}

    def spell(self, text: str) -> str:
        """`text` re-spelt as the likeliest sequence of training words (module docstring)."""
        if not text.split():
            return ""
        # Viterbi over (token, word) states: state -> (score, words so far)
        best = {START: (0.0, [])}
        for word in text.split():
            step = {}
            for cand, edits in self.candidates(word):
                for token, emit in [(cand, 0.0), *self._classes.get(cand, [])]:
                    score, path = max(((s + self.log_p(prev, token), p) for prev, (s, p)
                                       in best.items()), key=lambda t: t[0])
                    score += emit - EDIT_COST * edits
                    if token not in step or score > step[token][0]:
                        step[token] = (score, path + [cand])
            best = step
        return " ".join(max(((s + self.log_p(prev, END), p) for prev, (s, p) in best.items()),
                            key=lambda t: t[0])[1])

    def log_p(self, previous: str, token: str) -> float:
        """log P(token | previous token): the bigram count interpolated with the add-one
        unigram probability (an unseen token gets one count's share)."""
        unigram = (self.tokens.get(token, 0) + 1) / self._total
        pair = self.bigrams.get((previous, token), 0)
        return math.log((pair + PRIOR_WEIGHT * unigram)
                        / (self.contexts.get(previous, 0) + PRIOR_WEIGHT))

    def candidates(self, word: str) -> list[tuple[str, int]]:
        """(training word, edits) pairs `word` may stand for: those within
        max(1, round(0.4 x len(word))) edits, widened to the nearest training word if it is
        nearer than `word` is long; else `word` itself (unknown) with no edits."""
        if word not in self._candidates:
            reach = max(1, round(0.4 * len(word)))
            limit = reach if word in self._counts else len(word) - 1
            near = [(w, e) for w in self.words
                    if (e := _char_edits(word, w, limit + 1)) <= limit]
            if near:
                reach = max(reach, min(e for _, e in near))
                near = [(w, e) for w, e in near if e <= reach]
            self._candidates[word] = near or [(word, 0)]
        return self._candidates[word]


def _char_edits(a: str, b: str, limit: int) -> int:
    """Levenshtein distance of two words, or `limit` when it is at least that."""
    if abs(len(a) - len(b)) >= limit:
        return limit
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        diag, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (ca != cb))
        if min(row) >= limit:
            return limit
    return min(row[-1], limit)
