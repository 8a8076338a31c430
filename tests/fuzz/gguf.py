"""Fuzz family "gguf": GGUF model files through `npu_sim.llm.load_model` and `edgesim edit`.

Seeds are stories260K.gguf (from ../shared) and a copy of it with its matrices stored as
Q8_0. Mutations are byte flips, truncations and insertions, plus edits of the parsed layout:
header counts, metadata values (hyperparameters, token ids, value types), array counts and
string lengths up to 2**64 - 1, token arrays, and tensor dimensions, types and offsets.
This module does not import the PyPI `gguf` package, whose name it shares.
"""

from __future__ import annotations

import random
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

NAME = "gguf"
SUFFIX = ".gguf"
STORIES = Path(__file__).resolve().parents[3] / "shared" / "models" / "stories260K.gguf"
PROMPT = "Once upon a time, there was a little girl named"
# A few ZO steps only: the edit path through the CLI, fast enough for a fuzz run.
TINY_HPARAMS = """model = "stories260K"
layer = 2
context_templates = ["{}"]
[mobiedit]
directions = 1
max_steps = 2
"""

STRING, ARRAY = 8, 9
SCALAR_CODES = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "B", 10: "Q",
                11: "q", 12: "d"}
INTERESTING = [0, 1, 2, 3, 7, 8, 63, 64, 65, 255, 511, 512, 513, 4096, 2**16, 2**31 - 1,
               2**31, 2**32 - 1, 2**32, 2**62, 2**63, 2**64 - 1]
HYPER_KEYS = ["llama.block_count", "llama.embedding_length", "llama.feed_forward_length",
              "llama.attention.head_count", "llama.attention.head_count_kv",
              "llama.context_length", "llama.rope.dimension_count",
              "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
              "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"]
EXTRA_KEYS = [("llama.vocab_size", 4), ("llama.attention.key_length", 4),
              ("llama.attention.value_length", 4), ("llama.rope.freq_base", 6),
              ("llama.attention.layer_norm_rms_epsilon", 6), ("general.alignment", 4),
              ("tokenizer.ggml.add_bos_token", 7), ("llama.expert_count", 4)]


# -- layout: a GGUF file as header, metadata entries, tensor directory and data ----------------
class Layout:
    def __init__(self, version, kvs, tensors, blob, align):
        self.version, self.kvs, self.tensors, self.blob, self.align = (version, kvs, tensors,
                                                                        blob, align)

    def to_bytes(self) -> bytes:
        out = bytearray(b"GGUF" + struct.pack("<IQQ", self.version, len(self.tensors),
                                                len(self.kvs)))
        for key, vtype, raw in self.kvs:
            out += _str(key) + struct.pack("<I", vtype) + raw
        for name, dims, qtype, offset in self.tensors:
            out += _str(name) + struct.pack("<I", len(dims)) + b"".join(
                struct.pack("<Q", d & (2**64 - 1)) for d in dims) + struct.pack(
                "<IQ", qtype & 0xFFFFFFFF, offset & (2**64 - 1))
        out += bytes(-len(out) % self.align)
        return bytes(out + self.blob)

    def kv(self, key):
        return next((e for e in self.kvs if e[0] == key), None)


def _str(text) -> bytes:
    raw = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def _skip(data: bytes, pos: int, vtype: int) -> int:
    if vtype == STRING:
        return pos + 8 + struct.unpack_from("<Q", data, pos)[0]
    if vtype in SCALAR_CODES:
        return pos + struct.calcsize(SCALAR_CODES[vtype])
    if vtype == ARRAY:
        itype, n = struct.unpack_from("<IQ", data, pos)
        pos += 12
        if itype in SCALAR_CODES:
            return pos + n * struct.calcsize(SCALAR_CODES[itype])
        if n > len(data):
            raise ValueError("count")
        for _ in range(n):
            pos = _skip(data, pos, itype)
        return pos
    raise ValueError("type")


def parse(data: bytes) -> Layout | None:
    """The layout of a well-formed little-endian GGUF file, or None."""
    try:
        if data[:4] != b"GGUF":
            return None
        version, n_tensors, n_kv = struct.unpack_from("<IQQ", data, 4)
        if n_kv > len(data) or n_tensors > len(data):
            return None
        pos, kvs = 24, []
        for _ in range(n_kv):
            n = struct.unpack_from("<Q", data, pos)[0]
            key = data[pos + 8:pos + 8 + n].decode("utf-8", "surrogateescape")
            pos += 8 + n
            vtype = struct.unpack_from("<I", data, pos)[0]
            end = _skip(data, pos + 4, vtype)
            kvs.append([key, vtype, data[pos + 4:end]])
            pos = end
        tensors = []
        for _ in range(n_tensors):
            n = struct.unpack_from("<Q", data, pos)[0]
            name = data[pos + 8:pos + 8 + n].decode("utf-8", "surrogateescape")
            pos += 8 + n
            nd = struct.unpack_from("<I", data, pos)[0]
            if nd > 8:
                return None
            dims = list(struct.unpack_from(f"<{nd}Q", data, pos + 4))
            qtype, offset = struct.unpack_from("<IQ", data, pos + 4 + 8 * nd)
            tensors.append([name, dims, qtype, offset])
            pos += 4 + 8 * nd + 12
        align = 32
        entry = next((e for e in kvs if e[0] == "general.alignment" and e[1] == 4), None)
        if entry:
            align = struct.unpack("<I", entry[2])[0] or 32
        start = -(-pos // align) * align
        if start > len(data) or align & (align - 1):
            return None
        return Layout(version, kvs, tensors, data[start:], align)
    except (struct.error, ValueError, IndexError, OverflowError):
        return None


# -- seeds ----------------------------------------------------------------------------------
def _q8_0(values: np.ndarray) -> bytes:
    """Q8_0 blocks (f16 scale, 32 int8) of float32 rows whose length is a multiple of 32."""
    blocks = values.reshape(-1, 32).astype(np.float32)
    scale = np.abs(blocks).max(axis=1, keepdims=True) / 127
    q = np.round(np.divide(blocks, scale, out=np.zeros_like(blocks), where=scale > 0))
    out = np.zeros((len(blocks), 34), np.uint8)
    out[:, :2] = scale.astype(np.float16).view(np.uint8)
    out[:, 2:] = q.astype(np.int8).view(np.uint8)
    return out.tobytes()


def _quantized(data: bytes) -> bytes:
    """The file with every matrix whose rows are a multiple of 32 long stored as Q8_0."""
    lay = parse(data)
    blob, tensors = bytearray(), []
    for name, dims, qtype, offset in lay.tensors:
        count = int(np.prod(dims))
        values = np.frombuffer(lay.blob, np.float32, count, offset)
        if len(dims) == 2 and dims[0] % 32 == 0 and qtype == 0:
            raw, qtype = _q8_0(values), 8
        else:
            raw = values.tobytes()
        blob += bytes(-len(blob) % lay.align)
        tensors.append([name, dims, qtype, len(blob)])
        blob += raw
    return Layout(lay.version, lay.kvs, tensors, bytes(blob), lay.align).to_bytes()


def seeds() -> list[tuple[str, bytes]]:
    data = STORIES.read_bytes()
    return [("stories260K", data), ("stories260K-q8_0", _quantized(data))]


# -- mutations ------------------------------------------------------------------------------
def _number(rng: random.Random, old: int | None = None) -> int:
    if old is not None and rng.random() < 0.4:
        return max(0, rng.choice([old - 1, old + 1, old * 2, old // 2, old + 32, 0]))
    return rng.choice(INTERESTING) if rng.random() < 0.8 else rng.getrandbits(rng.choice([8, 32,
                                                                                          64]))


def _pack_int(vtype: int, value: int) -> bytes:
    code = SCALAR_CODES[vtype]
    bits = struct.calcsize(code) * 8
    value &= (1 << bits) - 1
    if code.islower():
        value -= (1 << bits) if value >= 1 << (bits - 1) else 0
    return struct.pack("<" + code, value)


def _set_scalar(lay: Layout, rng: random.Random) -> None:
    keys = [k for k in HYPER_KEYS if lay.kv(k)] or [e[0] for e in lay.kvs]
    entry = lay.kv(rng.choice(keys))
    key, vtype, raw = entry
    if vtype in SCALAR_CODES and SCALAR_CODES[vtype] not in "fd" and rng.random() < 0.8:
        old = struct.unpack("<" + SCALAR_CODES[vtype], raw)[0]
        entry[2] = _pack_int(vtype, _number(rng, old))
    else:                       # another value type
        entry[1] = rng.choice([0, 4, 5, 6, 7, 10, 11, 12, STRING, ARRAY])
        entry[2] = (_str("x" * rng.choice([0, 1, 5])) if entry[1] == STRING else
                    struct.pack("<IQ", 4, 1) + b"\1\0\0\0" if entry[1] == ARRAY else
                    struct.pack("<" + SCALAR_CODES[entry[1]],
                                rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e30])
                                if SCALAR_CODES[entry[1]] in "fd" else 0))


def _array_count(lay: Layout, rng: random.Random) -> None:
    arrays = [e for e in lay.kvs if e[1] == ARRAY]
    if arrays:
        entry = rng.choice(arrays)
        raw = bytearray(entry[2])
        raw[4:12] = struct.pack("<Q", _number(rng, struct.unpack_from("<Q", raw, 4)[0]))
        entry[2] = bytes(raw)


def _string_length(lay: Layout, rng: random.Random) -> None:
    """A string's length field (a metadata string, a token, or a key) set anew."""
    strings = [e for e in lay.kvs if e[1] == STRING]
    tokens = lay.kv("tokenizer.ggml.tokens")
    raw = None
    if tokens and tokens[1] == ARRAY and rng.random() < 0.6:
        raw = bytearray(tokens[2])
        pos, index = 12, rng.randrange(min(50, struct.unpack_from("<Q", raw, 4)[0]) or 1)
        for _ in range(index):
            pos += 8 + struct.unpack_from("<Q", raw, pos)[0]
        raw[pos:pos + 8] = struct.pack("<Q", _number(rng, struct.unpack_from("<Q", raw, pos)[0]))
        tokens[2] = bytes(raw)
    elif strings:
        entry = rng.choice(strings)
        entry[2] = struct.pack("<Q", _number(rng)) + entry[2][8:]


def _tokens(lay: Layout, rng: random.Random) -> None:
    """Token arrays: one token dropped or duplicated, a long or invalid token, NaN scores."""
    entry = lay.kv(rng.choice(["tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                               "tokenizer.ggml.token_type"]))
    if not entry or entry[1] != ARRAY:
        return
    itype, n = struct.unpack_from("<IQ", entry[2])
    body = entry[2][12:]
    if itype == STRING:
        items, pos = [], 0
        for _ in range(n):
            size = struct.unpack_from("<Q", body, pos)[0]
            items.append(body[pos + 8:pos + 8 + size])
            pos += 8 + size
        i = rng.randrange(len(items)) if items else 0
        choice = rng.randrange(5)
        if choice == 0 and items:
            del items[i]
        elif choice == 1 and items:
            items.insert(i, items[rng.randrange(len(items))])
        elif choice == 2 and items:
            items[i] = b"ab" * rng.choice([600, 5000])
        elif choice == 3 and items:
            items[i] = rng.choice([b"\xff\xfe", b"", b"\x00", "\u2581".encode() * 3])
        else:
            items = items[:rng.randrange(len(items) + 1)]
        entry[2] = struct.pack("<IQ", itype, len(items)) + b"".join(_str(t) for t in items)
        return
    size = struct.calcsize(SCALAR_CODES.get(itype, "B"))
    values = bytearray(body)
    if itype == 6 and values:
        k = rng.randrange(n)
        values[k * 4:k * 4 + 4] = struct.pack("<f", rng.choice([float("nan"), float("inf"),
                                                                   -1e38]))
    elif values:
        values = values[:size * rng.randrange(n)]
        n = len(values) // size
    entry[2] = struct.pack("<IQ", itype, n) + bytes(values)


def _kv_structure(lay: Layout, rng: random.Random) -> None:
    choice = rng.randrange(3)
    if choice == 0 and lay.kvs:
        del lay.kvs[rng.randrange(len(lay.kvs))]
    elif choice == 1 and lay.kvs:
        lay.kvs.insert(rng.randrange(len(lay.kvs)), list(rng.choice(lay.kvs)))
    else:
        key, vtype = rng.choice(EXTRA_KEYS)
        if key == "general.alignment":
            return                  # it would move the data; the byte-level edits cover it
        raw = (struct.pack("<f", rng.choice([0.0, -1.0, float("nan"), 1e-6, 5e5]))
               if vtype == 6 else bytes([rng.randrange(3)]) if vtype == 7
               else _pack_int(vtype, _number(rng, rng.choice([8, 512, 64]))))
        lay.kvs.append([key, vtype, raw])


def _tensor(lay: Layout, rng: random.Random) -> None:
    if not lay.tensors:
        return
    t = rng.choice(lay.tensors)
    choice = rng.randrange(7)
    if choice == 0:
        i = rng.randrange(len(t[1]))
        t[1][i] = _number(rng, t[1][i])
    elif choice == 1:
        t[1] = t[1][::-1] if rng.random() < 0.5 else t[1] + [1]
    elif choice == 2:
        t[2] = rng.choice([1, 2, 8, 12, 14, 24, 26, 28, 30, 39, 99, 2**32 - 1])
    elif choice == 3:
        t[3] = rng.choice([t[3] + lay.align, t[3] + 1, 2**63, len(lay.blob), 0])
    elif choice == 4:
        lay.tensors.remove(t)
    elif choice == 5:
        lay.tensors.append([t[0], list(t[1]), t[2], t[3]])
    else:
        t[0] = rng.choice(["output.weight", "token_embd.weight", "blk.0.attn_q.weight",
                           "blk.9.ffn_up.weight", t[0] + "x"])


def _bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    choice = rng.randrange(5)
    if choice == 0:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(min(len(out), 16000) if rng.random() < 0.8 else len(out))
            out[i] ^= 1 << rng.randrange(8)
    elif choice == 1:
        del out[rng.randrange(len(out)):]
    elif choice == 2:
        i = rng.randrange(min(len(out), 16000))
        out[i:i] = rng.randbytes(rng.choice([1, 4, 8, 33]))
    elif choice == 3:
        i = rng.randrange(min(len(out), 16000) - 8)
        out[i:i + 8] = struct.pack("<Q", rng.choice(INTERESTING))
    else:                       # header: version, tensor count, metadata count
        field = rng.choice([(4, "<I"), (8, "<Q"), (16, "<Q")])
        struct.pack_into(field[1], out, field[0], rng.choice(INTERESTING) & (
            (1 << (8 * struct.calcsize(field[1]))) - 1))
    return bytes(out)


STRUCTURED = [_set_scalar, _set_scalar, _array_count, _string_length, _tokens, _kv_structure,
              _tensor, _tensor]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three edits of `data`: mostly of its parsed layout, else of its bytes."""
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        lay = parse(data) if rng.random() < 0.75 else None
        if lay is None:
            data = _bytes(data, rng) if data else rng.randbytes(24)
            continue
        rng.choice(STRUCTURED)(lay, rng)
        data = lay.to_bytes()
    return data


# -- entry points ---------------------------------------------------------------------------
def load(path: Path) -> None:
    """Load the model and greedily continue a prompt by a few tokens, with and without the
    KV cache."""
    from npu_sim.llm import load_model
    from npu_sim.llm.reference import generate, generate_fast

    model = load_model(path)
    ids = model.tokenizer.encode(PROMPT)
    new = generate_fast(model, ids, 3)
    generate(model, ids, 1)
    model.tokenizer.decode_continuation(ids, new)


def cli_edit(path: Path) -> int:
    """`edgesim edit` of the stories260K fact with a few ZO steps (seconds: TensorFlow)."""
    from edgesim.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        hparams = Path(tmp) / "hparams.toml"
        hparams.write_text(TINY_HPARAMS)
        model = Path(tmp) / "stories260K.gguf"
        shutil.copyfile(path, model)
        return main(["edit", "--model", str(model), "--subject", "girl", "--prompt", PROMPT,
                     "--target", " Sue", "--hparams", str(hparams), "--json", "--quiet"])


ENTRY_POINTS = {"load": load, "cli_edit": cli_edit}
# An edit builds and runs the TFLite kernel in TensorFlow: far slower than a load, so rarer.
SLOW_ENTRY_POINTS = {"cli_edit": 10}
