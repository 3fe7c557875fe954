"""gpuparams: a GPU-first deep-learning framework with the Gluon programming model.

>>> import gpuparams as gp
>>> from gpuparams import nd, autograd, init, gluon
>>> x = nd.ones((2, 3), ctx=gp.cpu())

``import gpuparams`` needs only NumPy and never touches CUDA; CuPy is imported on the first allocation
on a ``gpu`` context. The Gluon parts (``gluon``, ``nn``, ``loss``, ``data``, ``init``, ``Trainer``) are
imported on first use.
"""
import importlib

from .context import Context, cpu, gpu, current_context, num_gpus
from . import random
from .ndarray import NDArray
from . import autograd, nd

__version__ = "0.1.0"

_LAZY = {
    "gluon": ("gpuparams.gluon", None),
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


def __getattr__(name):
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'gpuparams' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__():
    return __all__
