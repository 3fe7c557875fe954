"""The cost-model GEMM planner (gpuparams.backend.gemm_plan, issue 12), pure Python.

Its choices are checked on an H100 and an H200 (132 SMs each) for the shapes of the benchmark suites
(forward 4096³; batch 256–2048 × 1024→1024; the training MLPs), batch 1, 7, 4097 and odd K, against
hand-worked wave counts and against a brute-force search over every candidate plan.
"""
import itertools

import pytest

from gpuparams.backend import gemm_plan as gp_plan
from gpuparams.backend.gemm_plan import H100, H200, TILE_CONFIGS, occupancy

#: ptxas numbers of dense.cu (NVRTC 13.5, sm_90, 2026-12-04): registers and static shared memory.
PTXAS = {
    "dense_fwd_w": (255, 16), "dense_bwd_dx_w": (255, 16), "dense_bwd_dw_w": (247, 16),
    "dense_bwd_grouped_w": (252, 16), "dense_fwd_m": (168, 16), "dense_bwd_dx_m": (168, 16),
    "dense_bwd_dw_m": (167, 16), "dense_bwd_grouped_m": (203, 16), "dense_fwd_l": (127, 16384),
    "dense_bwd_dx_l": (127, 16384), "dense_bwd_dw_l": (123, 16384), "dense_fwd_s": (71, 16400),
    "dense_bwd_dx_s": (71, 16400), "dense_bwd_dw_s": (74, 16400),
}


def table(device=H100):
    out = {}
    for name, (regs, smem) in PTXAS.items():
        cfg = TILE_CONFIGS[name.rsplit("_", 1)[1]]
        out[name] = occupancy(regs, cfg.threads, smem, cfg.dynamic_smem(), device)
    return out


BPS = table()
DEVICES = [pytest.param(H100, id="H100"), pytest.param(H200, id="H200")]
# (N, K, M): batch, in, out — the kernels suite, the train suite's layers, and the odd ones.
SUITE = [(4096, 4096, 4096), (256, 1024, 1024), (512, 1024, 1024), (1024, 1024, 1024),
         (2048, 1024, 1024), (128, 784, 256), (128, 256, 256), (128, 256, 10), (256, 1024, 1024),
         (2048, 1024, 10)]
ODD = [(1, 1024, 1024), (7, 1024, 1024), (4097, 1024, 1024), (4096, 1024, 1024)]


@pytest.fixture(autouse=True)
def no_forced_plan(monkeypatch):
    monkeypatch.delenv(gp_plan.PLAN_ENV, raising=False)
    gp_plan._reset_forced_plan()
    yield
    gp_plan._reset_forced_plan()


def test_occupancy_follows_the_sm90_rules():
    assert BPS == {
        "dense_fwd_w": 1, "dense_bwd_dx_w": 1, "dense_bwd_dw_w": 1, "dense_bwd_grouped_w": 1,
        "dense_fwd_m": 3, "dense_bwd_dx_m": 3, "dense_bwd_dw_m": 3, "dense_bwd_grouped_m": 2,
        "dense_fwd_l": 2, "dense_bwd_dx_l": 2, "dense_bwd_dw_l": 2,
        "dense_fwd_s": 3, "dense_bwd_dx_s": 3, "dense_bwd_dw_s": 3}
    # Registers: 64 per thread at 256 threads is 16 K per block -> 4 blocks; 65 rounds up to 72.
    assert occupancy(64, 256, 0, 0) == 4 and occupancy(65, 256, 0, 0) == 3
    # Shared memory: 1 KiB reserved per block, 228 KiB per SM.
    assert occupancy(32, 128, 0, 113 * 1024) == 2 and occupancy(32, 128, 0, 114 * 1024) == 1
    assert occupancy(16, 1024, 0, 0) == 2 and occupancy(8, 32, 0, 0) == 32  # threads, blocks


def test_estimate_of_exactly_one_wave_by_hand():
    cfg = TILE_CONFIGS["w"]
    P, Q, R = 128 * 132, 256, 64  # 132 tiles: one per SM
    block_us = 2 * 128 * 256 * 64 / (H100.fp32_tflops * 1e6 / 132 * cfg.efficiency)
    mem_us = 4 * (P * R + Q * R + P * Q) / (H100.dram_tbps * 1e6) * 0.25
    got = gp_plan.estimate_us(P, Q, R, cfg, 1, H100, 1)
    assert got == pytest.approx(block_us + mem_us + H100.launch_us, rel=1e-9)
    # One more row of tiles: a second wave of one block per SM on 2 SMs... costs a whole block time.
    more = gp_plan.estimate_us(P + 1, Q, R, cfg, 1, H100, 1)
    assert more - got == pytest.approx(block_us, rel=0.02)


def _brute_force(P, Q, R, kernel, aligned, device):
    best = None
    for name, cfg in TILE_CONFIGS.items():
        if not aligned and cfg.async_copy:
            continue
        top = min(16, -(-R // cfg.bk)) if cfg.split_k else 1
        for s in range(1, top + 1):
            est = gp_plan.estimate_us(P, Q, R, cfg, s, device, BPS[f"{kernel}_{name}"])
            best = est if best is None else min(best, est)
    return best


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SUITE + ODD, ids=lambda s: "x".join(map(str, s)))
def test_plans_are_the_cheapest_candidate_and_fill_the_gpu(device, shape):
    N, K, M = shape
    for kernel, (P, Q, R) in (("dense_fwd", (N, M, K)), ("dense_bwd_dx", (N, K, M)),
                              ("dense_bwd_dw", (M, K, N))):
        plan = gp_plan.plan_gemm(P, Q, R, device, BPS, kernel=kernel)
        assert plan.est_us == pytest.approx(_brute_force(P, Q, R, kernel, True, device))
        assert plan.grid == (-(-P // plan.config.bm), -(-Q // plan.config.bn), plan.splits)
        assert 1 <= plan.splits <= 16
        # Whenever the smallest tile with the most splits could give every SM a block, the chosen
        # plan leaves at most a tenth of the SMs idle (a GEMM big enough to matter fills the GPU).
        m = TILE_CONFIGS["m"]
        possible = -(-P // m.bm) * -(-Q // m.bn) * min(16, -(-R // m.bk))
        if possible >= device.sms and 2.0 * P * Q * R >= 2 * 256 * 1024 * 1024:
            assert plan.blocks >= 0.9 * device.sms, (kernel, P, Q, R, plan)


@pytest.mark.parametrize("device", DEVICES)
def test_forward_choices_worked_by_hand(device):
    def fwd(N, K, M, aligned=True):
        p = gp_plan.plan_gemm(N, M, K, device, BPS, aligned=aligned)
        return p.config.name, p.splits

    # 4096³: 32×16 = 512 large tiles, 3.9 waves at one block per SM: no split needed.
    assert fwd(4096, 4096, 4096) == ("w", 1)
    # Batch 4097: 33×4 = 132 large tiles, exactly one wave; 'm' would need 1.33 waves of 396.
    assert fwd(4097, 1024, 1024) == ("w", 1)
    # Batch 2048: 16×4 = 64 large tiles leave half the SMs idle, so not the large tile unsplit.
    name, splits = fwd(2048, 1024, 1024)
    assert (name, splits) != ("w", 1)
    # Batch 1 and 7: one row of tiles; only split-K can spread the reduction over the SMs (and the
    # 64-row fallback tile pads a 1-row batch half as much as the 128-row ones).
    for n in (1, 7):
        plan = gp_plan.plan_gemm(n, 1024, 1024, device, BPS)
        assert plan.splits > 1 and plan.blocks >= 0.9 * device.sms, (n, plan)
    # Odd K (in features 1023): no cp.async tile can copy the rows, a fallback tile runs.
    assert fwd(256, 1023, 1024)[0] in ("l", "s")
    assert fwd(256, 1024, 1024, aligned=False)[0] in ("l", "s")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(256, 1024, 1024), (2048, 1024, 1024), (7, 1024, 1024)],
                         ids=lambda s: "x".join(map(str, s)))
def test_backward_groups_dx_and_dw_when_that_is_cheaper(device, shape):
    N, K, M = shape
    plan = gp_plan.plan_backward(N, K, M, device, BPS)
    dx = gp_plan.plan_gemm(N, K, M, device, BPS, kernel="dense_bwd_dx")
    dw = gp_plan.plan_gemm(M, K, N, device, BPS, kernel="dense_bwd_dw")
    assert plan.est_us <= dx.est_us + dw.est_us + 1e-9
    if plan.grouped:
        assert plan.dx.config is plan.dw.config and plan.dx.config.async_copy
        assert plan.dx.blocks + plan.dw.blocks >= 0.9 * device.sms
    # At batch 256 and 2048 the cp.async tiles win and one launch beats two; at batch 7 the 64-row
    # fallback tile pads less, and the backward may stay two launches.
    if N >= 256:
        assert plan.grouped
    # Unaligned operands or one gradient only: never grouped.
    assert not gp_plan.plan_backward(N, K, M, device, BPS, aligned=False).grouped
    assert not gp_plan.plan_backward(N, K, M, device, BPS, need_dw=False).grouped


def test_h200_bandwidth_shows_in_memory_bound_estimates():
    for cfg, s in itertools.product(("w", "m"), (1, 8)):
        h100 = gp_plan.estimate_us(1, 4096, 4096, TILE_CONFIGS[cfg], s, H100, BPS[f"dense_fwd_{cfg}"])
        h200 = gp_plan.estimate_us(1, 4096, 4096, TILE_CONFIGS[cfg], s, H200, BPS[f"dense_fwd_{cfg}"])
        assert h200 < h100
    assert gp_plan.device_model("NVIDIA H200", 132) is H200
    assert gp_plan.device_model("NVIDIA H100 80GB HBM3", 132) is H100
    assert gp_plan.device_model("NVIDIA H100 PCIe", 114).sms == 114


def test_forced_plans(monkeypatch):
    plan = gp_plan.plan_gemm(256, 1024, 1024, H100, BPS, tile=("m", 4))
    assert (plan.config.name, plan.splits, plan.grid, plan.forced) == ("m", 4, (2, 16, 4), True)
    # Clamped to the number of BK stages; a forced cp.async tile on unaligned operands is ignored.
    assert gp_plan.plan_gemm(10, 10, 20, H100, BPS, tile=("s", 8)).splits == 2
    assert gp_plan.plan_gemm(10, 10, 0, H100, BPS, tile=("s", 8)).splits == 1
    assert gp_plan.plan_gemm(8, 8, 64, H100, BPS, tile="w", aligned=False).config.name in ("l", "s")
    with pytest.raises(ValueError, match="split count must be >= 1"):
        gp_plan.plan_gemm(8, 8, 8, H100, BPS, tile=("s", 0))
    with pytest.raises(ValueError, match="'l' has no split-K"):
        gp_plan.plan_gemm(8, 8, 64, H100, BPS, tile=("l", 2))
    with pytest.raises(ValueError, match="unknown tile configuration"):
        gp_plan.plan_gemm(8, 8, 64, H100, BPS, tile="xl")


def test_plan_env_is_read_once(monkeypatch):
    monkeypatch.setenv(gp_plan.PLAN_ENV, "m:4")
    plan = gp_plan.plan_gemm(4096, 4096, 4096, H100, BPS)
    assert (plan.config.name, plan.splits, plan.forced) == ("m", 4, True)
    back = gp_plan.plan_backward(256, 1024, 1024, H100, BPS)
    assert back.grouped and (back.dx.config.name, back.dx.splits, back.dw.splits) == ("m", 4, 4)
    monkeypatch.setenv(gp_plan.PLAN_ENV, "w")
    assert gp_plan.plan_gemm(4096, 4096, 4096, H100, BPS).config.name == "m"  # not re-read
    gp_plan._reset_forced_plan()
    assert gp_plan.plan_gemm(4096, 4096, 4096, H100, BPS).config.name == "w"


@pytest.mark.parametrize("text, message", [("xl:2", "unknown tile 'xl'"), ("m:x", "integer"),
                                           ("m:17", "1-16"), ("l:2", "no split-K")])
def test_bad_plan_env_names_the_variable(monkeypatch, text, message):
    monkeypatch.setenv(gp_plan.PLAN_ENV, text)
    with pytest.raises(ValueError, match=message) as info:
        gp_plan.plan_gemm(64, 64, 64, H100, BPS)
    assert gp_plan.PLAN_ENV in str(info.value)
