"""Cross-compile the C kernels for a Cortex-M core and pre-decode every instruction.

The compiler is clang for Arm (the compiler family of Arm Compiler 6) from the `ziglang`
wheel on PyPI (`python -m ziglang cc`), so a fresh machine needs nothing beyond the
project's own install. The ELF's symbols and sections are read with `pyelftools`, its code
disassembled with `capstone` (Thumb-2, M-profile).

Build products (ELF, raw binary, entry points) go to a cache folder keyed by the hash of the
sources, flags and compiler version: $EDGESIM_CACHE/kernels/<core>-<hash> (default
~/.cache/edgesim/...). A build runs in a private temporary folder that is renamed into place,
so concurrent processes never see half a build; the loser of that race keeps the winner's.
Nothing built is committed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from edgesim.errors import EdgesimError
from edgesim.io import private_dir, publish_dir
from edgesim.paths import cache_dir

SRC_DIR = Path(__file__).parent / "src"
CODE_BASE = 0x08000000          # kernels are linked at the start of internal flash

#: Target and flags per core: Thumb-2, -O2, hard-float ABI with the single-precision FPU each
#: core has: FPv5-SP-D16 on the Cortex-M7 (the FPU of the STM32F7; the STM32H7's double-
#: precision FPv5-D16 runs the same code), FPv4-SP-D16 on the Cortex-M4F. zig's clang takes
#: the FPU as a CPU feature (`+fp_armv8d16sp`, `+vfp4d16sp`); it ignores `-mfpu`.
CORE_FLAGS = {
    "cortex-m7": ["-target", "thumb-freestanding-eabihf", "-mcpu=cortex_m7+fp_armv8d16sp", "-O2"],
    "cortex-m4": ["-target", "thumb-freestanding-eabihf", "-mcpu=cortex_m4+vfp4d16sp", "-O2"],
}
#: Freestanding code without startup files, libraries or unwind tables (the kernels are
#: leaf functions called from the emulator with a return stub). Two code-generation choices:
#:  * -fno-unroll-loops: the fast model's features are loop-trip counts
#:    (cost/kernel_features.py); compiler unrolling adds remainder paths whose cost is not
#:    linear in them. The kernels unroll by hand where CMSIS-NN does. (GCC's -O2, the
#:    default of Arm's GNU toolchain, does not unroll either.)
#:  * -mrestrict-it: IT blocks of one 16-bit instruction (the ARMv8-M form). unicorn loses
#:    the IT state after longer blocks and skips an instruction behind them, which
#:    calibration caught as a kernel fault.
#:  * -ffp-contract=off: no fused multiply-add, so float kernels round as TFLM's reference
#:    kernels compiled for the host do (a separate multiply and add).
#: The only library linked is the compiler's run-time library (compiler-rt, built by zig for
#: the core): the soft-double arithmetic of the float softmax's expf on a single-precision FPU.
COMMON_FLAGS = ["-ffreestanding", "-fno-builtin", "-nostdlib", "-rtlib=compiler-rt",
                "-fno-exceptions", "-fno-unwind-tables", "-fno-asynchronous-unwind-tables",
                "-fno-unroll-loops", "-mrestrict-it", "-ffp-contract=off", "-g0", "-Wall",
                "-Werror", "-ffunction-sections"]
ENTRY_POINTS = ("conv_s8", "conv_1x1_s8", "depthwise_s8", "fully_connected_s8", "avgpool_s8",
                "maxpool_s8", "add_s8", "softmax_s8", "copy_s8", "conv_f32", "depthwise_f32",
                "fully_connected_f32", "avgpool_f32", "maxpool_f32", "add_f32", "softmax_f32",
                "tflm_setup", "tflm_invoke_node", "cmsis_nn_stub")   # src/tflm_dispatch.c

# Every function of the kernel sources (edgesim_kernels*.c, tflm_dispatch.c) is kept; of
# compiler-rt only what they call (--gc-sections drops the rest).
_LINKER_SCRIPT = """
ENTRY(conv_s8)
SECTIONS {
  . = 0x%08X;
  .text : { KEEP(*edgesim_kernels*(.text*)) KEEP(*tflm_dispatch*(.text*)) *(.text*) *(.rodata*) }
  .data : { *(.data*) *(.bss*) *(COMMON) }
  /DISCARD/ : { *(.ARM.exidx*) *(.ARM.extab*) *(.ARM.attributes) *(.comment) }
}
"""


class ToolchainMissing(EdgesimError):
    """The `ziglang` wheel (the Cortex-M compiler) is not installed."""


@dataclass(frozen=True)
class Instr:
    address: int
    size: int                  # bytes (2 or 4)
    mnemonic: str              # without .w/.n width suffix
    operands: str


@dataclass(frozen=True)
class KernelImage:
    core: str
    path: Path                 # the cache folder
    code: bytes                # raw bytes to load at CODE_BASE
    symbols: dict              # entry name -> address (Thumb bit clear)
    instructions: dict         # address -> Instr


def cache_root() -> Path:
    return cache_dir("kernels")


@cache
def _compiler_version() -> str:
    try:
        return "ziglang " + version("ziglang")
    except PackageNotFoundError:
        raise ToolchainMissing("the Cortex-M compiler is missing: `pip install ziglang` "
                               "(edgesim's install brings it)") from None


def build(core: str) -> KernelImage:
    """Compile (or reuse the cached build of) the kernels for `core`."""
    if core not in CORE_FLAGS:
        raise EdgesimError(f"no kernel build for core {core!r} (have: {', '.join(CORE_FLAGS)})")
    sources = sorted(SRC_DIR.glob("*.c"))
    flags = CORE_FLAGS[core] + COMMON_FLAGS
    h = hashlib.sha256()
    for s in sources:
        h.update(s.name.encode() + b"\0" + s.read_bytes())
    h.update(" ".join(flags).encode() + _compiler_version().encode() + _LINKER_SCRIPT.encode())
    out = cache_root() / f"{core}-{h.hexdigest()[:16]}"
    if not (out / "image.json").is_file():
        tmp = private_dir(out)
        try:
            _compile(sources, flags, tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        publish_dir(tmp, out)
    return _load(core, out)


def _compile(sources: list[Path], flags: list[str], tmp: Path) -> None:
    """Compile and link into `tmp`: kernels.elf, kernels.bin (.text) and image.json."""
    from elftools.elf.elffile import ELFFile

    (tmp / "link.ld").write_text(_LINKER_SCRIPT % CODE_BASE)
    elf = tmp / "kernels.elf"
    cmd = [sys.executable, "-m", "ziglang", "cc", *flags, *map(str, sources),
           "-T", str(tmp / "link.ld"), "-Wl,--gc-sections", "-Wl,--entry=conv_s8",
           "-o", str(elf)]
    # zig keeps its own compilation cache; it locks its entries, so processes may share it.
    env = {**os.environ, "ZIG_GLOBAL_CACHE_DIR": str(cache_dir("zig")),
           "ZIG_LOCAL_CACHE_DIR": str(tmp / "zig-cache")}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode:
        raise EdgesimError(f"kernel build failed: {' '.join(r.stderr.split())[:400]}")
    shutil.rmtree(tmp / "zig-cache", ignore_errors=True)
    with elf.open("rb") as f:
        e = ELFFile(f)
        text = e.get_section_by_name(".text")
        if text is None or text["sh_addr"] != CODE_BASE:
            raise EdgesimError(f"kernel build: .text is not linked at 0x{CODE_BASE:08x}")
        for name in (".data", ".bss"):
            sec = e.get_section_by_name(name)
            if sec is not None and sec["sh_size"]:
                raise EdgesimError("kernels must not have .data/.bss (they run from flash "
                                   "without startup code)")
        code = text.data()
        functions, data_marks = {}, []
        for sym in e.get_section_by_name(".symtab").iter_symbols():
            if sym["st_info"]["type"] == "STT_FUNC":
                functions[sym.name] = (sym["st_value"] & ~1, sym["st_size"])
            elif sym.name.startswith(("$d", "$t")):      # ELF for Arm mapping symbols
                data_marks.append((sym["st_value"], sym.name.startswith("$d")))
    missing = set(ENTRY_POINTS) - set(functions)
    if missing:
        raise EdgesimError(f"kernel build lacks entry points: {', '.join(sorted(missing))}")
    (tmp / "kernels.bin").write_bytes(code)
    (tmp / "image.json").write_text(json.dumps({
        "symbols": {n: functions[n][0] for n in ENTRY_POINTS},
        "functions": functions, "data_marks": sorted(data_marks), "command": cmd}))


def _disassemble(code: bytes, functions: dict, data_marks: list) -> dict:
    """address -> Instr for every instruction of every function (capstone, Thumb-2 M-profile);
    literal data inside a function (between a $d and the next $t mapping symbol) is skipped."""
    import capstone

    md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    out = {}
    for start, size in functions.values():
        bounds = [start] + [a for a, _ in data_marks if start < a < start + size] + [start + size]
        for lo, hi in zip(bounds, bounds[1:]):
            if any(a == lo and is_data for a, is_data in data_marks):
                continue
            chunk = code[lo - CODE_BASE:hi - CODE_BASE]
            for ins in md.disasm_lite(chunk, lo):
                address, length, mnemonic, operands = ins
                out[address] = Instr(address, length, mnemonic.split(".")[0], operands)
    return out


@cache
def _load(core: str, out: Path) -> KernelImage:
    """The build in `out`, read and disassembled once per process (the folder name carries
    the hash of sources, flags and compiler, so its contents never change)."""
    meta = json.loads((out / "image.json").read_text())
    code = (out / "kernels.bin").read_bytes()
    return KernelImage(core=core, path=out, code=code, symbols=meta["symbols"],
                       instructions=_disassemble(code, meta["functions"], meta["data_marks"]))
