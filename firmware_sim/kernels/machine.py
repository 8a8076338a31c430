"""An emulated Cortex-M core (unicorn, Thumb, M-profile) with a device's memory map.

Code sits at the start of flash (0x08000000), the model's flatbuffer after it (weights are
read from flash as on a TFLM target), activations, scratch and OpData in the arena's RAM
region, the stack at the top of the DTCM (or the first RAM region on cores without TCM).

Recording, per kernel call:
  * every translated basic block entered (UC_HOOK_BLOCK: one callback per block, not per
    instruction); instruction classes per block come from the disassembly (build.py), so
    retired instructions by class = sum over blocks of executions x the block's histogram;
  * the sequence of blocks, which gives every closing branch's outcome (taken when the next
    block is not the fall-through) and the 1-bit predictor's hits and misses;
  * every data access to flash and to RAM outside the TCMs, with its address
    (UC_HOOK_MEM_READ/WRITE restricted to those ranges), replayed through the cache model;
    accesses to TCM and to uncached RAM (whose cost does not depend on the address) are
    counted per region (range-restricted hooks that only count).
The cache geometry (D-cache size, ways and line; the ART's lines) and the line-fill costs
come from the device profile, through the same functions the fast model uses.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np
import unicorn as uc
from unicorn import arm_const as A

from ..cost.cortex_m import flash_miss_cycles, ram_line_fill
from ..devices import DeviceProfile
from ..memory.regions import access_cycles
from .build import CODE_BASE, KernelImage
from .timing import (CLASSES, block_cycles_m4, block_cycles_m7, branch_penalty, decode)

PAGE = 0x1000
STACK_BYTES = 8192


def _counter(c: list):
    def on_tcm(u, access, address, size, value, _):
        c[0] += 1
    return on_tcm


def _align(n: int, a: int = PAGE) -> int:
    return -(-n // a) * a


@dataclass
class BlockInfo:
    address: int
    histogram: np.ndarray          # instructions per class (CLASSES order)
    cycles: int                    # issue cycles (timing model of the core)
    fallthrough: int
    ends_conditional: bool
    ends_unconditional: bool
    ends_return: bool


@dataclass
class CallRecord:
    """What one kernel invocation did, and what it costs on the device."""

    instructions: int
    by_class: dict                 # class -> instructions retired
    branches_taken: int
    branches_not_taken: int
    mispredicted: int
    returns: int
    accesses: dict                 # region name -> data accesses
    misses: dict                   # region name -> cache line fills (or ART fills)
    issue_cycles: int              # pipeline: sum of block issue cycles
    branch_cycles: int             # branch penalties
    stall_cycles: float            # memory: line fills, write-backs, wait states
    blocks: int                    # basic blocks executed (host callbacks)

    @property
    def cycles(self) -> int:
        return int(round(self.issue_cycles + self.branch_cycles + self.stall_cycles))


def model_base(image: KernelImage) -> int:
    """Where a Machine running `image` places the flash blob (the model first): after the
    kernels' code, 64-byte aligned."""
    return CODE_BASE + _align(len(image.code) + 4, 64)


class Machine:
    """One core with the device's memory map; `call(entry, arg_address)` runs a kernel."""

    def __init__(self, device: DeviceProfile, image: KernelImage, flash_blob: bytes = b"",
                 arena: tuple[int, int] = (0, 0)):
        self.device, self.image = device, image
        self.core = device.core
        self.model_base = model_base(image)
        self.return_address = CODE_BASE + len(image.code) + (len(image.code) & 2)  # 4-aligned stub
        flash_end = self.model_base + len(flash_blob)
        m = uc.Uc(uc.UC_ARCH_ARM, uc.UC_MODE_THUMB | uc.UC_MODE_MCLASS)
        m.ctl_set_cpu_model(uc.arm_const.UC_CPU_ARM_CORTEX_M7 if self.core == "cortex-m7"
                            else uc.arm_const.UC_CPU_ARM_CORTEX_M4)
        flash_base = device.flash.base if device.flash else CODE_BASE
        m.mem_map(flash_base, _align(flash_end - flash_base + 16))
        m.mem_write(CODE_BASE, image.code)
        m.mem_write(self.return_address, b"\x00\xbe\x00\xbe")       # bkpt; never executed
        if flash_blob:
            m.mem_write(self.model_base, flash_blob)
        self.flash_range = (flash_base, _align(flash_end - flash_base + 16) + flash_base)
        for r in device.memory:
            m.mem_map(r.base, _align(r.size))
        self.uc = m
        self.stack_top = self._stack_top(arena)
        self._blocks: dict[tuple[int, int], BlockInfo] = {}
        self._trace = array("I")
        self._mem = array("Q")
        self._tcm_counts: dict[str, list] = {}
        self.cached = device.has_dcache
        self._install_hooks()

    # -- memory map ------------------------------------------------------------------
    def _stack_top(self, arena: tuple[int, int]) -> int:
        """Top of the DTCM (else of the first RAM region) unless the arena [lo, hi) reaches
        into the stack's 8 KB there; then the next region that leaves room."""
        tcm = [r for r in self.device.memory if r.kind == "tcm" and r.data]
        for r in tcm + [r for r in self.device.memory if r.data and r.kind != "tcm"]:
            lo, hi = r.end - STACK_BYTES, r.end
            if not (arena[0] < hi and lo < arena[1]):
                return r.end - 16
        raise ValueError("no RAM region leaves room for the stack beside the arena")

    def write(self, address: int, data: bytes) -> None:
        self.uc.mem_write(address, bytes(data))

    def read(self, address: int, n: int) -> bytes:
        return bytes(self.uc.mem_read(address, n))

    # -- hooks -----------------------------------------------------------------------
    def _install_hooks(self) -> None:
        trace = self._trace

        def on_block(u, address, size, _):
            trace.append(address)
            trace.append(size)

        self.uc.hook_add(uc.UC_HOOK_BLOCK, on_block)
        mem = self._mem

        def on_mem(u, access, address, size, value, _):
            mem.append((address << 1) | (access == uc.UC_MEM_WRITE))

        rw = uc.UC_HOOK_MEM_READ | uc.UC_HOOK_MEM_WRITE
        self.uc.hook_add(rw, on_mem, begin=self.flash_range[0], end=self.flash_range[1] - 1)
        for r in self.device.memory:
            # TCM, and RAM the core reaches without a cache: the address does not change the
            # cost, so these accesses are only counted per region
            if r.kind == "tcm" or not (self.cached and r.cached):
                counter = [0]
                self._tcm_counts[r.name] = counter
                self.uc.hook_add(rw, _counter(counter), begin=r.base, end=r.end - 1)
            else:
                self.uc.hook_add(rw, on_mem, begin=r.base, end=r.end - 1)

    # -- running ---------------------------------------------------------------------
    def call(self, entry: str, arg: int, max_instructions: int = 0) -> CallRecord:
        m = self.uc
        del self._trace[:]
        del self._mem[:]
        for c in self._tcm_counts.values():
            c[0] = 0
        m.reg_write(A.UC_ARM_REG_SP, self.stack_top)
        m.reg_write(A.UC_ARM_REG_LR, self.return_address | 1)
        m.reg_write(A.UC_ARM_REG_R0, arg)
        start = self.image.symbols[entry]
        try:
            m.emu_start(start | 1, self.return_address, count=max_instructions)
        except uc.UcError as exc:
            pc = m.reg_read(A.UC_ARM_REG_PC)
            raise RuntimeError(f"{entry} faulted at pc=0x{pc:08x}: {exc}") from None
        if m.reg_read(A.UC_ARM_REG_PC) != self.return_address:
            raise RuntimeError(f"{entry} did not return (stopped at 0x{m.reg_read(A.UC_ARM_REG_PC):08x})")
        return self._account()

    def _block(self, address: int, size: int) -> BlockInfo:
        key = (address, size)
        info = self._blocks.get(key)
        if info is not None:
            return info
        table = self.image.instructions
        instrs, a = [], address
        while a < address + size:
            ins = table.get(a)
            if ins is None:
                raise RuntimeError(f"no decoded instruction at 0x{a:08x}")
            instrs.append(decode(ins))
            a += ins.size
        hist = np.zeros(len(CLASSES), np.int64)
        for d in instrs:
            hist[CLASSES.index(d.cls)] += 1
        cycles = block_cycles_m7(instrs) if self.core == "cortex-m7" else block_cycles_m4(instrs)
        last = instrs[-1]
        info = BlockInfo(address, hist, cycles, address + size,
                         last.cls == "branch" and last.conditional_branch,
                         last.cls == "branch" and not last.conditional_branch and not last.is_return,
                         last.is_return)
        self._blocks[key] = info
        return info

    def _account(self) -> CallRecord:
        t = np.frombuffer(self._trace, dtype=np.uint32).reshape(-1, 2)
        n = len(t)
        keys = t[:, 0].astype(np.int64) << 32 | t[:, 1]
        uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        infos = [self._block(int(k >> 32), int(k & 0xFFFFFFFF)) for k in uniq]
        hist = sum((info.histogram * c for info, c in zip(infos, counts)), np.zeros(len(CLASSES), np.int64))
        issue = int(sum(info.cycles * int(c) for info, c in zip(infos, counts)))
        # branch outcomes: the block after a conditional branch is its fall-through or not
        cond = np.array([i.ends_conditional for i in infos])[inverse]
        uncond = np.array([i.ends_unconditional for i in infos])[inverse]
        ret = np.array([i.ends_return for i in infos])[inverse]
        fall = np.array([i.fallthrough for i in infos], np.int64)[inverse]
        nxt = np.empty(n, np.int64)
        nxt[:-1] = t[1:, 0]
        nxt[-1] = self.return_address
        taken = nxt != fall
        cpos = np.nonzero(cond)[0]
        c_taken = taken[cpos]
        # 1-bit history per branch: mispredicted when the outcome differs from the last one.
        # A branch is known by its address (the end of its block: unicorn may enter one
        # loop body at two addresses, which makes two blocks that share the closing branch).
        order = np.lexsort((cpos, fall[cpos]))
        ids, outs = fall[cpos][order], c_taken[order]
        prev = np.empty_like(outs)
        if len(outs):
            prev[0] = False
            prev[1:] = outs[:-1]
            first = np.ones(len(ids), bool)
            first[1:] = ids[1:] != ids[:-1]
            prev[first] = False
        mispred = int(np.count_nonzero(outs != prev))
        upos = np.nonzero(uncond)[0]
        mispred += len(np.unique(inverse[upos]))           # first encounter of each B/BL
        n_taken = int(np.count_nonzero(c_taken)) + len(upos)
        n_not = int(len(cpos) - np.count_nonzero(c_taken))
        n_ret = int(np.count_nonzero(ret))
        br = branch_penalty(self.core, n_taken, mispred, n_ret)
        accesses, misses, stall = self._memory()

        by_name = {r.name: r for r in self.device.memory}
        for name, c in self._tcm_counts.items():
            accesses[name] = accesses.get(name, 0) + c[0]
            r = by_name[name]
            if r.kind != "tcm":              # uncached bus RAM: its wait states per access
                stall += c[0] * (access_cycles(r, self.device.clock_hz) - 1)
        accesses = {k: v for k, v in accesses.items() if v}
        by_class = {c: int(v) for c, v in zip(CLASSES, hist)}
        return CallRecord(int(hist.sum()), by_class, n_taken, n_not, mispred, n_ret, accesses,
                          misses, issue, br, stall, n)

    def _memory(self) -> tuple[dict, dict, float]:
        """Replay non-TCM accesses through the D-cache (M7) or the flash ART (M4)."""
        dev = self.device
        accesses: dict[str, int] = {}
        misses: dict[str, int] = {}
        if not len(self._mem):
            return accesses, misses, 0.0
        stall = 0.0
        if self.cached:
            regions = [("flash", self.flash_range[0], self.flash_range[1], None)] + [
                (r.name, r.base, r.end, r) for r in dev.memory if r.kind != "tcm"]
            line, ways = dev.cache.line_bytes, dev.cache.dcache_ways
            sets = dev.cache.dcache_bytes // (line * ways)
            shift = line.bit_length() - 1
            fill = {}
            wb = {}
            for name, lo, hi, r in regions:
                if r is None:
                    fill[name], wb[name] = flash_miss_cycles(dev), 0.0
                elif r.cached:                 # only cached regions' accesses are replayed
                    fill[name], wb[name] = ram_line_fill(dev, r)
            cache = [[] for _ in range(sets)]
            dirty = set()
            region_of_line = {}
            for v in self._mem:
                addr = v >> 1
                name = None
                for nm, lo, hi, _ in regions:
                    if lo <= addr < hi:
                        name = nm
                        break
                accesses[name] = accesses.get(name, 0) + 1
                ln = addr >> shift
                s = cache[ln % sets]
                if ln in s:
                    if s[-1] != ln:
                        s.remove(ln)
                        s.append(ln)
                else:
                    misses[name] = misses.get(name, 0) + 1
                    stall += fill[name]
                    region_of_line[ln] = name
                    s.append(ln)
                    if len(s) > ways:
                        ev = s.pop(0)
                        if ev in dirty:
                            dirty.discard(ev)
                            stall += wb[region_of_line[ev]]
                if v & 1:
                    dirty.add(ln)
            return accesses, misses, stall
        # no core cache: only flash accesses are recorded (_install_hooks counts every RAM
        # region's), and they go through the ART data cache
        accesses["flash"] = len(self._mem)
        art: list[int] = []
        art_fill = flash_miss_cycles(dev)      # the load's own cycle is in the issue count
        art_lines, art_line = dev.flash.art.lines, dev.flash.art.line_bytes
        for v in self._mem:
            ln = (v >> 1) // art_line
            if ln in art:
                art.remove(ln)
            else:
                misses["flash"] = misses.get("flash", 0) + 1
                stall += art_fill
                if len(art) >= art_lines:
                    art.pop(0)
            art.append(ln)
        return accesses, misses, stall
