"""Cross-compile the C kernels for a Cortex-M core and pre-decode every instruction.

Build products (ELF, raw binary, symbol table, decoded instructions) go to a cache folder
keyed by the hash of the sources, flags and compiler version: $EDGESIM_CACHE/kernels/<hash>
(default ~/.cache/edgesim/kernels/<hash>). Nothing built is committed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from edgesim.errors import EdgesimError

SRC_DIR = Path(__file__).parent / "src"
APT_HINT = "apt-get update && apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi"
CODE_BASE = 0x08000000          # kernels are linked at the start of internal flash

#: Flags per core: Thumb-2, -O2, hard-float ABI (the FPU each core has), as the issue asks.
CORE_FLAGS = {
    "cortex-m7": ["-mcpu=cortex-m7", "-mthumb", "-O2", "-mfloat-abi=hard", "-mfpu=fpv5-d16"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-O2", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
}
COMMON_FLAGS = ["-ffreestanding", "-fno-builtin", "-fno-tree-loop-distribute-patterns",
                "-nostdlib", "-Wall", "-Werror", "-ffunction-sections"]
ENTRY_POINTS = ("conv_s8", "conv_1x1_s8", "depthwise_s8", "fully_connected_s8", "avgpool_s8",
                "maxpool_s8", "add_s8", "softmax_s8", "copy_s8")

_LINKER_SCRIPT = """
ENTRY(conv_s8)
SECTIONS {
  . = 0x%08X;
  .text : { KEEP(*(.text*)) *(.rodata*) }
  .data : { *(.data*) *(.bss*) *(COMMON) }
  /DISCARD/ : { *(.ARM.exidx*) *(.ARM.attributes) *(.comment) }
}
"""


class ToolchainMissing(EdgesimError):
    """arm-none-eabi-gcc is not installed."""


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
    return Path(os.environ.get("EDGESIM_CACHE", Path.home() / ".cache" / "edgesim")) / "kernels"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolchainMissing(f"{name} not found: install the Arm cross compiler with `{APT_HINT}`")
    return path


@cache
def _compiler_version(gcc: str) -> str:
    return subprocess.run([gcc, "--version"], capture_output=True, text=True, check=True).stdout.split("\n")[0]


def build(core: str) -> KernelImage:
    """Compile (or reuse the cached build of) the kernels for `core`."""
    if core not in CORE_FLAGS:
        raise EdgesimError(f"no kernel build for core {core!r} (have: {', '.join(CORE_FLAGS)})")
    gcc = _tool("arm-none-eabi-gcc")
    sources = sorted(SRC_DIR.glob("*.c"))
    flags = CORE_FLAGS[core] + COMMON_FLAGS
    h = hashlib.sha256()
    for s in sources:
        h.update(s.name.encode() + b"\0" + s.read_bytes())
    h.update(" ".join(flags).encode() + _compiler_version(gcc).encode() + _LINKER_SCRIPT.encode())
    out = cache_root() / f"{core}-{h.hexdigest()[:16]}"
    if not (out / "image.json").is_file():
        _compile(gcc, sources, flags, out)
    return _load(core, out)


def _compile(gcc: str, sources: list[Path], flags: list[str], out: Path) -> None:
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "link.ld").write_text(_LINKER_SCRIPT % CODE_BASE)
    elf = tmp / "kernels.elf"
    cmd = [gcc, *flags, *map(str, sources), "-T", str(tmp / "link.ld"),
           "-Wl,--no-gc-sections", "-o", str(elf), "-lgcc"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise EdgesimError(f"kernel build failed: {' '.join(r.stderr.split())[:400]}")
    objcopy, nm, objdump = (_tool(f"arm-none-eabi-{t}") for t in ("objcopy", "nm", "objdump"))
    subprocess.run([objcopy, "-O", "binary", "-j", ".text", str(elf), str(tmp / "kernels.bin")],
                   check=True)
    syms = {}
    for line in subprocess.run([nm, str(elf)], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in ENTRY_POINTS:
            syms[parts[2]] = int(parts[0], 16) & ~1
    missing = set(ENTRY_POINTS) - set(syms)
    if missing:
        raise EdgesimError(f"kernel build lacks entry points: {', '.join(sorted(missing))}")
    dis = subprocess.run([objdump, "-d", "--no-show-raw-insn", "-j", ".text", str(elf)],
                         capture_output=True, text=True, check=True).stdout
    (tmp / "kernels.dis").write_text(dis)
    sizes = _section_sizes(elf)
    if sizes.get(".data", 0):
        raise EdgesimError("kernels must not have .data/.bss (they run from flash without startup code)")
    (tmp / "image.json").write_text(json.dumps({"symbols": syms, "command": cmd}))
    if out.exists():
        shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def _section_sizes(elf: Path) -> dict:
    size = _tool("arm-none-eabi-size")
    text = subprocess.run([size, "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    return {p[0]: int(p[1]) for p in (l.split() for l in text.splitlines()) if len(p) >= 2 and p[1].isdigit()}


_LINE = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")


def _parse_disassembly(text: str, code: bytes) -> dict:
    rows = []
    in_text = False
    for line in text.splitlines():
        if line.startswith("Disassembly of section"):
            in_text = ".text" in line
            continue
        m = _LINE.match(line) if in_text else None
        if not m:
            continue
        addr = int(m.group(1), 16)
        mnem = m.group(2)
        ops = m.group(3).split(";")[0].split("@")[0].strip()
        if mnem.startswith("."):          # literal pool data (.word/.short)
            continue
        rows.append((addr, mnem, ops))
    out = {}
    for addr, mnem, ops in rows:
        off = addr - CODE_BASE
        hw = int.from_bytes(code[off:off + 2], "little")
        size = 4 if (hw >> 11) in (0b11101, 0b11110, 0b11111) else 2   # Thumb-2 32-bit prefixes
        base = mnem.split(".")[0]
        out[addr] = Instr(addr, size, base, ops)
    return out


@cache
def _load(core: str, out: Path) -> KernelImage:
    """The build in `out`, read and its disassembly parsed once per process (the folder
    name carries the hash of sources, flags and compiler, so its contents never change)."""
    meta = json.loads((out / "image.json").read_text())
    code = (out / "kernels.bin").read_bytes()
    return KernelImage(core=core, path=out, code=code, symbols=meta["symbols"],
                       instructions=_parse_disassembly((out / "kernels.dis").read_text(), code))
