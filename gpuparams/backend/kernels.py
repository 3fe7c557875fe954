"""Our CUDA kernels, in one namespace: the loader and every launcher (a re-export module).

The code lives in :mod:`~gpuparams.backend.loader` (find ``kernels/*.cu``, compile per file and
device, cache, launch), :mod:`~gpuparams.backend.dense_launch` (the dense-layer GEMMs; their
cost-model planner is :mod:`~gpuparams.backend.gemm_plan`) and
:mod:`~gpuparams.backend.elementwise_launch` (ReLU, SGD and Adam updates) and
:mod:`~gpuparams.backend.loss_launch` (softmax cross-entropy, squared error). Monkeypatch those
modules, not this one, to change what the launchers call.
"""
from __future__ import annotations

from .dense_launch import (MAX_SPLITS, TILE_CONFIGS, GemmPlan, TileConfig, clear_workspaces,
                           dense_backward, dense_forward, gemm, plan_backward, plan_gemm, sm_count)
from .devices import COMPILE_OPTIONS, EMULATED_SM_COUNT
from .elementwise_launch import (adam_update, adam_update_from, relu_backward, relu_forward, sgd_update,
                                 sgd_update_from)
from .loss_launch import l2_backward, l2_forward, l2_rows, softmax_ce_backward, softmax_ce_forward
from .loader import (KERNEL_DIR_ENV, KernelCompileError, emulation_order, get_function, get_module,
                     kernel_dir, kernel_source, launch)
from .loader import clear_cache as _clear_loader_cache

__all__ = [
    "KernelCompileError", "KERNEL_DIR_ENV", "COMPILE_OPTIONS", "kernel_dir", "kernel_source",
    "get_module", "get_function", "launch", "emulation_order", "clear_cache",
    "TileConfig", "GemmPlan", "TILE_CONFIGS", "MAX_SPLITS", "plan_gemm", "plan_backward",
    "sm_count", "EMULATED_SM_COUNT",
    "dense_forward", "dense_backward", "gemm", "relu_forward", "relu_backward", "sgd_update", "adam_update",
    "sgd_update_from", "adam_update_from", "softmax_ce_forward", "softmax_ce_backward", "l2_forward",
    "l2_backward", "l2_rows",
]


def clear_cache():
    """Forget every compiled module and split-K workspace (the emulator's disk cache remains)."""
    _clear_loader_cache()
    clear_workspaces()
