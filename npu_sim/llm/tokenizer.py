"""Tokenizers rebuilt from GGUF metadata with the `tokenizers` library.

* ``llama`` (SentencePiece-style, e.g. stories260K): tokens with scores, 256 ``<0xXX>`` byte
  tokens, no merges list. The BPE merges are derived from the vocabulary: every token that
  splits into two vocabulary tokens yields a merge, ranked by the merged token's score (higher
  first), which is how SentencePiece's BPE picks the pair to merge. Text is prefixed with "▁",
  spaces become "▁", unknown characters fall back to bytes.
* ``gpt2`` (byte-level BPE, e.g. SmolLM2): tokens and the merges list from the file, split of
  digits into single digits and the byte-level pre-tokeniser without a prefix space.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgesim.errors import ModelFormatError

SPIECE_SPACE = "\u2581"


@dataclass
class Tokenizer:
    """Text <-> token ids for one model, with its special tokens."""

    kind: str                   # "llama" or "gpt2"
    backend: object             # a tokenizers.Tokenizer
    bos_id: int | None
    eos_id: int | None
    add_bos: bool               # prepend BOS when encoding a prompt

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size()

    def encode(self, text: str, bos: bool | None = None) -> list[int]:
        """Ids of `text`; BOS first when `bos` (default: the model's add_bos)."""
        ids = self.backend.encode(text, add_special_tokens=False).ids
        if (self.add_bos if bos is None else bos) and self.bos_id is not None:
            ids = [self.bos_id] + ids
        return ids

    def encode_continuation(self, text: str) -> list[int]:
        """Ids of `text` as it continues a prompt (no BOS). For ``llama`` the leading space of
        `text` becomes the "▁" of its first word: the normaliser's own prefix "▁", which
        then stands alone, is dropped."""
        ids = self.backend.encode(text, add_special_tokens=False).ids
        if self.kind == "llama" and text.startswith(" "):
            lone = self.backend.token_to_id(SPIECE_SPACE)
            if len(ids) > 1 and ids[0] == lone:
                ids = ids[1:]
        return ids

    def decode(self, ids: list[int]) -> str:
        return self.backend.decode([int(i) for i in ids], skip_special_tokens=True)

    def decode_continuation(self, prompt_ids: list[int], new_ids: list[int]) -> str:
        """The text `new_ids` add after `prompt_ids` (with its leading space, which decoding
        the new ids alone would strip for ``llama``)."""
        head = self.decode(prompt_ids)
        full = self.decode(list(prompt_ids) + list(new_ids))
        return full[len(head):] if full.startswith(head) else self.decode(new_ids)

    def token(self, i: int) -> str:
        return self.backend.id_to_token(int(i))


def from_gguf_fields(fields: dict) -> Tokenizer:
    """Build the tokenizer from `fields` (GGUF key -> value, already decoded)."""
    from tokenizers import Tokenizer as HfTokenizer
    from tokenizers import decoders, models, normalizers, pre_tokenizers

    kind = fields.get("tokenizer.ggml.model")
    tokens = fields.get("tokenizer.ggml.tokens")
    if not tokens:
        raise ModelFormatError("GGUF file has no tokenizer (tokenizer.ggml.tokens missing)")
    vocab = {t: i for i, t in enumerate(tokens)}
    bos, eos = fields.get("tokenizer.ggml.bos_token_id"), fields.get("tokenizer.ggml.eos_token_id")
    if kind == "llama":
        scores = fields.get("tokenizer.ggml.scores")
        if scores is None or len(scores) != len(tokens):
            raise ModelFormatError("llama tokenizer without one score per token")
        merges = _merges_from_scores(tokens, scores)
        unk = tokens[fields.get("tokenizer.ggml.unknown_token_id", 0)]
        backend = HfTokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=unk,
                                         byte_fallback=True, fuse_unk=True))
        backend.normalizer = normalizers.Sequence([normalizers.Prepend(SPIECE_SPACE),
                                                   normalizers.Replace(" ", SPIECE_SPACE)])
        backend.decoder = decoders.Sequence([decoders.Replace(SPIECE_SPACE, " "),
                                             decoders.ByteFallback(), decoders.Fuse(),
                                             decoders.Strip(" ", 1, 0)])
        add_bos = fields.get("tokenizer.ggml.add_bos_token", True)
    elif kind == "gpt2":
        raw = fields.get("tokenizer.ggml.merges")
        if not raw:
            raise ModelFormatError("gpt2 tokenizer without merges (tokenizer.ggml.merges)")
        merges = [tuple(m.split(" ", 1)) for m in raw]
        backend = HfTokenizer(models.BPE(vocab=vocab, merges=merges))
        backend.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
        backend.decoder = decoders.ByteLevel()
        add_bos = fields.get("tokenizer.ggml.add_bos_token", False)
    else:
        raise ModelFormatError(f"unsupported tokenizer model {kind!r} (llama and gpt2 are)")
    specials = [tokens[i] for i in (bos, eos) if i is not None and 0 <= i < len(tokens)]
    backend.add_special_tokens(specials)
    return Tokenizer(kind, backend, bos, eos, bool(add_bos))


def _merges_from_scores(tokens: list[str], scores) -> list[tuple[str, str]]:
    vocab = set(tokens)
    found = []
    for i, t in enumerate(tokens):
        if len(t) < 2 or (t.startswith("<") and t.endswith(">")):
            continue
        for cut in range(1, len(t)):
            left, right = t[:cut], t[cut:]
            if left in vocab and right in vocab:
                found.append((-float(scores[i]), i, left, right))
    found.sort()
    return [(left, right) for _, _, left, right in found]
