"""The static performance gate: what the SASS of a compiled kernel file says (issue 12, DESIGN.md §5).

The cubin the compile gate gets from NVRTC (:func:`gpuparams.gate.nvrtc.compile_report`) is
disassembled with ``nvdisasm`` (from ``$CUDA_PATH``/``$CUDA_HOME``/``/usr/local/cuda``, ``PATH``, or
the ``nvidia-cuda-nvdisasm`` wheel), and per kernel this module reports

* the **main loop**: the loop (a label and the backward branch to it) holding the most FFMAs, and
  the **FFMA share** of its instructions. With every inner loop of the k-tile loop unrolled, each
  instruction of that loop runs once per k-tile, so this is the share of the main loop's executed
  instructions (an inner loop left rolled would be counted once, and the gate says so);
* ``LDS.128`` / ``LDS.64`` / ``LDS.32`` counts in the main loop (operand reads from shared memory);
* local-memory instructions (``LDL``/``STL``) anywhere in the kernel;
* resident **blocks per SM** on sm_90 from ptxas' registers and the kernel's shared memory.

:func:`check_floors` fails a kernel whose ``// @budget ... ffma_share=F`` floor it misses, or that
touches local memory while it declares a floor. Where no ``nvdisasm`` exists, :func:`nvdisasm_path`
returns None and the gate is skipped with that reason.
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LoopStats", "KernelSass", "nvdisasm_path", "disassemble", "parse_sass", "analyze",
           "kernel_sass", "check_floors", "format_sass_table"]


def nvdisasm_path():
    """Path of an ``nvdisasm`` executable, or None."""
    for env in ("CUDA_PATH", "CUDA_HOME"):
        root = os.environ.get(env, "").strip()
        if root and Path(root, "bin", "nvdisasm").is_file():
            return str(Path(root, "bin", "nvdisasm"))
    found = shutil.which("nvdisasm")
    if found:
        return found
    if Path("/usr/local/cuda/bin/nvdisasm").is_file():
        return "/usr/local/cuda/bin/nvdisasm"
    try:
        import nvidia  # the namespace package of NVIDIA's CUDA wheels
    except ImportError:
        return None
    for base in getattr(nvidia, "__path__", []):
        for candidate in sorted(Path(base).glob("cu*/bin/nvdisasm")):
            return str(candidate)
    return None


def _elf_size(cubin):
    """The size an ELF64 image claims (end of its section and program header tables)."""
    if len(cubin) < 64 or cubin[:4] != b"\x7fELF":
        return len(cubin)
    phoff, shoff = struct.unpack_from("<QQ", cubin, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", cubin, 0x36)
    return max(len(cubin), phoff + phentsize * phnum, shoff + shentsize * shnum)


def disassemble(cubin, nvdisasm=None):
    """SASS text of ``cubin`` (bytes), as ``nvdisasm -c`` prints it."""
    tool = nvdisasm or nvdisasm_path()
    if tool is None:
        raise RuntimeError("nvdisasm not found: install 'nvidia-cuda-nvdisasm' or a CUDA toolkit")
    # CuPy's getCUBIN binding can drop the image's last byte (it treats the buffer as a C string);
    # nvdisasm then refuses the file, so pad it back to the size the ELF headers give.
    cubin = bytes(cubin)
    cubin += b"\0" * (_elf_size(cubin) - len(cubin))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "k.cubin")
        path.write_bytes(cubin)
        proc = subprocess.run([tool, "-c", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"nvdisasm failed: {proc.stderr.strip()}")
    return proc.stdout


_SECTION_RE = re.compile(r"^\s*\.section\s+\.text\.([^,\s]+)")
_LABEL_RE = re.compile(r"^(\.L\w+):")
_INSTR_RE = re.compile(r"^\s*/\*[0-9a-f]+\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)(.*?);")
_BRANCH_RE = re.compile(r"`\((\.L\w+)\)")


def parse_sass(text):
    """``{symbol: (instructions, labels)}``: each instruction ``(opcode, operands)``, labels name→index."""
    functions = {}
    current = None
    for line in text.splitlines():
        m = _SECTION_RE.match(line)
        if m:
            current = functions.setdefault(m.group(1), ([], {}))
            continue
        if current is None:
            continue
        m = _LABEL_RE.match(line.strip())
        if m:
            current[1][m.group(1)] = len(current[0])
            continue
        m = _INSTR_RE.match(line)
        if m:
            current[0].append((m.group(2), m.group(3)))
    return functions


@dataclass
class LoopStats:
    """Instruction counts of one loop (or a whole kernel)."""

    instructions: int = 0
    ffma: int = 0
    lds128: int = 0
    lds64: int = 0
    lds32: int = 0
    inner_loops: int = 0

    @property
    def ffma_share(self):
        return self.ffma / self.instructions if self.instructions else 0.0


@dataclass
class KernelSass:
    """The gate's view of one kernel."""

    name: str
    main_loop: LoopStats
    local_memory: int       # LDL/STL instructions anywhere in the kernel
    instructions: int
    blocks_per_sm: int = 0


def _count(instrs):
    s = LoopStats(instructions=0)
    for op, _ in instrs:
        if op == "NOP":
            continue
        s.instructions += 1
        if op.startswith("FFMA"):
            s.ffma += 1
        elif op.startswith("LDS"):
            if ".128" in op:
                s.lds128 += 1
            elif ".64" in op:
                s.lds64 += 1
            else:
                s.lds32 += 1
    return s


def analyze(instructions, labels):
    """``(main loop stats, local-memory instruction count)`` of one function."""
    loops = []
    for i, (op, rest) in enumerate(instructions):
        if not op.startswith("BRA"):
            continue
        m = _BRANCH_RE.search(rest)
        if m and m.group(1) in labels and labels[m.group(1)] <= i:
            loops.append((labels[m.group(1)], i))
    best = None
    for start, end in loops:
        stats = _count(instructions[start:end + 1])
        stats.inner_loops = sum(1 for s, e in loops if start <= s and e <= end and (s, e) != (start, end))
        if best is None or stats.ffma > best.ffma:
            best = stats
    local = sum(1 for op, _ in instructions if op.startswith(("LDL", "STL")))
    return best or LoopStats(), local


def kernel_sass(report, nvdisasm=None, device=None):
    """``{kernel name: KernelSass}`` for a :class:`~gpuparams.gate.nvrtc.CompileReport`.

    ``blocks_per_sm`` uses the ptxas registers and static shared memory plus the dynamic shared
    memory the dense launcher requests for the kernel's tile (0 for other kernels).
    """
    from ..backend import gemm_plan
    text = disassemble(report.cubin, nvdisasm)
    functions = parse_sass(text)
    out = {}
    for name, res in report.kernels.items():
        body = functions.get(res.entry)
        if body is None:
            continue
        loop, local = analyze(*body)
        tile = gemm_plan.TILE_CONFIGS.get(name.rsplit("_", 1)[-1]) if name.startswith("dense_") else None
        dyn = tile.dynamic_smem() if tile else 0
        threads = tile.threads if tile else 256
        bps = gemm_plan.occupancy(res.registers, threads, res.shared, dyn,
                                  device or gemm_plan.H100)
        out[name] = KernelSass(name, loop, local, len(body[0]), bps)
    return out


def check_floors(sass, budgets):
    """Problems: a kernel under its ``ffma_share`` floor, or with local memory and a floor."""
    from .nvrtc import _norm
    problems = []
    for name, k in sass.items():
        budget = budgets.get(_norm(name))
        if budget is None or budget.ffma_share is None:
            continue
        share = k.main_loop.ffma_share
        if k.main_loop.inner_loops:
            problems.append(f"{name}: the main loop has {k.main_loop.inner_loops} inner loop(s) "
                            f"left rolled; its FFMA share is not per k-tile (unroll them)")
        if share < budget.ffma_share:
            problems.append(f"{name}: FFMA share of the main loop {share:.3f} "
                            f"({k.main_loop.ffma} of {k.main_loop.instructions}), under the floor "
                            f"{budget.ffma_share} (line {budget.line})")
        if k.local_memory:
            problems.append(f"{name}: {k.local_memory} local-memory instructions (LDL/STL)")
    return problems


def format_sass_table(sass, budgets=None):
    """A per-kernel table for CI logs."""
    from .nvrtc import _norm
    rows = [("kernel", "loop instr", "FFMA", "share/floor", "LDS.128", "LDS.64", "LDS.32", "local",
             "blocks/SM")]
    for name in sorted(sass):
        k = sass[name]
        budget = (budgets or {}).get(_norm(name))
        floor = f"{budget.ffma_share}" if budget is not None and budget.ffma_share else "-"
        loop = k.main_loop
        rows.append((name, str(loop.instructions), str(loop.ffma), f"{loop.ffma_share:.3f}/{floor}",
                     str(loop.lds128), str(loop.lds64), str(loop.lds32), str(k.local_memory),
                     str(k.blocks_per_sm)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
