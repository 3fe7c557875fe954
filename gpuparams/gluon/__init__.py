"""The ``gluon`` namespace of MXNet 1.x: ``gluon.nn``, ``gluon.loss``, ``gluon.data``, ``gluon.utils``,
``gluon.Trainer``.

Code written for MXNet Gluon runs after ``mxnet`` is replaced by ``gpuparams`` in its imports
(``from gpuparams.gluon import nn, loss as gloss, data as gdata``). The members are the same objects as
``gpuparams.nn``, ``gpuparams.loss``, ``gpuparams.data`` and ``gpuparams.Trainer`` (``gluon.utils`` is
``gpuparams.gluon_utils``); they are imported on first use so that ``import gpuparams`` stays light.
"""
from .._lazy import lazy_attributes

_MEMBERS = {
    "nn": ("gpuparams.nn", None),
    "loss": ("gpuparams.loss", None),
    "data": ("gpuparams.data", None),
    "utils": ("gpuparams.gluon_utils", None),
    "Trainer": ("gpuparams.trainer", "Trainer"),
    "Parameter": ("gpuparams.parameter", "Parameter"),
    "ParameterDict": ("gpuparams.parameter", "ParameterDict"),
    "Constant": ("gpuparams.parameter", "Constant"),
    "DeferredInitializationError": ("gpuparams.parameter", "DeferredInitializationError"),
    "Block": ("gpuparams.nn", "Block"),
    "HybridBlock": ("gpuparams.nn", "HybridBlock"),
    "SymbolBlock": ("gpuparams.graph_io", "SymbolBlock"),
}

__all__ = sorted(_MEMBERS)


__getattr__, __dir__ = lazy_attributes(globals(), _MEMBERS)
