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

import numpy as np

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


#: Special-token keys; a stored 0xFFFFFFFF (or -1) means "none", as in llama.cpp.
SPECIAL_IDS = ("bos", "eos", "unknown", "padding", "seperator", "cls", "mask")
NO_TOKEN = (0xFFFFFFFF, -1)
MAX_TOKEN_CHARS = 1024      # far above any real vocabulary's longest token


def from_gguf_fields(fields: dict, vocab: int | None = None,
                     source: str = "GGUF file") -> Tokenizer:
    """Build the tokenizer from `fields` (GGUF key -> value, already decoded), checking the
    token arrays (one entry per token of the `vocab` embedding rows, when given) and that
    every special token id lies in the vocabulary. `source` names the file in errors."""
    from tokenizers import Tokenizer as HfTokenizer
    from tokenizers import decoders, models, normalizers, pre_tokenizers

    def fail(problem: str):
        raise ModelFormatError(f"{source}: {problem}")

    kind = fields.get("tokenizer.ggml.model")
    tokens = _tokens(fields, vocab, fail)
    ids = {}
    for name in SPECIAL_IDS:
        value = fields.get(f"tokenizer.ggml.{name}_token_id")
        if value is None or isinstance(value, int) and not isinstance(value, bool) \
                and value in NO_TOKEN:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(tokens):
            fail(f"tokenizer.ggml.{name}_token_id = {value!r} is not a token id of the "
                 f"{len(tokens)}-token vocabulary")
        ids[name] = value
    bos, eos = ids.get("bos"), ids.get("eos")
    add_bos = fields.get("tokenizer.ggml.add_bos_token", kind == "llama")
    if not isinstance(add_bos, bool):
        fail(f"tokenizer.ggml.add_bos_token must be true or false, got {add_bos!r}")
    vocab_ids = {t: i for i, t in enumerate(tokens)}
    try:
        if kind == "llama":
            scores = fields.get("tokenizer.ggml.scores")
            if scores is None:
                fail("llama tokenizer without tokenizer.ggml.scores")
            merges = _merges_from_scores(tokens, scores)
            backend = HfTokenizer(models.BPE(vocab=vocab_ids, merges=merges,
                                             unk_token=tokens[ids.get("unknown", 0)],
                                             byte_fallback=True, fuse_unk=True))
            backend.normalizer = normalizers.Sequence([normalizers.Prepend(SPIECE_SPACE),
                                                       normalizers.Replace(" ", SPIECE_SPACE)])
            backend.decoder = decoders.Sequence([decoders.Replace(SPIECE_SPACE, " "),
                                                 decoders.ByteFallback(), decoders.Fuse(),
                                                 decoders.Strip(" ", 1, 0)])
        elif kind == "gpt2":
            merges = _merges_from_list(fields.get("tokenizer.ggml.merges"), vocab_ids, fail)
            backend = HfTokenizer(models.BPE(vocab=vocab_ids, merges=merges))
            backend.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
            backend.decoder = decoders.ByteLevel()
        else:
            fail(f"unsupported tokenizer model {kind!r} (llama and gpt2 are)")
        backend.add_special_tokens([tokens[i] for i in (bos, eos) if i is not None])
    except Exception as exc:            # noqa: BLE001 - the tokenizers library refused it
        if isinstance(exc, ModelFormatError):
            raise
        fail(f"tokenizer rejected: {' '.join(str(exc).split())[:120]}")
    return Tokenizer(kind, backend, bos, eos, add_bos)


def _tokens(fields: dict, vocab: int | None, fail) -> list[str]:
    tokens = fields.get("tokenizer.ggml.tokens")
    if not tokens:
        fail("no tokenizer (tokenizer.ggml.tokens missing)")
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        fail("tokenizer.ggml.tokens must be an array of strings")
    if vocab is not None and len(tokens) != vocab:
        fail(f"tokenizer has {len(tokens)} tokens, the embedding {vocab} rows")
    for key in ("tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        values = fields.get(key)
        if values is not None and (not isinstance(values, np.ndarray)
                                   or values.dtype.kind not in "iuf" or len(values) != len(tokens)
                                   or not np.isfinite(values).all()):
            fail(f"{key} must hold one finite number per token")
    if len(set(tokens)) != len(tokens):
        fail("tokenizer.ggml.tokens holds a token twice")
    if max(map(len, tokens)) > MAX_TOKEN_CHARS:
        fail(f"tokenizer.ggml.tokens holds a token longer than {MAX_TOKEN_CHARS} characters")
    return tokens


def _merges_from_list(raw, vocab: dict[str, int], fail) -> list[tuple[str, str]]:
    """gpt2 merges ("left right" strings), each side a vocabulary token."""
    if not raw or not isinstance(raw, list) or not all(isinstance(m, str) for m in raw):
        fail("gpt2 tokenizer without merges (tokenizer.ggml.merges)")
    merges = [tuple(m.split(" ", 1)) for m in raw]
    for i, m in enumerate(merges):
        if len(m) != 2 or m[0] not in vocab or m[1] not in vocab:
            fail(f"tokenizer.ggml.merges[{i}] = {raw[i]!r} is not two vocabulary tokens")
    return merges


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
