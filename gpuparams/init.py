"""``gpuparams.init``: the initializers, under the name Gluon code imports (``from gpuparams import init``).

Everything here is defined in :mod:`gpuparams.initializer`; see it for the details.
"""
from .initializer import *  # noqa: F403 (this module is the public name of the initializers)
from .initializer import __all__  # noqa: F401

# A name MXNet has and gpuparams lacks (init.Bilinear ...) says "not supported yet".
from ._unsupported import module_getattr as _module_getattr

__getattr__ = _module_getattr(globals(), "init")
