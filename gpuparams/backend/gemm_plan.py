"""The GEMM planner: a cost model over tile configurations × split-K factors (``kernels/dense.cu``).

Every dense-layer GEMM is ``C (P×Q) = Σ_r A(i, r) B(r, j)`` over a reduction of length R. For each
configuration that may run (the cp.async ones only on 16-byte-aligned operands with leading dimensions
that are multiples of 4) and each split-K factor 1–16, :func:`estimate_us` predicts the time from

* **waves**: ``blocks = ceil(P/bm)·ceil(Q/bn)·splits`` over ``capacity = blocks/SM × SMs``, where
  blocks/SM comes from the compiled kernel's registers and shared memory (:func:`occupancy`, fed by
  the CUDA occupancy API on a GPU and by the compile gate's ptxas numbers in the emulator);
* **per-block time**: its FLOPs (the whole tile, edges included: a ragged edge is padded work) at the
  SM's FP32 rate × the configuration's efficiency (its FFMA share of the main loop, from the static
  gate), shared among the blocks resident on the SM; an SM with fewer than 8 warps resident is
  assumed to run proportionally slower (too little to hide the shared-memory latency);
* **memory**: operands read once, the output written once, split-K partials written and read back,
  at DRAM bandwidth; the tile's last slice summing the partials at one SM's L2 bandwidth;
* a fixed cost per launch (which the grouped backward saves once).

and the plan with the lowest estimate wins (ties: fewer splits, then the order of
:data:`TILE_CONFIGS`). :func:`plan_backward` does the same for dX and dW together, including one
grouped launch of both. The model is deliberately simple: its numbers are relative, for ranking
plans; the benchmarks' planner sweep (``GPUPARAMS_GEMM_PLAN``) measures how well it ranks.

``GPUPARAMS_GEMM_PLAN=tile:split`` (e.g. ``w:1``, ``m:4``, ``s:3``; ``tile`` alone means split 1) forces
one plan for every GEMM of the process (read once, at the first plan); a forced cp.async tile on
operands it cannot take falls back to the planner's choice among the fallback tiles.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

__all__ = [
    "TileConfig", "TILE_CONFIGS", "ASYNC_TILES", "FALLBACK_TILES", "DeviceModel", "H100", "H200",
    "DEVICE_MODELS", "device_model", "occupancy", "GemmPlan", "BackwardPlan", "estimate_us",
    "plan_gemm", "plan_backward", "forced_plan", "parse_plan", "PLAN_ENV", "MAX_SPLITS",
]

PLAN_ENV = "GPUPARAMS_GEMM_PLAN"
MAX_SPLITS = 16
_GRID_YZ_MAX = 65535


@dataclass(frozen=True)
class TileConfig:
    """One compiled tile configuration of ``kernels/dense.cu``.

    Attributes
    ----------
    name : str
        Kernel suffix: ``dense_fwd_<name>`` etc.
    bm, bn, bk : int
        Output rows and columns per block; reduction depth per shared-memory stage.
    threads : int
        Threads per block.
    split_k : bool
        Whether the kernels have the split-K path.
    stages : int
        cp.async pipeline depth (0: the register-staged double buffer of the fallback kernels).
    efficiency : float
        Fraction of the FP32 peak a saturated SM reaches with it: the FFMA share of the main loop
        from the static gate (``w`` 0.86–0.91, ``m`` 0.74–0.84, ``l`` 0.69–0.78, ``s`` 0.51–0.63),
        averaged over forward and backward. To be replaced by measured rates (gpu_check.sh).
    """

    name: str
    bm: int
    bn: int
    bk: int
    threads: int
    split_k: bool
    stages: int = 0
    efficiency: float = 0.8

    @property
    def async_copy(self):
        return self.stages > 0

    @property
    def warps(self):
        return self.threads // 32

    def dynamic_smem(self):
        """Dynamic shared memory per block in bytes (the pipeline's stages)."""
        return self.stages * (self.bm + self.bn) * self.bk * 4


TILE_CONFIGS = {
    # cp.async, 3 stages, BK=32: the large tile for big GEMMs, 1 block/SM.
    "w": TileConfig("w", 128, 256, 32, 256, True, stages=3, efficiency=0.88),
    # cp.async, 128×64: the batch-1024–2048 band, 3 blocks/SM (2 for its grouped backward).
    "m": TileConfig("m", 128, 64, 32, 128, True, stages=3, efficiency=0.78),
    # Fallbacks for misaligned operands / leading dimensions not a multiple of 4.
    "l": TileConfig("l", 128, 128, 8, 256, False, efficiency=0.78),
    "s": TileConfig("s", 64, 64, 16, 256, True, efficiency=0.62),
}
ASYNC_TILES = ("w", "m")
FALLBACK_TILES = ("l", "s")


@dataclass(frozen=True)
class DeviceModel:
    """What the cost model needs to know about a GPU (datasheet values; sm_90 limits)."""

    name: str
    sms: int
    fp32_tflops: float
    dram_tbps: float
    #: one SM's sustained L2 read bandwidth (GB/s), for the split-K sum done by one block
    sm_l2_gbps: float = 100.0
    regs_per_sm: int = 65536
    smem_per_sm: int = 228 * 1024
    smem_reserved_per_block: int = 1024
    max_threads_per_sm: int = 2048
    max_blocks_per_sm: int = 32
    launch_us: float = 3.0

    @property
    def sm_gflops(self):
        return self.fp32_tflops * 1e3 / self.sms


H100 = DeviceModel("H100 SXM", 132, 67.0, 3.35)
H200 = DeviceModel("H200 SXM", 132, 67.0, 4.8)
DEVICE_MODELS = {"h100": H100, "h200": H200}


def device_model(name, sms):
    """The :class:`DeviceModel` for a GPU named ``name`` (NVML / CUDA name) with ``sms`` SMs.

    Known Hopper parts get their datasheet rates; anything else an H100's rates scaled to its SM
    count (the ranking of plans depends mostly on the SM count).
    """
    low = (name or "").lower()
    base = H200 if "h200" in low else H100
    if sms == base.sms:
        return base
    return DeviceModel(f"{name} ({sms} SMs)", sms, base.fp32_tflops * sms / base.sms,
                       base.dram_tbps)


def occupancy(registers, threads, static_smem, dynamic_smem, device=H100):
    """Resident blocks per SM on sm_90 for a kernel's registers/thread and shared memory/block.

    Registers are allocated per warp in units of 256 (registers/thread rounded up to 8); shared
    memory per block includes 1 KiB the system reserves. This is what
    ``cudaOccupancyMaxActiveBlocksPerMultiprocessor`` computes (CUDA occupancy calculator rules).
    """
    warps = -(-threads // 32)
    regs_per_warp = -(-max(registers, 1) * 32 // 256) * 256
    by_regs = device.regs_per_sm // (warps * regs_per_warp)
    smem = static_smem + dynamic_smem + device.smem_reserved_per_block
    by_smem = device.smem_per_sm // smem
    by_threads = device.max_threads_per_sm // threads
    return max(0, min(by_regs, by_smem, by_threads, device.max_blocks_per_sm))


@dataclass(frozen=True)
class GemmPlan:
    """How one GEMM is launched: configuration, split count, grid and the model's estimate."""

    config: TileConfig
    splits: int
    grid: tuple
    est_us: float = field(default=0.0, compare=False)
    forced: bool = field(default=False, compare=False)

    @property
    def blocks(self):
        return self.grid[0] * self.grid[1] * self.grid[2]


@dataclass(frozen=True)
class BackwardPlan:
    """dX and dW: either one grouped launch (``grouped``) or two plans launched one after another."""

    dx: GemmPlan
    dw: GemmPlan
    grouped: bool
    est_us: float = field(default=0.0, compare=False)


def _cdiv(a, b):
    return -(-a // b)


def _utilization(warps):
    # An SM with fewer than 8 warps resident cannot hide shared-memory and FMA latency.
    return min(1.0, warps / 8.0)


def _block_us(cfg, R, splits, device, resident):
    """Time of one block when ``resident`` blocks share its SM."""
    ktiles = _cdiv(max(R, 1), cfg.bk)
    depth = _cdiv(ktiles, splits) * cfg.bk
    flops = 2.0 * cfg.bm * cfg.bn * depth
    rate = device.sm_gflops * 1e3 * cfg.efficiency * _utilization(resident * cfg.warps)  # FLOP/us
    return flops * resident / rate


def _grid_us(groups, device, bps):
    """Makespan of blocks launched in order: ``groups`` is ``[(n_blocks, cfg, R, splits)]``.

    Full waves hold ``bps`` blocks per SM; the blocks of the last, partial wave spread over the
    SMs first (as the block scheduler does), so a half-empty wave runs its blocks faster but
    leaves SMs idle. A second group starts on the slots the first group's last wave leaves free.
    """
    capacity = bps * device.sms
    total = sum(n for n, *_ in groups)
    if total == 0:
        return 0.0
    if total <= capacity:
        resident = _cdiv(total, device.sms)
        return max(_block_us(cfg, R, s, device, resident) for n, cfg, R, s in groups if n)
    t = 0.0
    carry = 0.0  # work (in slot-microseconds) the previous group's last wave leaves on busy slots
    for i, (n, cfg, R, s) in enumerate(groups):
        if n == 0:
            continue
        d = _block_us(cfg, R, s, device, bps)
        full, rem = divmod(n, capacity)
        last = i == len(groups) - 1 or all(m == 0 for m, *_ in groups[i + 1:])
        if last:
            # The leftover of the previous group shares the first wave with this one; the blocks
            # of a final, partial wave spread over the SMs and run with fewer neighbours.
            n_eff = n + carry / d
            full = int(n_eff // capacity + 1e-9)
            rem = n_eff - full * capacity
            t += full * d
            if rem > 1e-9:
                t += _block_us(cfg, R, s, device, min(bps, _cdiv(math.ceil(rem - 1e-9), device.sms)))
        else:
            t += full * d
            carry = rem * d
    return t


def estimate_us(P, Q, R, cfg, splits, device, bps, *, launches=1):
    """Estimated microseconds for ``C (P×Q) = A·B`` reduced over ``R`` with ``cfg`` and ``splits``.

    ``bps`` is the kernel's resident blocks per SM (:func:`occupancy`). See the module docstring.
    """
    if bps <= 0:
        return math.inf
    blocks = _cdiv(P, cfg.bm) * _cdiv(Q, cfg.bn) * splits
    compute = _grid_us([(blocks, cfg, R, splits)], device, bps)
    return compute + _memory_us(P, Q, R, cfg, splits, device) + launches * device.launch_us


def _memory_us(P, Q, R, cfg, splits, device):
    nbytes = 4.0 * (P * R + Q * R + P * Q)
    if splits > 1:
        nbytes += 2 * 4.0 * splits * P * Q
    mem = nbytes / (device.dram_tbps * 1e6)  # bytes / (bytes per us)
    # Split-K: the last slice of a tile reads every slice's partial tile alone (one SM's bandwidth).
    reduce = 4.0 * splits * cfg.bm * cfg.bn / (device.sm_l2_gbps * 1e3) if splits > 1 else 0.0
    # Memory streams while the SMs compute; count the part of it the multiply cannot hide.
    return mem * 0.25 + reduce


def _grid(P, Q, cfg, splits):
    grid = (_cdiv(P, cfg.bm), _cdiv(Q, cfg.bn), splits)
    if grid[1] > _GRID_YZ_MAX:
        raise ValueError(f"{Q} output columns exceed the kernels' grid limit "
                         f"({_GRID_YZ_MAX * cfg.bn} for tile {cfg.name!r})")
    return grid


def _max_splits(cfg, R):
    if not cfg.split_k:
        return 1
    return max(1, min(MAX_SPLITS, _cdiv(max(R, 0), cfg.bk)))


def parse_plan(text):
    """``'tile:split'`` (or ``'tile'``) → ``(name, splits)``; raises ValueError naming the fix."""
    text = text.strip()
    name, _, split = text.partition(":")
    name = name.strip()
    if name not in TILE_CONFIGS:
        raise ValueError(f"{PLAN_ENV}={text!r}: unknown tile {name!r}; use one of "
                         f"{sorted(TILE_CONFIGS)} as 'tile' or 'tile:split', e.g. 'w:1' or 'm:4'")
    try:
        splits = int(split) if split.strip() else 1
    except ValueError:
        raise ValueError(f"{PLAN_ENV}={text!r}: the split count must be an integer 1-{MAX_SPLITS}") from None
    if not 1 <= splits <= MAX_SPLITS:
        raise ValueError(f"{PLAN_ENV}={text!r}: the split count must be 1-{MAX_SPLITS}")
    if splits > 1 and not TILE_CONFIGS[name].split_k:
        raise ValueError(f"{PLAN_ENV}={text!r}: tile {name!r} has no split-K; use splits 1")
    return name, splits


_forced = None
_forced_read = False


def forced_plan():
    """The plan ``GPUPARAMS_GEMM_PLAN`` forces, as ``(name, splits)``, or None (read once)."""
    global _forced, _forced_read
    if not _forced_read:
        text = os.environ.get(PLAN_ENV, "").strip()
        _forced = parse_plan(text) if text else None
        _forced_read = True
    return _forced


def _reset_forced_plan():
    """Forget the cached environment variable (tests)."""
    global _forced, _forced_read
    _forced, _forced_read = None, False


def _force(tile):
    """Normalize a ``tile`` argument (``'s'``, ``('s', 3)``, or None) to ``(name, splits)`` or None."""
    if tile is None:
        return None
    name, splits = (tile, 1) if isinstance(tile, str) else tile
    if name not in TILE_CONFIGS:
        raise ValueError(f"unknown tile configuration {name!r}: use one of {sorted(TILE_CONFIGS)}")
    if int(splits) < 1:
        raise ValueError(f"split count must be >= 1, got {splits}")
    if int(splits) > 1 and not TILE_CONFIGS[name].split_k:
        raise ValueError(f"tile configuration {name!r} has no split-K; use ('s', {splits})")
    return name, int(splits)


def _candidates(aligned):
    return [c for n, c in TILE_CONFIGS.items() if aligned or n in FALLBACK_TILES]


def plan_gemm(P, Q, R, device, blocks_per_sm, *, kernel="dense_fwd", aligned=True, tile=None):
    """Choose the configuration and split-K factor with the lowest estimated time.

    Parameters
    ----------
    P, Q, R : int
        Output rows, output columns, reduction length.
    device : DeviceModel
    blocks_per_sm : mapping of str to int
        Resident blocks per SM of each kernel, keyed ``f"{kernel}_{tile}"``.
    kernel : str
        ``'dense_fwd'``, ``'dense_bwd_dx'`` or ``'dense_bwd_dw'``.
    aligned : bool
        Whether the cp.async tiles may run (16-byte-aligned operands, leading dimensions % 4 == 0).
    tile : None, str or (str, int)
        Force a configuration and split count (tests); else ``GPUPARAMS_GEMM_PLAN`` if set.

    Returns
    -------
    GemmPlan
    """
    forced = _force(tile) or forced_plan()
    if forced is not None and (aligned or forced[0] in FALLBACK_TILES):
        cfg = TILE_CONFIGS[forced[0]]
        splits = max(1, min(forced[1], _max_splits(cfg, R)))
        bps = blocks_per_sm.get(f"{kernel}_{cfg.name}", 1)
        est = estimate_us(P, Q, R, cfg, splits, device, bps)
        return GemmPlan(cfg, splits, _grid(P, Q, cfg, splits), est, forced=True)
    best = None
    for cfg in _candidates(aligned):
        bps = blocks_per_sm.get(f"{kernel}_{cfg.name}", 0)
        for splits in range(1, _max_splits(cfg, R) + 1):
            est = estimate_us(P, Q, R, cfg, splits, device, bps)
            if best is None or est < best[0] * (1 - 1e-9):
                best = (est, cfg, splits)
    est, cfg, splits = best
    return GemmPlan(cfg, splits, _grid(P, Q, cfg, splits), est)


def plan_backward(N, K, M, device, blocks_per_sm, *, need_dx=True, need_dw=True, aligned=True,
                  tile=None):
    """Plan dX (N×K over M) and dW (M×K over N): separately, or as one grouped launch.

    The grouped kernel (cp.async tiles only) runs dX's blocks then dW's in one grid; its estimate
    is the makespan of both block sets on the grouped kernel's occupancy plus one launch, against
    the sum of the two separate plans' estimates (two launches).

    Returns
    -------
    BackwardPlan
        ``dx`` / ``dw`` are None where not needed; ``grouped`` only when both are.
    """
    dx = plan_gemm(N, K, M, device, blocks_per_sm, kernel="dense_bwd_dx", aligned=aligned,
                   tile=tile) if need_dx else None
    dw = plan_gemm(M, K, N, device, blocks_per_sm, kernel="dense_bwd_dw", aligned=aligned,
                   tile=tile) if need_dw else None
    separate = (dx.est_us if dx else 0.0) + (dw.est_us if dw else 0.0)
    best = BackwardPlan(dx, dw, False, separate)
    if not (need_dx and need_dw and aligned):
        return best
    forced = _force(tile) or forced_plan()
    names = ASYNC_TILES if forced is None else tuple(n for n in ASYNC_TILES if n == forced[0])
    for name in names:
        cfg = TILE_CONFIGS[name]
        bps = blocks_per_sm.get(f"dense_bwd_grouped_{name}", 0)
        if bps <= 0:
            continue
        sx_range = range(1, _max_splits(cfg, M) + 1)
        sw_range = range(1, _max_splits(cfg, N) + 1)
        if forced is not None:
            sx_range = [min(forced[1], _max_splits(cfg, M))]
            sw_range = [min(forced[1], _max_splits(cfg, N))]
        tiles_dx = _cdiv(N, cfg.bm) * _cdiv(K, cfg.bn)
        tiles_dw = _cdiv(M, cfg.bm) * _cdiv(K, cfg.bn)
        for sx in sx_range:
            for sw in sw_range:
                compute = _grid_us([(tiles_dx * sx, cfg, M, sx), (tiles_dw * sw, cfg, N, sw)],
                                   device, bps)
                est = (compute + _memory_us(N, K, M, cfg, sx, device)
                       + _memory_us(M, K, N, cfg, sw, device) + device.launch_us)
                if forced is not None or est < best.est_us * (1 - 1e-9):
                    best = BackwardPlan(GemmPlan(cfg, sx, _grid(N, K, cfg, sx), forced=forced is not None),
                                        GemmPlan(cfg, sw, _grid(M, K, cfg, sw), forced=forced is not None),
                                        True, est)
    return best
