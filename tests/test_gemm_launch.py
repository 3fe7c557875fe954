"""The dense launchers' bookkeeping (gpuparams.backend.dense_launch, issue 12), without a GPU."""
import threading
import types

import gpuparams as gp
from gpuparams import backend
from gpuparams.backend import dense_launch, devices, gemm_plan


def _keys_from_two_threads(dev):
    # Both threads stay alive until both have their key (a finished thread's ident can be reused).
    keys = []
    both = threading.Barrier(2)

    def work():
        keys.append(dev.workspace_key())
        both.wait(timeout=30)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return keys


def test_split_k_workspaces_are_per_device_stream_and_thread():
    # Under CUPY_CUDA_PER_THREAD_DEFAULT_STREAM=1 every thread's current stream has the same
    # pointer value: a key of (device, stream) alone would hand two threads one workspace, and
    # their split-K counters would mix.
    stream = types.SimpleNamespace(ptr=2)  # cudaStreamPerThread's handle value
    fake_cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(get_current_stream=lambda: stream))
    gpu1 = devices.CupyDevice(1, fake_cupy)
    keys = _keys_from_two_threads(gpu1) + [gpu1.workspace_key()]
    assert len(set(keys)) == 3
    assert all(k[:2] == (("cuda", 1), 2) for k in keys)
    assert devices.CupyDevice(0, fake_cupy).workspace_key()[:2] == (("cuda", 0), 2)


def test_emulated_workspaces_are_per_thread():
    with backend.emulation(True):
        dev = backend.device(gp.gpu(0))
        keys = _keys_from_two_threads(dev)
        assert len(set(keys + [dev.workspace_key()])) == 3


def test_emulated_occupancy_comes_from_the_budgets():
    with backend.emulation(True):
        table = dense_launch.blocks_per_sm(gp.gpu(0))
        assert dense_launch.device_model_of(gp.gpu(0)) is gemm_plan.H100
    assert table["dense_fwd_w"] == 1 and table["dense_fwd_m"] == 3 and table["dense_fwd_l"] == 2
    assert table["dense_bwd_grouped_m"] == 2 and table["dense_fwd_s"] == 3
    assert set(table) == {f"{k}_{t}" for t in "wmls" for k in ("dense_fwd", "dense_bwd_dx",
                                                                 "dense_bwd_dw")} | {
        "dense_bwd_grouped_w", "dense_bwd_grouped_m"}
