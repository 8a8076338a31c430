"""Operand checks shared by the operator contracts (graph_checks), and the contracts of the
shape operators: reshape, concatenation, pack, split, pad, transpose, strided slice, shape
and the reductions. Their parameter tensors (new shape, paddings, permutation, axes, slice
bounds) are checked by value when they are constant, as TFLite's Prepare() reads them.
"""

from __future__ import annotations

import math

import numpy as np

_INDEX_TYPES = ("int32", "int64")
#: Activation dtypes that carry affine quantisation.
QUANTIZED = ("int8", "uint8", "int16")
#: Highest rank TFLite's broadcasting kernels take (NdArrayDesc / the 6-D slow paths).
MAX_BROADCAST_RANK = 6


class Refused(Exception):
    """A contract violation; the message completes "operator N OPCODE ..."."""


class Site:
    """One operator under check: its operands, options and constant parameter values."""

    def __init__(self, opcode: str, ins: list, outs: list, options: dict, values):
        self.opcode, self.ins, self.outs, self.options = opcode, ins, outs, options
        self._values = values
        #: An operand has a dynamic dimension (-1 past the batch in its shape signature):
        #: the stored shapes are placeholders the interpreter resizes, and may disagree.
        self.dynamic = any(t is not None and t.dynamic for t in (*ins, *outs))
        self.unresolved = False         # such a disagreement was let through

    def mismatch(self, message: str) -> None:
        """Refuse shapes that disagree, unless they are a dynamic graph's placeholders."""
        if not self.dynamic:
            raise Refused(message)
        self.unresolved = True

    def x(self, k: int):
        return self.ins[k] if k < len(self.ins) else None

    def y(self, k: int):
        return self.outs[k]

    def opt(self, name: str, default=0):
        return self.options.get(name, default)

    def values(self, t) -> np.ndarray | None:
        return self._values(t)

    def label(self, t) -> str:
        for which, group in (("input", self.ins), ("output", self.outs)):
            for k, u in enumerate(group):
                if u is t:
                    return f"{which} {k} {t.name!r}"
        return repr(t.name)

    def counts(self, lo: int, hi: int | None = -1, optional: tuple[int, ...] = (),
               outputs: int | None = 1) -> None:
        """lo..hi inputs (hi None: any number; -1: exactly lo), `outputs` outputs (None:
        any number), only the `optional` positions omitted (-1)."""
        hi = lo if hi == -1 else hi
        n = len(self.ins)
        if n < lo or (hi is not None and n > hi):
            takes = f"{lo}" if hi == lo else f"{lo} or more" if hi is None else f"{lo} to {hi}"
            raise Refused(f"has {n} input(s); it takes {takes}")
        for k, t in enumerate(self.ins):
            if t is None and k not in optional:
                raise Refused(f"input {k} is omitted (-1), but {self.opcode} requires it")
        if outputs is not None and len(self.outs) != outputs:
            raise Refused(f"has {len(self.outs)} output(s); it writes {outputs}")

    def rank(self, t, *ranks: int) -> None:
        if len(t.shape) not in ranks:
            want = " or ".join(map(str, ranks))
            raise Refused(f"{self.label(t)} has shape {list(t.shape)}, not rank {want}")

    def positive(self, t) -> None:
        if any(d < 1 for d in t.shape):
            raise Refused(f"{self.label(t)} has shape {list(t.shape)}; every dimension must "
                          "be >= 1")

    def shape(self, t, expected, how: str) -> None:
        expected = tuple(int(d) for d in expected)
        if t.shape != expected:
            self.mismatch(f"{self.label(t)} has shape {list(t.shape)}, but {how} "
                          f"{list(expected)}")

    def same_dtype(self, *ts) -> None:
        for t in ts[1:]:
            if t.dtype != ts[0].dtype:
                raise Refused(f"{self.label(t)} is {t.dtype} but {self.label(ts[0])} is "
                              f"{ts[0].dtype}")

    def quantized(self, *ts) -> None:
        for t in ts:
            if t.quant is None:
                raise Refused(f"{self.label(t)} is {t.dtype} without quantization parameters")

    def per_tensor(self, *ts) -> None:
        self.quantized(*ts)
        for t in ts:
            if t.quant.per_channel:
                raise Refused(f"{self.label(t)} has {len(t.quant.scale)} per-channel scales; "
                              f"{self.opcode} takes one scale per activation tensor")

    def broadcast(self, s1: tuple, s2: tuple, a, b) -> tuple[int, ...]:
        """numpy's (and TFLite's) broadcast of two shapes."""
        if s1 != s2 and max(len(s1), len(s2)) > MAX_BROADCAST_RANK:
            raise Refused(f"broadcasts rank {max(len(s1), len(s2))}; TFLite broadcasts up to "
                          f"{MAX_BROADCAST_RANK} dimensions")
        out = []
        for d1, d2 in zip((1,) * (len(s2) - len(s1)) + s1, (1,) * (len(s1) - len(s2)) + s2):
            if d1 != d2 and 1 not in (d1, d2):
                self.mismatch(f"{self.label(a)} {list(a.shape)} and {self.label(b)} "
                              f"{list(b.shape)} do not broadcast")
            out.append(d2 if d1 == 1 else d1)
        return tuple(out)

    def index_vector(self, t, length: int | None, what: str) -> np.ndarray | None:
        """Check an int32/int64 parameter vector of `length` entries; its values if constant."""
        if t.dtype not in _INDEX_TYPES or len(t.shape) > 1 or (
                length is not None and t.elements != length):
            size = "" if length is None else f" of {length}"
            raise Refused(f"{self.label(t)} ({what}) is {t.dtype} {list(t.shape)}, not an "
                          f"int32 or int64 vector{size}")
        return self.values(t)


def _reshape(op: Site) -> None:
    op.counts(1, 2)            # a shape input omitted as -1 is dereferenced by LiteRT
    x, s, y = op.x(0), op.x(1), op.y(0)
    if x.elements != y.elements:
        op.mismatch(f"{op.label(x)} has {x.elements} elements but {op.label(y)} has "
                    f"{y.elements}: a reshape keeps the element count")
    op.same_dtype(x, y)
    given = op.index_vector(s, None, "new shape") if s is not None else None
    if given is not None:
        dims = [int(d) for d in given]
        known = math.prod(d for d in dims if d != -1)
        if dims.count(-1) > 1 or min(dims, default=0) < -1 or (-1 in dims and not known):
            raise Refused(f"new shape {dims} has an unresolvable -1 or a negative dimension")
        if -1 in dims:
            dims[dims.index(-1)] = x.elements // known
        if tuple(dims) != y.shape:
            op.mismatch(f"new shape {[int(d) for d in given]} gives {dims}, not the shape "
                        f"{list(y.shape)} of {op.label(y)}")


def _concatenation(op: Site) -> None:
    op.counts(1, None)
    y = op.y(0)
    r = len(y.shape)
    axis = op.opt("axis")
    if not -r <= axis < r:
        raise Refused(f"axis {axis} is outside the output's rank {r}")
    a = axis % r
    for t in op.ins:
        if len(t.shape) != r:
            raise Refused(f"{op.label(t)} {list(t.shape)} is not of the output's rank {r}")
        if t.shape[:a] + t.shape[a + 1:] != y.shape[:a] + y.shape[a + 1:]:
            op.mismatch(f"{op.label(t)} {list(t.shape)} does not match {op.label(y)} "
                        f"{list(y.shape)} outside axis {axis}")
    if sum(t.shape[a] for t in op.ins) != y.shape[a]:
        op.mismatch(f"the inputs' dimension {a} sums to {sum(t.shape[a] for t in op.ins)}, "
                    f"not the output's {y.shape[a]}")
    op.same_dtype(*op.ins, y)
    if y.dtype in QUANTIZED:
        op.per_tensor(*op.ins, y)


def _pack(op: Site) -> None:
    op.counts(1, None)
    n, x, y = len(op.ins), op.x(0), op.y(0)
    if op.opt("valuesCount") != n:
        raise Refused(f"values_count {op.opt('valuesCount')} != its {n} input(s)")
    r = len(x.shape)
    axis = op.opt("axis")
    if not -(r + 1) <= axis <= r:
        raise Refused(f"axis {axis} is outside the output's rank {r + 1}")
    a = axis % (r + 1)
    for t in op.ins:
        op.shape(t, x.shape, "input 0 has")
    op.shape(y, x.shape[:a] + (n,) + x.shape[a:], "packing the inputs gives")
    op.same_dtype(*op.ins, y)


def _split(op: Site) -> None:
    n = op.opt("numSplits")
    if n < 1:
        raise Refused(f"num_splits {n} must be >= 1")
    op.counts(2, outputs=n)
    axis_t, x = op.x(0), op.x(1)
    given = op.index_vector(axis_t, 1, "axis")
    r = len(x.shape)
    if given is None:
        if any(len(t.shape) != r or t.elements * n != x.elements for t in op.outs):
            op.mismatch(f"its outputs are not {n} equal parts of {op.label(x)}")
    else:
        a = int(given[0])
        if not -r <= a < r:
            raise Refused(f"axis {a} is outside the rank {r} of {op.label(x)}")
        a %= r
        if x.shape[a] % n:
            op.mismatch(f"dimension {a} ({x.shape[a]}) of {op.label(x)} does not split "
                        f"into {n}")
        for t in op.outs:
            op.shape(t, x.shape[:a] + (x.shape[a] // n,) + x.shape[a + 1:], "the split gives")
    op.same_dtype(x, *op.outs)


def _pad(op: Site) -> None:
    op.counts(3 if op.opcode == "PADV2" else 2)
    x, p, y = op.x(0), op.x(1), op.y(0)
    r = len(x.shape)
    if p.dtype not in _INDEX_TYPES or p.shape != (r, 2):
        raise Refused(f"{op.label(p)} (paddings) is {p.dtype} {list(p.shape)}, not int32 "
                      f"[{r}, 2]")
    if op.opcode == "PADV2":
        c = op.x(2)
        if c.elements != 1 or c.dtype != x.dtype:
            raise Refused(f"{op.label(c)} (constant value) is {c.dtype} {list(c.shape)}, not "
                          f"one {x.dtype} value")
    given = op.values(p)
    if given is not None:
        pads = given.reshape(r, 2).astype(np.int64)
        if (pads < 0).any():
            raise Refused(f"paddings {pads.tolist()} are negative")
        op.shape(y, [d + int(a) + int(b) for d, (a, b) in zip(x.shape, pads)], "padding gives")
    else:
        op.rank(y, r)
    op.same_dtype(x, y)
    if x.dtype in QUANTIZED:
        op.per_tensor(x, y)


def _transpose(op: Site) -> None:
    op.counts(2)
    x, p, y = op.x(0), op.x(1), op.y(0)
    r = len(x.shape)
    given = op.index_vector(p, r, "permutation")
    if given is not None:
        if sorted(int(v) for v in given) != list(range(r)):
            raise Refused(f"permutation {given.tolist()} is not one of 0..{r - 1}")
        op.shape(y, [x.shape[int(i)] for i in given], "permuting the input gives")
    else:
        op.rank(y, r)
    op.same_dtype(x, y)


def _strided_slice(op: Site) -> None:
    op.counts(4)
    x, y = op.x(0), op.y(0)
    r = len(x.shape)
    params = [op.index_vector(op.x(k), op.x(1).elements, what)
              for k, what in ((1, "begin"), (2, "end"), (3, "strides"))]
    op.same_dtype(x, y)
    if (any(v is None for v in params) or op.opt("ellipsisMask") or op.opt("newAxisMask")
            or op.opt("offset")):
        return                 # the output shape depends on values or masks read at run time
    begin, end, strides = ([int(v) for v in p] for p in params)
    if len(begin) != r:
        raise Refused(f"begin, end and strides have {len(begin)} entries for the rank-{r} "
                      f"{op.label(x)}")
    shape = []
    for i, (n, b, e, s) in enumerate(zip(x.shape, begin, end, strides)):
        # tensorflow/lite/kernels/internal/strided_slice_logic.h: StartForAxis, StopForAxis
        if s == 0:
            raise Refused(f"strides[{i}] is 0")
        lo, hi = (0, n) if s > 0 else (-1, n - 1)
        b = (lo if s > 0 else hi) if op.opt("beginMask") >> i & 1 else b + n if b < 0 else b
        b = min(max(b, lo), hi)
        if op.opt("shrinkAxisMask") >> i & 1:
            if not 0 <= b < n:
                op.mismatch(f"begin[{i}] {begin[i]} is outside dimension {i} ({n}), which "
                            "it shrinks to one element")
            continue
        e = (hi if s > 0 else lo) if op.opt("endMask") >> i & 1 else e + n if e < 0 else e
        e = min(max(e, lo), hi)
        shape.append(max(0, -(-(e - b) // s)))
    op.shape(y, shape, "begin, end, strides and masks give")


def _shape(op: Site) -> None:
    op.counts(1)
    x, y = op.x(0), op.y(0)
    if y.dtype not in _INDEX_TYPES:
        raise Refused(f"{op.label(y)} is {y.dtype}, not int32 or int64")
    op.shape(y, (len(x.shape),), "the input's rank gives")


def _reduce(op: Site) -> None:
    op.counts(2)
    x, axes, y = op.x(0), op.x(1), op.y(0)
    given = op.index_vector(axes, None, "axes")
    op.same_dtype(x, y)
    r = len(x.shape)
    if given is None:
        if len(y.shape) > r:
            raise Refused(f"{op.label(y)} has a higher rank than {op.label(x)}")
    else:
        bad = next((int(a) for a in given if not -r <= a < r), None)
        if bad is not None:
            raise Refused(f"axis {bad} is outside the rank {r} of {op.label(x)}")
        red = {int(a) % r for a in given}
        keep = op.opt("keepDims")
        op.shape(y, [1 if i in red else d for i, d in enumerate(x.shape) if keep or i not in red],
                 "reducing the input gives")
    if x.dtype in QUANTIZED:
        op.per_tensor(x, y)


SHAPE_CONTRACTS = {
    "RESHAPE": _reshape, "CONCATENATION": _concatenation, "PACK": _pack, "SPLIT": _split,
    "PAD": _pad, "PADV2": _pad, "TRANSPOSE": _transpose, "STRIDED_SLICE": _strided_slice,
    "SHAPE": _shape,
    **{op: _reduce for op in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD")},
}
