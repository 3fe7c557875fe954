"""``gluon.nn`` (MXNet's ``mxnet.gluon.nn``): a real module name for :mod:`gpuparams.nn`, so that
``import gpuparams.gluon.nn`` and ``from gpuparams.gluon.nn import ...`` work.

Importing it binds ``gpuparams.gluon.nn`` to the module object ``gpuparams.nn`` itself (one module
under two names, as ``gluon.nn is gpuparams.nn``), rather than copying its names: a copy would be a
second module that monkeypatching, ``isinstance`` checks on modules and ``is`` tests tell apart.
"""
import sys

from .. import nn as _target

# Python's import system returns whatever sys.modules holds for this name once the file has run.
sys.modules[__name__] = _target
