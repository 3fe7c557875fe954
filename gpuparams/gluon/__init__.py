"""The ``gluon`` namespace of MXNet 1.x: ``gluon.nn``, ``gluon.loss``, ``gluon.data``, ``gluon.Trainer``.

Code written for MXNet Gluon runs after ``mxnet`` is replaced by ``gpuparams`` in its imports
(``from gpuparams.gluon import nn, loss as gloss, data as gdata``). The members are the same objects as
``gpuparams.nn``, ``gpuparams.loss``, ``gpuparams.data`` and ``gpuparams.Trainer``; they are imported on
first use so that ``import gpuparams`` stays light.
"""
import importlib

_MEMBERS = {
    "nn": ("gpuparams.nn", None),
    "loss": ("gpuparams.loss", None),
    "data": ("gpuparams.data", None),
    "Trainer": ("gpuparams.trainer", "Trainer"),
    "Parameter": ("gpuparams.parameter", "Parameter"),
    "ParameterDict": ("gpuparams.parameter", "ParameterDict"),
    "Constant": ("gpuparams.parameter", "Constant"),
    "DeferredInitializationError": ("gpuparams.parameter", "DeferredInitializationError"),
    "Block": ("gpuparams.nn", "Block"),
    "HybridBlock": ("gpuparams.nn", "HybridBlock"),
    "utils": ("gpuparams.gluon_utils", None),
}

__all__ = sorted(_MEMBERS)


def __getattr__(name):
    try:
        module_name, attr = _MEMBERS[name]
    except KeyError:
        raise AttributeError(f"module 'gpuparams.gluon' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__():
    return __all__
