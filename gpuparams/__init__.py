"""gpuparams: a GPU-first deep-learning framework with the Gluon programming model.

>>> import gpuparams as gp
>>> from gpuparams import nd, autograd, init, gluon
>>> x = nd.ones((2, 3), ctx=gp.cpu())

``import gpuparams`` needs only NumPy and never touches CUDA; CuPy is imported on the first allocation
on a ``gpu`` context. The Gluon parts (``gluon``, ``nn``, ``loss``, ``data``, ``init``, ``Trainer``) are
imported on first use.
"""
import sys as _sys

from ._lazy import lazy_attributes
from . import _import_paths

from .context import Context, cpu, gpu, current_context, num_gpus
from . import random
from ._ndarray import NDArray
from . import autograd, nd

# ``from gpuparams import ndarray as nd`` and ``import gpuparams.ndarray`` give the ``nd`` namespace,
# as ``mx.ndarray`` is ``mx.nd``: one module under two names (the class lives in ``_ndarray``).
ndarray = nd
_sys.modules[__name__ + ".ndarray"] = nd
# MXNet's class module ``mxnet.ndarray.ndarray`` (``from mxnet.ndarray.ndarray import NDArray``) is the
# internal module that holds the class, under both spellings of its package.
nd.ndarray = _sys.modules[__name__ + "._ndarray"]
_sys.modules[__name__ + ".nd.ndarray"] = _sys.modules[__name__ + ".ndarray.ndarray"] = nd.ndarray
# MXNet's submodule paths below gluon (gluon.data.sampler, gluon.nn.basic_layers, ...), and a
# "not supported yet" ImportError for the MXNet modules we lack (gluon.rnn, ...).
_import_paths.install()

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
    "lr_scheduler": ("gpuparams.lr_scheduler", None),
    "testing": ("gpuparams.testing", None),
    "telemetry": ("gpuparams.telemetry", None),
    "emulator": ("gpuparams.emulator", None),
    "base": ("gpuparams.base", None),
    "image": ("gpuparams.image", None),
    "contrib": ("gpuparams.contrib", None),
    "Trainer": ("gpuparams.trainer", "Trainer"),
    "Parameter": ("gpuparams.parameter", "Parameter"),
    "ParameterDict": ("gpuparams.parameter", "ParameterDict"),
    "DeferredInitializationError": ("gpuparams.parameter", "DeferredInitializationError"),
}

__all__ = ["Context", "cpu", "gpu", "current_context", "num_gpus", "random", "NDArray", "autograd",
           "nd", "ndarray", "__version__", *sorted(_LAZY)]


__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
