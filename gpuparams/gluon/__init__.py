"""The ``gluon`` namespace of MXNet 1.x: ``gluon.nn``, ``gluon.loss``, ``gluon.data``, ``gluon.utils``,
``gluon.Trainer`` (and ``gluon.lr_scheduler``, the same module as ``gpuparams.lr_scheduler``).

Code written for MXNet Gluon runs after ``mxnet`` is replaced by ``gpuparams`` in its imports
(``from gpuparams.gluon import nn, loss as gloss, data as gdata``, ``import gpuparams.gluon.nn as nn``,
``from gpuparams.gluon.data import DataLoader``). ``gluon.nn``, ``gluon.loss``, ``gluon.data`` and
``gluon.utils`` are real modules whose names are the objects of ``gpuparams.nn``, ``gpuparams.loss``,
``gpuparams.data`` and ``gpuparams.gluon_utils``; they and ``gluon.Trainer`` are imported on first use
so that ``import gpuparams`` stays light. MXNet's deeper paths (``gluon.data.sampler``,
``gluon.nn.basic_layers``, ``gluon.trainer``, ``gluon.parameter``, ``gluon.block``) import the same
objects, and the MXNet modules gpuparams lacks (``gluon.rnn``, ...) fail to import saying they are not
supported yet (see :mod:`gpuparams._import_paths`).
"""
from .._lazy import lazy_attributes

_MEMBERS = {
    "nn": ("gpuparams.gluon.nn", None),
    "loss": ("gpuparams.gluon.loss", None),
    "data": ("gpuparams.gluon.data", None),
    "utils": ("gpuparams.gluon.utils", None),
    "Trainer": ("gpuparams.trainer", "Trainer"),
    "lr_scheduler": ("gpuparams.lr_scheduler", None),
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
