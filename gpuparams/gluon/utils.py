"""``gluon.utils`` (MXNet's ``mxnet.gluon.utils``): a real module name for :mod:`gpuparams.gluon_utils`,
so that ``import gpuparams.gluon.utils`` and ``from gpuparams.gluon.utils import ...`` work.

Importing it binds ``gpuparams.gluon.utils`` to the module object ``gpuparams.gluon_utils`` itself
(one module under two names, ``gluon.utils is gpuparams.gluon_utils``), rather than copying its names:
a copy would be a second module that monkeypatching and ``is`` tests tell apart.
"""
import sys

from .. import gluon_utils as _target

# Python's import system returns whatever sys.modules holds for this name once the file has run.
sys.modules[__name__] = _target
