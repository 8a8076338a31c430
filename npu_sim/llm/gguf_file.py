"""A bounded GGUF reader: the metadata and the tensor directory, with every count, length and
offset checked against the bytes the file has before anything is read or allocated.

`gguf.GGUFReader` trusts the header's array counts and string lengths, so one corrupt count
makes it loop or allocate without end; this reader reads the same format (versions 2 and 3,
either byte order) in time and memory linear in the file's size and refuses what does not
fit with one line naming the file and the field. Tensor data is dequantized with
`gguf.quants`. Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
"""

from __future__ import annotations

import math
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesim.errors import ModelFormatError
from edgesim.io import open_regular

MAGIC = b"GGUF"
VERSIONS = (2, 3)
MAX_DIMS = 4                # GGML_MAX_DIMS
MAX_ARRAY_DEPTH = 3         # arrays of arrays of arrays; no model uses deeper nesting
DEFAULT_ALIGNMENT = 32      # general.alignment when absent
STRING, ARRAY = 8, 9
#: GGUF value type -> (struct code, numpy dtype char); 7 is bool, stored as one byte.
SCALARS = {0: ("B", "u1"), 1: ("b", "i1"), 2: ("H", "u2"), 3: ("h", "i2"), 4: ("I", "u4"),
           5: ("i", "i4"), 6: ("f", "f4"), 7: ("B", "u1"), 10: ("Q", "u8"), 11: ("q", "i8"),
           12: ("d", "f8")}
BOOL = 7
#: The fewest bytes one value of a type takes, which bounds how many a count can claim.
MIN_BYTES = {**{t: struct.calcsize(c) for t, (c, _) in SCALARS.items()}, STRING: 8,
             ARRAY: 12}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of the directory: `shape` in NumPy order (GGUF lists dims innermost
    first), `qtype` a GGMLQuantizationType value, `offset` absolute in the file (bytes)."""

    name: str
    shape: tuple[int, ...]
    qtype: int
    offset: int
    nbytes: int


@dataclass
class GGUFFile:
    """A GGUF file's metadata (key -> value: int, float, bool, str, a NumPy array for a
    numeric array, a list for strings or nested arrays) and tensor directory."""

    path: Path
    version: int
    fields: dict[str, object]
    tensors: dict[str, TensorInfo]

    def arrays(self, names) -> dict[str, np.ndarray]:
        """Tensors `names` as float32 arrays of their shapes (dequantized; fresh copies)."""
        import gguf

        out = {}
        with open_regular(self.path, "model file", ModelFormatError) as f:
            for name in names:
                t = self.tensors[name]
                qtype = gguf.GGMLQuantizationType(t.qtype)
                f.seek(t.offset)
                raw = np.frombuffer(f.read(t.nbytes), np.uint8)
                if len(raw) != t.nbytes:
                    raise ModelFormatError(f"{self.path}: tensor {name}: data truncated")
                block, size = gguf.GGML_QUANT_SIZES[qtype]
                rows = raw.reshape(*t.shape[:-1], t.shape[-1] // block * size)
                try:
                    with np.errstate(all="ignore"):      # NaN, inf: load_model refuses them
                        values = gguf.quants.dequantize(rows, qtype)
                except Exception as exc:        # noqa: BLE001 - e.g. a type without a decoder
                    raise ModelFormatError(f"{self.path}: tensor {name}: cannot dequantize "
                                           f"{qtype.name}: {' '.join(str(exc).split())[:120]}") \
                        from None
                out[name] = np.array(values, dtype=np.float32).reshape(t.shape)
        return out


class _Cursor:
    """Reads values from the mapped file; every read is checked against the bytes left."""

    def __init__(self, buf, path: Path, order: str):
        self.buf, self.path, self.order, self.pos, self.size = buf, path, order, 0, len(buf)

    def fail(self, problem: str):
        raise ModelFormatError(f"{self.path}: {problem}")

    def need(self, n: int, what: str) -> None:
        if n > self.size - self.pos:
            self.fail(f"{what} at byte {self.pos} needs {n} bytes, {self.size - self.pos} remain")

    def scalar(self, code: str, what: str):
        n = struct.calcsize(code)
        self.need(n, what)
        (value,) = struct.unpack_from(self.order + code, self.buf, self.pos)
        self.pos += n
        return value

    def count(self, item_bytes: int, what: str) -> int:
        """A u64 count of items of at least `item_bytes` each, bounded by the bytes left."""
        n = self.scalar("Q", what)
        if n * item_bytes > self.size - self.pos:
            self.fail(f"{what} is {n}, more than the {self.size - self.pos} bytes left can hold")
        return n

    def string(self, what: str) -> str:
        n = self.count(1, f"{what} length")
        raw = self.buf[self.pos:self.pos + n]
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.fail(f"{what} is not valid UTF-8")

    def value(self, vtype: int, what: str, depth: int = 0):
        if vtype == STRING:
            return self.string(what)
        if vtype in SCALARS:
            value = self.scalar(SCALARS[vtype][0], what)
            return bool(value) if vtype == BOOL else value
        if vtype != ARRAY:
            self.fail(f"{what} has unknown value type {vtype}")
        if depth >= MAX_ARRAY_DEPTH:
            self.fail(f"{what} nests arrays deeper than {MAX_ARRAY_DEPTH}")
        itype = self.scalar("I", f"{what} item type")
        if itype not in MIN_BYTES:
            self.fail(f"{what} has unknown item type {itype}")
        n = self.count(MIN_BYTES[itype], f"{what} count")
        if itype in SCALARS:
            dtype = np.dtype(SCALARS[itype][1]).newbyteorder(self.order)
            arr = np.frombuffer(self.buf[self.pos:self.pos + n * dtype.itemsize], dtype)
            self.pos += n * dtype.itemsize
            return arr != 0 if itype == BOOL else arr.astype(dtype.newbyteorder("="))
        return [self.value(itype, f"{what}[{i}]", depth + 1) for i in range(n)]


def read_gguf(path: str | os.PathLike[str]) -> GGUFFile:
    """Read and check the header, metadata and tensor directory of GGUF file `path`."""
    import gguf

    path = Path(path)
    try:
        f = open_regular(path, "model file", ModelFormatError)
    except FileNotFoundError as exc:
        raise ModelFormatError(f"{path}: cannot open the model file: {exc.strerror}") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        if size < 24:
            raise ModelFormatError(f"{path}: {size} bytes is too short for a GGUF file")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return _parse(mm, path, size, gguf)


def _parse(mm, path: Path, size: int, gguf) -> GGUFFile:
    if mm[:4] != MAGIC:
        raise ModelFormatError(f"{path}: not a readable GGUF file (magic {bytes(mm[:4])!r})")
    order = "<" if struct.unpack_from("<I", mm, 4)[0] & 0xFFFF else ">"
    cur = _Cursor(mm, path, order)
    cur.pos = 4
    version = cur.scalar("I", "version")
    if version not in VERSIONS:
        cur.fail(f"GGUF version {version} is not supported (2 and 3 are)")
    n_tensors = cur.scalar("Q", "tensor count")
    n_fields = cur.scalar("Q", "metadata count")
    # The smallest metadata entry: an empty key, a type and a one-byte value.
    if n_fields * 13 + n_tensors * 24 > size - cur.pos:
        cur.fail(f"{n_fields} metadata entries and {n_tensors} tensors cannot fit in "
                 f"{size} bytes")
    fields: dict[str, object] = {}
    for i in range(n_fields):
        key = cur.string(f"metadata key {i}")
        if key in fields:
            cur.fail(f"metadata key {key!r} appears twice")
        fields[key] = cur.value(cur.scalar("I", f"type of {key!r}"), f"metadata {key!r}")
    infos = []
    for i in range(n_tensors):
        name = cur.string(f"tensor {i} name")
        n_dims = cur.scalar("I", f"tensor {name!r} dimension count")
        if not 1 <= n_dims <= MAX_DIMS:
            cur.fail(f"tensor {name!r} has {n_dims} dimensions (1 to {MAX_DIMS} allowed)")
        dims = [cur.scalar("Q", f"tensor {name!r} dimension") for _ in range(n_dims)]
        infos.append((name, dims, cur.scalar("I", f"tensor {name!r} type"),
                      cur.scalar("Q", f"tensor {name!r} offset")))
    align = fields.get("general.alignment", DEFAULT_ALIGNMENT)
    if isinstance(align, bool) or not isinstance(align, int) or align < 1 \
            or align & (align - 1) or align > 1 << 20:
        cur.fail(f"general.alignment must be a power of two up to 1 MiB, got {align!r}")
    start = -(-cur.pos // align) * align
    tensors: dict[str, TensorInfo] = {}
    for name, dims, qtype, offset in infos:
        if name in tensors:
            cur.fail(f"tensor {name!r} appears twice")
        tensors[name] = _tensor(cur, name, dims, qtype, offset, start, align, gguf)
    return GGUFFile(path, version, fields, tensors)


def _tensor(cur: _Cursor, name: str, dims: list[int], qtype: int, offset: int, start: int,
            align: int, gguf) -> TensorInfo:
    try:
        kind = gguf.GGMLQuantizationType(qtype)
        block, type_size = gguf.GGML_QUANT_SIZES[kind]
    except (ValueError, KeyError):
        cur.fail(f"tensor {name!r} has unknown type {qtype}")
    if min(dims) < 1:
        cur.fail(f"tensor {name!r} has a zero dimension {dims}")
    if dims[0] % block:
        cur.fail(f"tensor {name!r}: row length {dims[0]} is not a multiple of the "
                 f"{kind.name} block of {block}")
    nbytes = math.prod(dims) // block * type_size
    if offset % align:
        cur.fail(f"tensor {name!r} offset {offset} is not a multiple of the alignment {align}")
    if start + offset + nbytes > cur.size:
        cur.fail(f"tensor {name!r} ({nbytes} bytes at {start + offset}) extends past the end "
                 f"of the file ({cur.size} bytes)")
    return TensorInfo(name, tuple(reversed(dims)), int(kind), start + offset, nbytes)
