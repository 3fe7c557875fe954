"""gpuparams: a GPU-first deep-learning framework with the Gluon programming model.

>>> import gpuparams as gp
>>> from gpuparams import nd, autograd, init, gluon
>>> x = nd.ones((2, 3), ctx=gp.cpu())

``import gpuparams`` needs only NumPy and never touches CUDA; CuPy is imported on the first allocation
on a ``gpu`` context. The Gluon parts (``gluon``, ``nn``, ``loss``, ``data``, ``init``, ``Trainer``) are
imported on first use.
"""
from ._lazy import lazy_attributes

from .context import Context, cpu, gpu, current_context, num_gpus
from . import random
from .ndarray import NDArray
from . import autograd, nd

__version__ = "0.1.0"

_LAZY = {
    "gluon": ("gpuparams.gluon", None),
    "np": ("gpuparams.np", None),
    "npx": ("gpuparams.npx", None),
    "nn": ("gpuparams.nn", None),
    "loss": ("gpuparams.loss", None),
    "data": ("gpuparams.data", None),
    "init": ("gpuparams.init", None),
    "initializer": ("gpuparams.initializer", None),
    "optimizer": ("gpuparams.optimizer", None),
    "testing": ("gpuparams.testing", None),
    "telemetry": ("gpuparams.telemetry", None),
    "emulator": ("gpuparams.emulator", None),
    "Trainer": ("gpuparams.trainer", "Trainer"),
    "Parameter": ("gpuparams.parameter", "Parameter"),
    "ParameterDict": ("gpuparams.parameter", "ParameterDict"),
    "DeferredInitializationError": ("gpuparams.parameter", "DeferredInitializationError"),
}

__all__ = ["Context", "cpu", "gpu", "current_context", "num_gpus", "random", "NDArray", "autograd",
           "nd", "__version__", *sorted(_LAZY)]


__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
