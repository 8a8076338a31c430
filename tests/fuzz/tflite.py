"""Fuzz family "tflite": TFLite models through load_graph + check, the TFLM emulator, and the
`edgesim check`, `check --exact` and `edgesim npu check` commands.

Seeds are ad01_int8 and kws_ref_model from ../shared, plus two tiny int8 models built here
with the schema's object API: "zoo" (one each of most operators whose contracts load_graph
checks) and "mini" (only layers the instruction-level kernels implement). Mutations are
mostly schema-aware (parsed to ModelT, edited, re-packed): shapes, tensor types, buffers,
quantisation, operator operands and opcodes, builtin options, graph inputs and outputs,
metadata and signatures; the rest are byte flips, truncations and insertions.

cli_exact emulates every instruction, in time proportional to the model's MACs: it runs
--exact on cases up to EXACT_MAX_MACS (ad01 and the tiny seeds; kws-sized cases take the
plain `check`), and on every fifth case only (SLOW_ENTRY_POINTS).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as s

from firmware_sim.graph_checks import OPTIONS

from . import tflite_seeds
from .tflite_seeds import pack as _pack

NAME = "tflite"
SUFFIX = ".tflite"
MLPERF = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf_tiny"
EXACT_MAX_MACS = 1_000_000
SLOW_ENTRY_POINTS = {"cli_exact": 5}

OP = s.BuiltinOperator
OP_NAMES = {v: k for k, v in vars(OP).items() if not k.startswith("_")}
OPTION_TYPES = {v: k for k, v in vars(s.BuiltinOptions).items() if not k.startswith("_")}
INTS = [0, 1, 2, 3, 4, 5, 7, 8, 16, 64, 127, 128, 255, 1000, 65535, 2**20, 2**31 - 1,
        -1, -2, -128, -129, -2**31]
UNUSUAL_SCALES = [1e-30, 1e-12, 2**-26, 1e-6, 1e-3, 0.9, 7.0, 1e6, 1e20, 3e38]
FLOATS = [0.0, -0.0, -1.0, 1e-45, 1e-30, 1e-9, 1 / 256, 0.5, 1.0, 3.0, 1e9, 3.4e38,
          float("nan"), float("inf"), float("-inf")]


def seeds() -> list[tuple[str, bytes]]:
    out = [("zoo_int8", tflite_seeds.zoo()), ("mini_int8", tflite_seeds.mini())]
    for name in ("ad01_int8", "kws_ref_model"):
        path = MLPERF / f"{name}.tflite"
        if path.is_file():
            out.append((name, path.read_bytes()))
    return out


# -- mutations ---------------------------------------------------------------------------------
def _int(rng, around=None) -> int:
    if around is not None and rng.random() < 0.5:
        return int(around) + rng.choice([-1, 1, 2, -2, 1 - int(around)])
    return rng.choice(INTS)


def _pick(rng, items):
    return rng.choice(items) if items else None


def _sg(model, rng):
    return rng.choice(model.subgraphs)


def _tensor(model, rng):
    return _pick(rng, _sg(model, rng).tensors or [])


def _shape(model, rng):
    t = _tensor(model, rng)
    shape = [int(d) for d in (t.shape if t is not None and t.shape is not None else [])]
    roll = rng.random()
    if roll < 0.6 and shape:
        i = rng.randrange(len(shape))
        shape[i] = _int(rng, shape[i])
    elif roll < 0.8:
        shape.insert(rng.randrange(len(shape) + 1), _int(rng, 1))
    elif shape:
        shape.pop(rng.randrange(len(shape)))
    if t is not None:
        t.shape = shape if rng.random() < 0.9 else None


def _tensor_field(model, rng):
    t = _tensor(model, rng)
    if t is None:
        return
    field = rng.choice(["type", "buffer", "buffer", "isVariable", "shapeSignature", "sparsity"])
    if field == "type":
        t.type = rng.randrange(25)
    elif field == "buffer":
        t.buffer = rng.choice([0, rng.randrange(len(model.buffers) + 2), 2**31])
    elif field == "isVariable":
        t.isVariable = not t.isVariable
    elif field == "shapeSignature":
        n = len(t.shape) if t.shape is not None else 0
        t.shapeSignature = [rng.choice([-1, 1, 2, 7]) for _ in range(n + rng.choice([0, 0, 1]))]
    else:
        t.sparsity = s.SparsityParametersT()


def _quant(model, rng):
    t = _tensor(model, rng)
    if t is None:
        return
    q = t.quantization or s.QuantizationParametersT()
    t.quantization = q
    scale = list(q.scale if q.scale is not None else [0.1])
    zp = list(q.zeroPoint if q.zeroPoint is not None else [0])
    roll = rng.randrange(9)
    if roll >= 7:               # valid but unusual: the kernels' multipliers at their extremes
        scale = [rng.choice(UNUSUAL_SCALES)] * len(scale)
        zp = [rng.choice([-128, -127, 0, 127])] * len(zp) if roll == 8 else zp
    elif roll == 0 and scale:
        scale[rng.randrange(len(scale))] = rng.choice(FLOATS)
    elif roll == 1 and zp:
        zp[rng.randrange(len(zp))] = rng.choice(INTS + [2**40])
    elif roll == 2:
        q.quantizedDimension = rng.choice([0, 1, 2, 3, 4, 7, 1000, 2**31 - 1, -1])
    elif roll == 3:
        scale = scale[:rng.randrange(len(scale) + 1)] if rng.random() < 0.5 else scale * 2
    elif roll == 4:
        zp = [] if rng.random() < 0.5 else zp + [0]
    elif roll == 5:
        n = rng.choice([2, 3, 4, 8, 64])
        scale, zp = [0.01] * n, [0] * n
        q.quantizedDimension = rng.randrange(4)
    else:
        t.quantization = None
        return
    q.scale = scale
    q.zeroPoint = None if not zp and rng.random() < 0.5 else zp


def _operands(model, rng):
    sg = _sg(model, rng)
    op = _pick(rng, sg.operators or [])
    if op is None:
        return
    which = "inputs" if rng.random() < 0.6 else "outputs"
    vec = [int(i) for i in (getattr(op, which) if getattr(op, which) is not None else [])]
    n = len(sg.tensors or [])
    roll = rng.randrange(6)
    if roll == 0 and vec:
        vec[rng.randrange(len(vec))] = rng.choice([-1, 0, n - 1, n, n + 5, 2**31 - 1,
                                                   rng.randrange(max(n, 1))])
    elif roll == 1 and vec:
        vec.pop(rng.randrange(len(vec)))
    elif roll == 2:
        vec.append(rng.choice([-1, rng.randrange(max(n, 1))]))
    elif roll == 3:
        vec = []
    elif roll == 4:
        vec = None
    else:
        op.opcodeIndex = rng.choice([0, len(model.operatorCodes), rng.randrange(
            max(1, len(model.operatorCodes))), 2**31])
        return
    setattr(op, which, vec)


def _opcode(model, rng):
    oc = _pick(rng, model.operatorCodes or [])
    if oc is not None:
        code = rng.choice([rng.randrange(210), OP.CUSTOM, 300, OP.CONV_2D, OP.SOFTMAX,
                           OP.RESHAPE, OP.ADD, OP.MEAN, OP.PAD, OP.QUANTIZE, OP.GATHER])
        oc.builtinCode, oc.deprecatedBuiltinCode = code, min(code, 127)


def _options(model, rng):
    op = _pick(rng, _sg(model, rng).operators or [])
    if op is None:
        return
    if op.builtinOptions is None or rng.random() < 0.15:
        kind = rng.choice([0, 0, *range(1, 130)])
        op.builtinOptionsType = kind
        name = OPTION_TYPES.get(kind, "NONE")
        op.builtinOptions = getattr(s, name + "T")() if kind and name != "NONE" else None
        return
    fields = [k for k, v in vars(op.builtinOptions).items() if isinstance(v, (int, float, bool))]
    if fields:
        k = rng.choice(fields)
        v = getattr(op.builtinOptions, k)
        if isinstance(v, bool):
            setattr(op.builtinOptions, k, not v)
        elif isinstance(v, float):
            setattr(op.builtinOptions, k, rng.choice(FLOATS))
        else:
            small = k in ("padding", "fusedActivationFunction", "weightsFormat")
            setattr(op.builtinOptions, k, rng.randrange(-2, 8) if small else _int(rng, v))


def _graph_io(model, rng):
    sg = _sg(model, rng)
    which = rng.choice(["inputs", "outputs"])
    n = len(sg.tensors or [])
    roll = rng.randrange(4)
    if roll == 0:
        setattr(sg, which, [] if rng.random() < 0.5 else None)
    elif roll == 1:
        setattr(sg, which, [rng.choice([-1, n, rng.randrange(max(n, 1))])])
    elif roll == 2:
        vec = getattr(sg, which)
        setattr(sg, which, [*(vec if vec is not None else []), rng.randrange(max(n, 1))])
    else:
        sg.operators = list(sg.operators or [])
        if sg.operators:
            i, j = rng.randrange(len(sg.operators)), rng.randrange(len(sg.operators))
            if rng.random() < 0.5:
                sg.operators[i], sg.operators[j] = sg.operators[j], sg.operators[i]
            else:
                sg.operators.pop(i)


def _buffers(model, rng):
    b = _pick(rng, model.buffers or [])
    roll = rng.randrange(5)
    if roll == 0 and b is not None and b.data is not None and len(b.data):
        b.data = b.data[:rng.randrange(len(b.data))]
    elif roll == 1 and b is not None:
        b.data = np.concatenate([b.data if b.data is not None else np.zeros(0, np.uint8),
                                 np.zeros(rng.choice([1, 3, 4, 64]), np.uint8)])
    elif roll == 2 and b is not None:
        b.offset, b.size = rng.choice([(2, 16), (2**40, 4), (10, 2**40), (1, 1)])
    elif roll == 3:
        model.buffers = model.buffers[:rng.randrange(len(model.buffers) + 1)] or None
    else:
        model.version = rng.choice([0, 1, 2, 4, 2**31 - 1])


def _model_tables(model, rng):
    roll = rng.randrange(4)
    if roll == 0 and model.metadata:
        md = rng.choice(model.metadata)
        md.buffer = rng.choice([len(model.buffers or []), 2**31, 0])
    elif roll == 1:
        md = s.MetadataT()
        md.name, md.buffer = "OfflineMemoryAllocation", rng.randrange(len(model.buffers or [1]))
        model.metadata = list(model.metadata or []) + [md]
    elif roll == 2 and model.signatureDefs:
        sig = rng.choice(model.signatureDefs)
        sig.subgraphIndex = rng.choice([1, 5, 2**31])
        for tm in (sig.inputs or []):
            tm.tensorIndex = rng.choice([tm.tensorIndex, 10**6])
    else:
        model.subgraphs = list(model.subgraphs) + [s.SubGraphT()] if rng.random() < 0.5 else \
            model.subgraphs[:1]


#: Operators that take the same operands: swapping one for another keeps the contract.
SIBLINGS = [("ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE"),
            ("LOGISTIC", "TANH", "RELU", "RELU6", "ABS", "NEG", "RSQRT", "HARD_SWISH",
             "LEAKY_RELU", "QUANTIZE", "DEQUANTIZE", "GELU", "ELU"),
            ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"),
            ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"),
            ("PAD", "PADV2", "MIRROR_PAD"), ("CONV_2D", "DEPTHWISE_CONV_2D"),
            ("SOFTMAX", "LOG_SOFTMAX", "LOGISTIC"), ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")]
def _sibling(model, rng):
    """Run another operator of the same family on the same operands, with its options."""
    ops = [op for sg in model.subgraphs for op in (sg.operators or [])]
    op = _pick(rng, ops)
    if op is None or not 0 <= op.opcodeIndex < len(model.operatorCodes or []):
        return
    oc = model.operatorCodes[op.opcodeIndex]
    name = OP_NAMES.get(max(oc.builtinCode, oc.deprecatedBuiltinCode))
    family = next((f for f in SIBLINGS if name in f), None)
    if family is None:
        return
    new = rng.choice(family)
    code = s.OperatorCodeT()
    code.builtinCode = getattr(OP, new)
    code.deprecatedBuiltinCode, code.version = min(code.builtinCode, 127), 1
    model.operatorCodes.append(code)
    op.opcodeIndex = len(model.operatorCodes) - 1
    old = op.builtinOptions
    kind = OPTIONS.get(new, (None,))[0]
    op.builtinOptionsType = getattr(s.BuiltinOptions, kind) if kind else 0
    op.builtinOptions = getattr(s, kind + "T")() if kind else None
    for k, v in (vars(old).items() if old is not None and kind else ()):
        if hasattr(op.builtinOptions, k):
            setattr(op.builtinOptions, k, v)
    if new == "SOFTMAX":
        op.builtinOptions.beta = 1.0


EDITS = [(_shape, 4), (_tensor_field, 2), (_quant, 6), (_operands, 3), (_opcode, 1),
         (_options, 4), (_graph_io, 2), (_buffers, 1), (_model_tables, 1), (_sibling, 3)]


def _schema_edit(data: bytes, rng: random.Random) -> bytes | None:
    try:
        model = s.ModelT.InitFromPackedBuf(data, 0)
    except Exception:
        return None                         # not parseable: bytes only
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        edit = rng.choices([e for e, _ in EDITS], [w for _, w in EDITS])[0]
        edit(model, rng)
    try:
        return _pack(model)
    except Exception:
        return None                         # a value the field's type cannot hold


def _byte_edit(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    roll = rng.randrange(4)
    if roll == 0 or len(out) < 16:
        for _ in range(rng.choice([1, 2, 4, 16])):
            region = rng.choice([len(out), min(len(out), 4096)])
            if region:
                out[rng.randrange(region)] = rng.randrange(256)
    elif roll == 1:
        del out[rng.randrange(8, len(out)):]
    elif roll == 2:
        at = rng.randrange(len(out))
        out[at:at] = bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 8, 64])))
    else:
        at = rng.randrange(len(out) - 4)
        out[at:at + 4] = rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, len(out)]).to_bytes(4, "little")
    return bytes(out)


def mutate(data: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.75:
        edited = _schema_edit(data, rng)
        if edited is not None:
            return edited
    return _byte_edit(data, rng)


# -- entry points ------------------------------------------------------------------------------
def _load(path: Path) -> None:
    from firmware_sim.pipeline import check
    from firmware_sim.graph import load_graph

    graph = load_graph(path)
    for device in ("stm32h743", "stm32l4r5", "rpi4b"):
        check(graph, device)
    check(graph, "stm32h743", kernels="reference")


def _random_input(t, rng: np.random.Generator) -> np.ndarray:
    dtype = np.dtype(t.dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, t.shape, dtype=dtype, endpoint=True)
    if dtype.kind == "b":
        return rng.integers(0, 2, t.shape).astype(bool)
    return rng.normal(0, 1, t.shape).astype(dtype)


def _run(path: Path) -> None:
    from firmware_sim.emulator import Emulator

    loaded = Emulator("stm32h743").load(path)
    rng = np.random.default_rng(0)
    loaded.run([_random_input(t, rng) for t in loaded.inputs])


def _cli(*argv: str) -> int:
    from edgesim.cli import main

    return main(list(argv))


def _cli_exact(path: Path) -> int:
    from edgesim.errors import EdgesimError
    from firmware_sim.graph import load_graph

    try:
        small = load_graph(path).macs <= EXACT_MAX_MACS
    except EdgesimError:
        small = True                        # refused either way: let the command say so
    extra = ["--exact"] if small else []
    return _cli("check", str(path), "--device", "stm32h743", "--json", *extra)


ENTRY_POINTS = {
    "load": _load,
    "run": _run,
    "cli_check": lambda path: _cli("check", str(path), "--device", "stm32h743", "--json"),
    "cli_exact": _cli_exact,
    "cli_npu": lambda path: _cli("npu", "check", str(path), "--device", "sd8gen3_htp", "--json"),
}

