"""``gpuparams.init``: the initializers, under the name Gluon code imports (``from gpuparams import init``).

Everything here is defined in :mod:`gpuparams.initializer`; see it for the details.
"""
from .initializer import *  # noqa: F403 (this module is the public name of the initializers)
from .initializer import __all__  # noqa: F401
