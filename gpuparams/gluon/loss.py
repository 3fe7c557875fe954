"""``gluon.loss`` (MXNet's ``mxnet.gluon.loss``): a real module name for :mod:`gpuparams.loss`, so that
``import gpuparams.gluon.loss`` and ``from gpuparams.gluon.loss import ...`` work.

Importing it binds ``gpuparams.gluon.loss`` to the module object ``gpuparams.loss`` itself (one module
under two names, as ``gluon.loss is gpuparams.loss``), rather than copying its names: a copy would be a
second module that monkeypatching, ``isinstance`` checks on modules and ``is`` tests tell apart.
"""
import sys

from .. import loss as _target

# Python's import system returns whatever sys.modules holds for this name once the file has run.
sys.modules[__name__] = _target
