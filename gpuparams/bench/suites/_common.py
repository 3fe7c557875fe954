"""What every suite needs: the environment it runs in and the checks that turn "not here" into a skip."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ..harness import SkipCase

__all__ = ["SuiteEnv", "require_framework", "require_kernels", "require_torch", "to_torch",
           "free_memory"]


@dataclass
class SuiteEnv:
    """Where a suite runs.

    Attributes
    ----------
    kind : str
        ``"gpu"`` (CuPy on a real device), ``"emulated"`` (the CPU emulator of ``gpu(0)``, for checking
        the suites' logic only — its times mean nothing) or ``"cpu"``.
    ctx : Context
        The gpuparams context the gpuparams side runs on.
    xp : module
        The array module of ``ctx`` (``cupy`` or ``numpy``).
    torch_device : str
        Where the PyTorch baseline runs (``"cuda:0"`` or ``"cpu"``).
    threads : int or None
        CPU threads given to PyTorch (the same as NumPy's BLAS uses).
    seed : int
        Seeds every input, so reruns and both sides see the same data.
    shapes : dict
        Per-suite shape overrides (tests use small shapes); empty means the issue's shapes.
    """

    kind: str
    ctx: Any
    xp: Any
    torch_device: str = "cpu"
    threads: Optional[int] = None
    seed: int = 0
    shapes: dict = field(default_factory=dict)
    _torch: Any = field(default=None, repr=False)
    _torch_error: Optional[str] = field(default=None, repr=False)

    def rng(self, *salt):
        """A NumPy generator seeded from :attr:`seed` and the non-negative ints ``salt`` (inputs are
        made on the host in float32, then copied, so every backend sees bit-identical data)."""
        return np.random.default_rng([self.seed, *salt])

    def asarray(self, host_array):
        """Copy a NumPy array to :attr:`xp` (a no-op for NumPy)."""
        return self.xp.asarray(host_array)


def require_framework(*names):
    """Import ``gpuparams`` and return it, or raise :class:`SkipCase` naming what has not landed.

    ``names`` are dotted attribute paths under ``gpuparams`` (``"gluon.nn.Dense"``).
    """
    import gpuparams
    missing = []
    for name in names:
        obj = gpuparams
        for part in name.split("."):
            try:
                # getattr first (it may be a lazy attribute), then the submodule of that name.
                try:
                    obj = getattr(obj, part)
                except AttributeError:
                    obj = importlib.import_module(f"{obj.__name__}.{part}")
            except Exception as exc:  # absent, or present but failing to import while it lands
                detail = "" if isinstance(exc, AttributeError) else f" ({type(exc).__name__}: {exc})"
                missing.append(f"gpuparams.{name}{detail}")
                break
    if missing:
        raise SkipCase(f"not available in this gpuparams build yet: {'; '.join(missing)}")
    return gpuparams


def require_kernels():
    """``gpuparams.backend.kernels`` with ``dense_forward``/``dense_backward``, or :class:`SkipCase`."""
    try:
        from gpuparams.backend import kernels
    except Exception as exc:
        raise SkipCase(f"gpuparams.backend.kernels does not import ({type(exc).__name__}: {exc})") from exc
    for name in ("dense_forward", "dense_backward"):
        if not hasattr(kernels, name):
            raise SkipCase(f"gpuparams.backend.kernels.{name} not available yet")
    return kernels


def require_torch(env):
    """PyTorch with TF32 off and the env's thread count, usable on ``env.torch_device``; else
    :class:`SkipCase` saying why (not installed, or a CPU-only build on a GPU box)."""
    if env._torch is None and env._torch_error is None:
        try:
            import torch  # noqa: WPS433 (optional baseline)
        except Exception as exc:
            env._torch_error = f"PyTorch is not installed ({type(exc).__name__}: {exc})"
        else:
            from ..env import pin_torch_tf32_off
            pin_torch_tf32_off(torch)
            if env.threads:
                torch.set_num_threads(int(env.threads))
            env._torch = torch
    if env._torch is None:
        raise SkipCase(env._torch_error)
    torch = env._torch
    if env.torch_device.startswith("cuda") and not torch.cuda.is_available():
        raise SkipCase(f"PyTorch {torch.__version__} has no CUDA here (a CPU-only build?)")
    return torch


def to_torch(torch, array, device):
    """A tensor sharing memory with ``array`` (DLPack for CuPy, ``from_numpy`` for NumPy)."""
    if isinstance(array, np.ndarray):
        return torch.from_numpy(array).to(device)
    return torch.from_dlpack(array)


def free_memory(env):
    """Return cached device memory between cases so one case's pool does not crowd the next."""
    if env.kind == "gpu":
        env.xp.get_default_memory_pool().free_all_blocks()
