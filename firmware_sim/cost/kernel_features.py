"""Which edgesim/CMSIS-NN-style kernel runs a layer, and the loop-trip features its cycle
count is linear in (firmware_sim/kernels/src/edgesim_kernels.c). Pure shape arithmetic: no
emulator import, so `edgesim check` stays fast.

`tools/calibrate_cortex_m.py` runs each kernel instruction by instruction over a sweep of
shapes and fits cycles = sum(coefficient x feature) per core; `cortex_m_table.toml` holds
the coefficients. Memory stalls are estimated separately (cortex_m._kernel_stalls, with the
closed forms below), from the same cache and flash model the instruction-level runs replay
(firmware_sim/kernels/machine.py).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..graph import Operator, Subgraph
from ..ops import SAME, output_and_padding


def _valid(out: int, stride: int, pad: int, k: int, dil: int, size: int) -> list[int]:
    """Per output position: how many of the k taps fall inside the input. Closed form per
    position (taps t with 0 <= b + t * dil < size), so a pooling filter of any size costs
    nothing extra."""
    res = []
    for o in range(out):
        b = o * stride - pad                     # input position of tap 0
        first = max(0, -(b // dil))              # ceil(-b / dil)
        last = min(k - 1, (size - 1 - b) // dil)
        res.append(max(0, last - first + 1))
    return res


class Geometry(NamedTuple):
    """The spatial arithmetic of a 2-D convolution or pooling layer (NHWC input)."""

    in_h: int
    in_w: int
    in_c: int
    k_h: int              # kernel (weights) or pooling filter size
    k_w: int
    stride_h: int
    stride_w: int
    dil_h: int            # 1 for pooling
    dil_w: int
    out_h: int            # from the padding rule, as TFLite computes it
    out_w: int
    pad_h: int            # padding before
    pad_w: int


def conv_geometry(op: Operator, sg: Subgraph) -> Geometry:
    """Geometry of a CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D or MAX_POOL_2D layer."""
    o = op.options
    x = sg.tensors[op.inputs[0]]
    if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        w = sg.tensors[op.inputs[1]]
        kh, kw = w.shape[1], w.shape[2]
        dh, dw = o.get("dilationHFactor", 1), o.get("dilationWFactor", 1)
    else:
        kh, kw = o.get("filterHeight", 1), o.get("filterWidth", 1)
        dh = dw = 1
    sh, sw = o.get("strideH", 1), o.get("strideW", 1)
    ih, iw = x.shape[1], x.shape[2]
    oh, ph = output_and_padding(o.get("padding", SAME), sh, dh, ih, kh)
    ow, pw = output_and_padding(o.get("padding", SAME), sw, dw, iw, kw)
    return Geometry(ih, iw, x.shape[-1], kh, kw, sh, sw, dh, dw, oh, ow, ph, pw)


#: The float32 kernels (src/edgesim_kernels_f32.c, TFLM's float reference kernels) by operator;
#: RESHAPE copies bytes whatever their type.
F32_ENTRIES = {"CONV_2D": "conv_f32", "DEPTHWISE_CONV_2D": "depthwise_f32",
               "FULLY_CONNECTED": "fully_connected_f32", "AVERAGE_POOL_2D": "avgpool_f32",
               "MAX_POOL_2D": "maxpool_f32", "ADD": "add_f32", "SOFTMAX": "softmax_f32",
               "RESHAPE": "copy_s8"}
#: TFLM's CMSIS-NN wrappers run one Eval preamble (tensor look-ups, shapes, OpData) before
#: they switch on the input type, so a float layer's dispatch is priced as its int8 twin's.
DISPATCH_TWIN = {"conv_f32": "conv_s8", "depthwise_f32": "depthwise_s8",
                 "fully_connected_f32": "fully_connected_s8", "avgpool_f32": "avgpool_s8",
                 "maxpool_f32": "maxpool_s8", "add_f32": "add_s8", "softmax_f32": "softmax_s8"}


def kernel_entry(op: Operator, sg: Subgraph) -> str | None:
    """The C kernel the instruction-level path runs for `op` (None: no such kernel)."""
    if op.outputs and sg.tensors[op.outputs[0]].dtype == "float32":
        if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and \
                sg.tensors[op.inputs[1]].dtype != "float32":
            return None                  # hybrid (integer weights): TFLM has no kernel
        return F32_ENTRIES.get(op.opcode)
    if op.opcode == "DEPTHWISE_CONV_2D":
        return "depthwise_s8"
    if op.opcode == "CONV_2D":
        g = conv_geometry(op, sg)
        if g.k_h == g.k_w == 1 and g.pad_h == g.pad_w == 0 and g.dil_h == g.dil_w == 1:
            return "conv_1x1_s8"
        return "conv_s8"
    return {"FULLY_CONNECTED": "fully_connected_s8", "AVERAGE_POOL_2D": "avgpool_s8",
            "MAX_POOL_2D": "maxpool_s8", "ADD": "add_s8", "SOFTMAX": "softmax_s8",
            "RESHAPE": "copy_s8"}.get(op.opcode)


def features(entry: str, op: Operator, sg: Subgraph) -> dict[str, float]:
    """Loop-trip counts of `entry` on this layer (names match cortex_m_table.toml)."""
    x = sg.tensors[op.inputs[0]]
    y = sg.tensors[op.outputs[0]]
    if entry in ("conv_s8", "conv_1x1_s8", "depthwise_s8"):
        _, ih, iw, cin = x.shape
        _, oh, ow, cout = y.shape
        g = conv_geometry(op, sg)
        kh, kw = g.k_h, g.k_w
        vy = _valid(oh, g.stride_h, g.pad_h, kh, g.dil_h, ih)
        vx = _valid(ow, g.stride_w, g.pad_w, kw, g.dil_w, iw)
        P = oh * ow
        T = sum(vy) * sum(vx)                   # valid taps over all output pixels
        Rv = sum(vy) * ow                       # valid kernel rows over all output pixels
        if entry == "conv_s8":
            K, C = kh * kw * cin, cout
            pairs, odd = P // 2, P % 2
            taps = P * kh * kw
            return {"const": 1, "rows": oh, "pixels": P, "taps": taps,
                    "valid_words": T * (cin // 4), "valid_tail": T * (cin % 4),
                    "pad_elems": (taps - T) * cin,
                    "mm_iter": pairs * (C // 2) * (K // 4), "mm_tail": pairs * (C // 2) * (K % 4),
                    "mm_pairs": pairs * (C // 2),
                    "oddc_iter": pairs * (C % 2) * (K // 4), "oddc_tail": pairs * (C % 2) * (K % 4),
                    "oddp_iter": odd * C * (K // 4), "oddp_tail": odd * C * (K % 4), "oddp": odd * C}
        if entry == "conv_1x1_s8":
            K, C, R = cin, cout, P
            cp = C // 2
            return {"const": 1, "cpairs": cp, "wsum": cp * K, "iter": cp * (R // 2) * (K // 4),
                    "tail": cp * (R // 2) * (K % 4), "rpairs": cp * (R // 2),
                    "oddr": cp * (R % 2) * K, "oddc": (C % 2) * R * K, "oddc_n": (C % 2) * R}
        G, Ct = cout // 4, cout % 4
        return {"const": 1, "rows": oh, "pixels": P, "tap_groups": T * G, "row_groups": Rv * G,
                "groups": P * G, "tail_taps": T * Ct, "tail": P * Ct}
    if entry == "fully_connected_s8":
        w = sg.tensors[op.inputs[1]]
        U, K = w.shape[0], w.shape[1]
        B = x.elements // K
        return {"const": 1, "batches": B, "iter": B * (U // 2) * (K // 4),
                "tail": B * (U // 2) * (K % 4), "upairs": B * (U // 2), "oddu": B * (U % 2) * K}
    if entry in ("avgpool_s8", "maxpool_s8"):
        _, ih, iw, C = x.shape
        g = conv_geometry(op, sg)
        oh, ow = g.out_h, g.out_w
        vy = _valid(oh, g.stride_h, g.pad_h, g.k_h, 1, ih)
        vx = _valid(ow, g.stride_w, g.pad_w, g.k_w, 1, iw)
        P, W, Rw = oh * ow, sum(vy) * sum(vx), sum(vy) * ow
        if entry == "avgpool_s8":
            return {"const": 1, "rows": oh, "pixels": P, "chans": P * C, "win": W,
                    "win_words": W * (C // 4), "win_tail": W * (C % 4), "win_rows": Rw}
        return {"const": 1, "rows": oh, "pixels": P, "chans": P * C, "win_elems": W * C,
                "win_rows": Rw * C}
    if entry == "add_s8":
        n = y.elements
        return {"const": 1, "words": n // 4, "tail": n % 4}
    if entry == "softmax_s8":
        d = x.shape[-1] if x.shape and x.shape[-1] else 1
        return {"const": 1, "rows": x.elements // d, "elems": x.elements}
    if entry == "copy_s8":
        n = y.nbytes
        return {"const": 1, "words": n // 4, "tail": n % 4}
    return _features_f32(entry, op, sg)


def _runs(runs: int, trip: int) -> int:
    """Runs of a loop that iterate more than once: the Cortex-M7's 1-bit branch history
    mispredicts the closing branch twice in each (on its first iteration and on its exit),
    and never in a loop of one iteration."""
    return runs if trip > 1 else 0


def _features_f32(entry: str, op: Operator, sg: Subgraph) -> dict[str, float]:
    """Loop-trip counts of the float32 kernels (src/edgesim_kernels_f32.c), loop by loop, and
    per loop the runs of more than one iteration (_runs)."""
    x = sg.tensors[op.inputs[0]]
    y = sg.tensors[op.outputs[0]]
    if entry in ("conv_f32", "depthwise_f32", "avgpool_f32", "maxpool_f32"):
        g = conv_geometry(op, sg)
        vy = _valid(g.out_h, g.stride_h, g.pad_h, g.k_h, g.dil_h, g.in_h)
        vx = _valid(g.out_w, g.stride_w, g.pad_w, g.k_w, g.dil_w, g.in_w)
        P = g.out_h * g.out_w
        T = sum(vy) * sum(vx)                   # valid taps over all output pixels
        C = y.shape[-1]
        outs = P * C
        common = {"const": 1, "rows": g.out_h, "pixels": P, "outs": outs,
                  "x_loops": _runs(g.out_h, g.out_w)}
        if entry == "conv_f32":                 # oy, ox, oc, fy, fx, then cin per valid tap
            return common | {
                "tap_rows": outs * g.k_h, "taps": outs * g.k_h * g.k_w, "valid": C * T,
                "macs": C * T * g.in_c, "c_loops": _runs(P, C), "fy_loops": _runs(outs, g.k_h),
                "fx_loops": _runs(outs * g.k_h, g.k_w), "ic_loops": _runs(C * T, g.in_c)}
        if entry == "depthwise_f32":            # oy, ox, ic, m, fy, fx, a MAC per valid tap
            dm = C // g.in_c
            return common | {
                "chans": P * g.in_c, "tap_rows": outs * g.k_h, "taps": outs * g.k_h * g.k_w,
                "valid": C * T, "c_loops": _runs(P, g.in_c), "m_loops": _runs(P * g.in_c, dm),
                "fy_loops": _runs(outs, g.k_h), "fx_loops": _runs(outs * g.k_h, g.k_w)}
        # pooling: oy, ox, c, then the window's valid rows and elements
        multi_x = sum(1 for v in vx if v > 1)
        return common | {
            "win_rows": sum(vy) * g.out_w * C, "win": T * C, "c_loops": _runs(P, C),
            "fy_loops": sum(1 for v in vy if v > 1) * g.out_w * C,
            "fx_loops": sum(vy) * multi_x * C}
    if entry == "fully_connected_f32":
        w = sg.tensors[op.inputs[1]]
        U, K = w.shape[0], w.shape[1]
        B = x.elements // K
        return {"const": 1, "batches": B, "units": B * U, "macs": B * U * K,
                "u_loops": _runs(B, U), "k_loops": _runs(B * U, K)}
    if entry == "add_f32":
        return {"const": 1, "elems": y.elements}
    if entry == "softmax_f32":
        d = x.shape[-1] if x.shape and x.shape[-1] else 1
        return {"const": 1, "rows": x.elements // d, "elems": x.elements}
    raise KeyError(entry)


# ---------------------------------------------------------------------------------------
# Memory stalls: the cache behaviour of each kernel's access pattern, in closed form.

def cyclic_misses(lines: int, passes: int, sets: int, ways: int) -> int:
    """Misses of `passes` sweeps over `lines` consecutive lines in an LRU cache of `sets` x
    `ways`: the first sweep misses everywhere; later sweeps miss in the sets that hold more
    lines than ways (LRU evicts each line before its reuse), and hit in the others."""
    if lines <= 0:
        return 0
    per, extra = divmod(lines, sets)
    thrash = 0
    if per + 1 > ways:
        thrash += extra * (per + 1)
    if per > ways:
        thrash += (sets - extra) * per
    return lines + max(0, passes - 1) * thrash


def weight_passes(entry: str, op: Operator, sg: Subgraph) -> int:
    """How many times the kernel sweeps the whole weight tensor."""
    y = sg.tensors[op.outputs[0]]
    pixels = math.prod(y.shape[1:-1]) if len(y.shape) == 4 else 1
    if entry == "conv_s8":
        return max(1, -(-pixels // 2))       # all filters per pair of output pixels
    if entry in ("depthwise_s8", "conv_f32", "depthwise_f32"):
        return pixels                        # the float kernels: every filter per pixel
    if entry in ("fully_connected_s8", "fully_connected_f32"):
        w = sg.tensors[op.inputs[1]]
        return max(1, sg.tensors[op.inputs[0]].elements // w.shape[1])
    return 1
