"""Cycles from an instruction-level run: Cortex-M7 and Cortex-M4 timing models.

The run (machine.py) records how often every basic block executed, the outcome sequence of
its closing branch, and every data access outside the TCMs with its address. Its cycles are

  cycles = sum over blocks (executions x issue cycles of the block's instructions)
         + branch penalties + memory stall cycles (cache misses, flash wait states)

This module gives the first two terms (block issue cycles, branch penalties); machine.py
replays the data accesses for the stalls.

Issue cycles of a block come from an in-order scoreboard over its instructions (operand
registers parsed from the disassembly), restarted at each block entry.

Cortex-M7 (Arm Cortex-M7 TRM, DDI 0489, section 1.2 "Features": six-stage superscalar
in-order pipeline with dynamic branch prediction; two ALU pipelines, one MAC pipeline, one
load/store pipeline; 64-bit DTCM and AXI interfaces):
  * two instructions issue per cycle when the second does not read the first's result and
    they need different pipes (at most one load/store, one MAC/multiply, one branch; two
    ALU instructions may pair);
  * result latencies below; a load result is usable two cycles after issue (one-cycle
    load-use penalty), a MAC result likewise, except the accumulator of a following MAC;
  * branches: a per-branch 1-bit history (the BTAC entry) predicts the last outcome; a
    misprediction and every return (BX LR / POP {PC}) refills the pipeline.
Cortex-M4 (Arm Cortex-M4 TRM, DDI 0439, section 3.3 "Instruction set summary", Table 3-1):
  single issue; cycle counts per instruction as tabulated there; FPU instructions (FPv4-SP)
  per Table 7-1 of the same manual (section 7.2.3 "FPU instruction set").
Floating point (the float32 kernels): the FPU's registers S0-S31 (D0-D15 pair them) and the
FPSCR flags (VCMP writes them, VMRS copies them to the APSR) take part in the scoreboard
beside the core registers.
Memory (per device profile, see machine.py): TCM zero-wait at core clock; cached regions
through an LRU model of the L1 D-cache; flash behind it (M7) or behind the ART data cache (M4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .build import Instr

_REG = {f"r{i}": i for i in range(13)} | {"sb": 9, "sl": 10, "fp": 11, "ip": 12, "sp": 13,
                                          "lr": 14, "pc": 15}
_REG_RE = re.compile(r"\b(r1[0-2]|r[0-9]|sb|sl|fp|ip|sp|lr|pc)\b")
_CONDS = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt",
          "gt", "le", "al")

CLASSES = ("load", "store", "mac", "mul", "div", "dsp", "alu", "branch",
           "fload", "fstore", "fpu", "fmac", "fdiv")
#: Scoreboard slots: core registers 0-15, S0-S31 at 16-47, the FPSCR flags at 48.
_S0, _FPSCR, _NREGS = 16, 48, 49
#: An operand of an FPU instruction: a core register, an S or D register, or the FPSCR.
_VFP_REG_RE = re.compile(r"\b(r1[0-2]|r[0-9]|sb|sl|fp|ip|sp|lr|pc)\b|\b([sd])([0-9]{1,2})\b"
                         r"|\bfpscr\b")
#: VFP mnemonic roots by class (ARMv7-M ARM, DDI 0403, A7.7 floating-point instructions)
_FMAC = {"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"}
_FDIV = {"vdiv", "vsqrt"}

#: mnemonic roots by class (ARMv7-M ARM, DDI 0403, A7.7; DSP extension: A7.7 "Armv7E-M")
_MAC = {"mla", "mls", "smlal", "umlal", "umaal", "smlad", "smladx", "smlsd", "smlsdx", "smlald",
        "smlaldx", "smlsld", "smlabb", "smlabt", "smlatb", "smlatt", "smlawb", "smlawt",
        "smlalbb", "smlalbt", "smlaltb", "smlaltt", "smmla", "smmlar", "smmls", "smmlsr",
        "smuad", "smuadx", "smusd", "smusdx", "usada8"}
_MUL = {"mul", "muls", "smull", "umull", "smulbb", "smulbt", "smultb", "smultt", "smulwb",
        "smulwt", "smmul", "smmulr"}
_DIV = {"sdiv", "udiv"}
_DSP = {"sxtb16", "sxtab16", "uxtb16", "uxtab16", "pkhbt", "pkhtb", "sadd16", "ssub16",
        "sadd8", "ssub8", "qadd", "qsub", "qadd16", "qsub16", "qadd8", "qsub8", "shadd16",
        "uadd8", "usub8", "sel", "ssat", "usat", "ssat16", "usat16", "sasx", "ssax", "qasx",
        "qsax", "usad8", "rev", "rev16", "revsh", "rbit", "clz"}
_BRANCH = {"b", "bl", "bx", "blx", "cbz", "cbnz", "tbb", "tbh"}
_NO_DEST = {"cmp", "cmn", "tst", "teq", "it", "ite", "itt", "itte", "ittt", "itee", "iteee",
            "ittee", "itet", "itete", "ittet", "nop", "bkpt"}


@dataclass(frozen=True)
class Decoded:
    cls: str                    # one of CLASSES
    root: str                   # mnemonic without condition / flags / width
    dests: tuple[int, ...]
    srcs: tuple[int, ...]
    acc: int                    # accumulator register of a MAC (-1: none)
    regs_moved: int             # registers transferred by LDM/STM/PUSH/POP/LDRD/STRD
    conditional_branch: bool
    is_return: bool
    size: int


def _root(mnemonic: str, known: set) -> str:
    """Strip an IT condition suffix and the flag-setting 's' from a mnemonic."""
    m = mnemonic
    if m in known:
        return m
    for c in _CONDS:
        if m.endswith(c) and len(m) > len(c) and (m[:-len(c)] in known or m[:-len(c)].rstrip("s") in known):
            m = m[:-len(c)]
            break
    if m not in known and m.endswith("s") and m[:-1] in known:
        m = m[:-1]
    return m


_VFP_ALL = _FMAC | _FDIV | {
    "vldr", "vpop", "vstr", "vpush", "vadd", "vsub", "vmul", "vnmul", "vneg", "vabs", "vcmp",
    "vcmpe", "vcvt", "vcvtr", "vmov", "vmrs", "vmsr", "vsel", "vmaxnm", "vminnm"}
_ALL = _MAC | _MUL | _DIV | _DSP | _BRANCH | _NO_DEST | {
    "ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrd", "ldm", "ldmia", "ldmdb", "ldmfd", "pop",
    "str", "strb", "strh", "strd", "stm", "stmia", "stmdb", "stmfd", "push"}


def _vfp_regs(text: str) -> list[int]:
    """Scoreboard slots named in `text`, in order (core registers, S/D registers, FPSCR)."""
    out = []
    for m in _VFP_REG_RE.finditer(text):
        if m.group(1):
            out.append(_REG[m.group(1)])
        elif m.group(2) == "s":
            out.append(_S0 + int(m.group(3)))
        elif m.group(2) == "d":
            out += [_S0 + 2 * int(m.group(3)), _S0 + 2 * int(m.group(3)) + 1]
        else:
            out.append(_FPSCR)
    return out


def _decode_vfp(ins: Instr) -> Decoded:
    """An FPU instruction: loads and stores (VLDR/VLDM/VPOP, VSTR/VSTM/VPUSH), multiply-
    accumulates, divide and square root, and the rest (arithmetic, compare, convert, moves)."""
    mn, ops = ins.mnemonic, ins.operands
    root = mn if mn[:5] in ("vpush", "vstmi", "vstmd", "vldmi", "vldmd") else _root(mn, _VFP_ALL)
    regs = _vfp_regs(ops)
    listed = _vfp_regs(ops[ops.find("{") + 1:ops.find("}")]) if "{" in ops else []
    wb = "!" in ops
    moved = 1
    if root in ("vldr", "vpop") or root.startswith("vldm"):
        cls = "fload"
        if listed:
            dests, moved = listed, len(listed)
            srcs = [13] if root == "vpop" else regs[:1]
            dests = dests + ([13] if root == "vpop" else srcs if wb else [])
        else:
            dests, srcs = [r for r in regs if r >= _S0], [r for r in regs if r < _S0]
            moved = len(dests)
    elif root in ("vstr", "vpush") or root.startswith("vstm"):
        cls = "fstore"
        if listed:
            moved = len(listed)
            base = [13] if root == "vpush" else regs[:1]
            srcs, dests = listed + base, base if root == "vpush" or wb else []
        else:
            srcs, dests = regs, []
            moved = len([r for r in regs if r >= _S0])
    else:
        cls = "fmac" if root in _FMAC else "fdiv" if root in _FDIV else "fpu"
        if root in ("vcmp", "vcmpe"):
            dests, srcs = [_FPSCR], regs
        elif root == "vmrs":
            dests, srcs = [], [_FPSCR]
        elif root == "vmov" and len(regs) > 2 and regs[1] < _S0:    # vmov rA, rB, dN
            dests, srcs = regs[:2], regs[2:]
        else:
            dests, srcs = regs[:1], regs[1:] + (regs[:1] if cls == "fmac" else [])
    acc = dests[0] if cls == "fmac" else -1
    return Decoded(cls, root, tuple(dests), tuple(srcs), acc, moved, False, False, ins.size)


def decode(ins: Instr) -> Decoded:
    mn = ins.mnemonic
    if mn.startswith("v"):
        return _decode_vfp(ins)
    root = _root(mn, _ALL)
    ops = ins.operands
    regs = [_REG[r] for r in _REG_RE.findall(ops)]
    wb = "!" in ops or re.search(r"\],\s*#", ops) is not None
    listed = ops[ops.find("{") + 1:ops.find("}")] if "{" in ops else ""
    list_regs = [_REG[r] for r in _REG_RE.findall(listed)]
    cond_branch = False
    is_return = False
    acc = -1
    moved = 1
    if root.startswith("ld") or root == "pop":
        cls = "load"
        if root == "pop" or root.startswith("ldm"):
            dests = list_regs + ([regs[0]] if root.startswith("ldm") and wb else [])
            srcs = [regs[0]] if root.startswith("ldm") else [13]
            if root == "pop":
                dests.append(13)
            moved = len(list_regs)
        else:
            n_dest = 2 if root == "ldrd" else 1
            dests = regs[:n_dest]
            srcs = regs[n_dest:]
            if wb and srcs:
                dests = dests + [srcs[0]]
            moved = n_dest
        if 15 in dests:
            cls, is_return = "branch", True
    elif root.startswith("st") or root == "push":
        cls = "store"
        if root == "push" or root.startswith("stm"):
            srcs = list_regs + ([regs[0]] if root.startswith("stm") else [13])
            dests = [regs[0]] if (root.startswith("stm") and wb) or root == "push" else []
            if root == "push":
                dests = [13]
            moved = len(list_regs)
        else:
            srcs = regs
            n_src = 2 if root == "strd" else 1
            dests = [regs[n_src]] if wb and len(regs) > n_src else []
            moved = n_src
    elif root in _BRANCH:
        cls = "branch"
        cond_branch = mn != root and root == "b" or root in ("cbz", "cbnz")
        if root == "b" and mn[1:] in _CONDS and mn[1:] != "al":
            cond_branch = True
        is_return = root == "bx" and "lr" in ops
        dests, srcs = ([14] if root in ("bl", "blx") else []), regs
    else:
        if root in _MAC:
            cls = "mac"
        elif root in _MUL:
            cls = "mul"
        elif root in _DIV:
            cls = "div"
        elif root in _DSP:
            cls = "dsp"
        else:
            cls = "alu"
        if root in _NO_DEST or root.startswith("it"):
            dests, srcs = [], regs
        elif root in ("smull", "umull", "smlal", "umlal", "smlald", "smlsld", "umaal",
                      "smlalbb", "smlalbt", "smlaltb", "smlaltt"):
            dests, srcs = regs[:2], regs[2:] + (regs[:2] if cls == "mac" else [])
            if cls == "mac":
                acc = regs[0]
        else:
            dests, srcs = regs[:1], regs[1:]
            if cls == "mac" and len(regs) == 4:
                acc = regs[3]
        if 15 in dests:
            cls, is_return = "branch", True
    return Decoded(cls, root, tuple(dests), tuple(srcs), acc, moved, cond_branch, is_return, ins.size)


# ---------------------------------------------------------------------------------------
# Cortex-M7

#: Result latency in cycles (issue to first dependent issue). Loads: data returns at the end
#: of the second execute stage of the M7 pipeline (DDI 0489 1.2: load/store pipe spans two
#: execute stages), so a dependent instruction waits one cycle. MAC/multiply: the MAC
#: pipeline has two stages (DDI 0489 1.2), with accumulator forwarding into a following MAC.
#: FPU (DDI 0489 1.2 lists the FPU among the pipelines but publishes no instruction timing;
#: model assumptions): VLDR like LDR; arithmetic, compare and convert results after 3
#: cycles; VMLA/VMLS (chained: a multiply, then an add) after 6, the accumulator being read
#: by the add 3 cycles after issue; VDIV/VSQRT hold the FPU for M7_FDIV_CYCLES.
M7_LATENCY = {"load": 2, "store": 1, "mac": 2, "mul": 2, "div": 1, "dsp": 1, "alu": 1, "branch": 1,
              "fload": 2, "fstore": 1, "fpu": 3, "fmac": 6, "fdiv": 1}
#: Pipe each class occupies (DDI 0489 1.2: ALU0/ALU1, MAC, load/store, branch, FPU).
M7_PIPE = {"load": "ls", "store": "ls", "mac": "mac", "mul": "mac", "div": "mac", "dsp": "alu",
           "alu": "alu", "branch": "br", "fload": "ls", "fstore": "ls", "fpu": "fp",
           "fmac": "fp", "fdiv": "fp"}
#: Cycles by which a chained VMLA reads its accumulator after issue (see M7_LATENCY).
M7_FMAC_ACC_SKEW = 3
#: VDIV.F32 / VSQRT.F32: 14 cycles, as on the Cortex-M4 (DDI 0439 Table 7-1); model assumption.
M7_FDIV_CYCLES = 14
#: Transfers per cycle of LDM/STM/PUSH/POP/LDRD/STRD: 64-bit DTCM and AXI ports (DDI 0489 1.2).
M7_REGS_PER_CYCLE = 2
#: SDIV/UDIV: 2 to 12 cycles with early termination (Armv7-M; DDI 0489 gives the same range
#: as the Cortex-M4 TRM Table 3-1). The model charges the worst case, 12.
DIV_CYCLES = 12
#: Cycles lost on a mispredicted or unpredicted branch: the instructions fetched behind it in
#: the fetch/decode/issue stages ahead of execute are discarded; with branches resolved in
#: the first execute stage of the six-stage pipeline (DDI 0489 1.2) that is 4 cycles plus
#: the re-issue cycle. Not a published figure: a model assumption from the pipeline depth.
M7_MISPREDICT = 5

# Cortex-M4 (DDI 0439 Table 3-1)
#: LDR/STR: 2 cycles; neighbouring loads/stores pipeline, 1 cycle each after the first.
#: LDM/STM/PUSH/POP: 1 + N. MUL 1, MLA/MLS 2, long multiplies 1, DSP MACs 1, SDIV 2-12.
M4_MLA_CYCLES = 2
#: Branch taken: 1 + P, P = pipeline refill 1 to 3 (Table 3-1 note); the model uses 2.
M4_REFILL = 2
#: FPv4-SP (DDI 0439 Table 7-1): VADD/VSUB/VMUL/VNMUL/VNEG/VABS/VCMP/VCVT/VMOV/VMRS/VSEL-class
#: 1; VMLA/VMLS/VNMLA/VNMLS and VFMA-class 3; VDIV/VSQRT 14; VLDR/VSTR 1 + words (.32: 2,
#: .64: 3); VLDM/VSTM/VPUSH/VPOP 1 + N. Moves between core and FPU registers are charged 1
#: (the table gives 1 or 2 by direction).
M4_FPU_CYCLES = {"fpu": 1, "fmac": 3, "fdiv": 14}


def block_cycles_m7(instrs: list[Decoded]) -> int:
    """Issue cycles of a straight-line block on the dual-issue Cortex-M7 model."""
    ready = [0] * _NREGS
    cycle = -1
    slot_pipes: list[str] = []
    slot_dests: set = set()
    busy_until = 0
    for d in instrs:
        t = max(cycle, busy_until)
        for r in d.srcs:
            rt = ready[r]
            if d.cls == "mac" and r == d.acc:
                rt -= 1                # accumulator forwarding between MACs
            elif d.cls == "fmac" and r == d.acc:
                rt -= M7_FMAC_ACC_SKEW
            t = max(t, rt)
        pipe = M7_PIPE[d.cls]
        can_pair = (t == cycle and len(slot_pipes) < 2 and d.regs_moved <= 1
                    and not (set(d.srcs) & slot_dests) and d.cls not in ("div", "fdiv")
                    and (pipe == "alu" and slot_pipes.count("alu") < 2 or pipe not in slot_pipes))
        if not can_pair:
            t = max(t, cycle + 1)
            cycle = t
            slot_pipes, slot_dests = [], set()
        slot_pipes.append(pipe)
        slot_dests |= set(d.dests)
        occupy = 1
        if d.regs_moved > 1:
            occupy = -(-d.regs_moved // M7_REGS_PER_CYCLE)
        if d.cls == "div":
            occupy = DIV_CYCLES
        elif d.cls == "fdiv":
            occupy = M7_FDIV_CYCLES
        busy_until = t + occupy if occupy > 1 else busy_until
        lat = M7_LATENCY[d.cls] + occupy - 1
        for r in d.dests:
            ready[r] = t + lat
    return max(cycle + 1, busy_until)


def block_cycles_m4(instrs: list[Decoded]) -> int:
    """Cycles of a straight-line block on the single-issue Cortex-M4 (DDI 0439 Table 3-1),
    branches counted as not taken (the taken refill is added per outcome)."""
    total = 0
    prev_mem = False
    for d in instrs:
        if d.cls in ("fload", "fstore"):
            total += 1 + d.regs_moved
            prev_mem = False
            continue
        if d.cls in M4_FPU_CYCLES:
            total += M4_FPU_CYCLES[d.cls]
            prev_mem = False
            continue
        if d.cls in ("load", "store") or (d.cls == "branch" and d.is_return and d.root == "pop"):
            n = d.regs_moved
            if n > 1 or d.root in ("push", "pop") or d.root.startswith(("ldm", "stm")):
                c = 1 + n
            else:
                c = 1 if prev_mem else 2
            prev_mem = True
        else:
            prev_mem = False
            if d.cls == "mac":
                c = M4_MLA_CYCLES if d.root in ("mla", "mls") else 1
            elif d.cls == "div":
                c = DIV_CYCLES
            else:
                c = 1
        total += c
    return total


def branch_penalty(core: str, taken: int, mispredicted: int, returns: int) -> int:
    if core == "cortex-m7":
        return (mispredicted + returns) * M7_MISPREDICT
    return (taken + returns) * M4_REFILL
