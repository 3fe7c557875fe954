"""``gluon.data`` (MXNet's ``mxnet.gluon.data``): a real module name for the package
:mod:`gpuparams.data`, so that ``from gpuparams.gluon.data import DataLoader`` and
``import gpuparams.gluon.data.vision`` work.

Importing it binds ``gpuparams.gluon.data`` to the package object ``gpuparams.data`` itself (one module
under two names, ``gluon.data is gpuparams.data``) and does the same for every submodule the package
has imported (``vision`` and what it imports), so that no submodule is loaded twice under two names.
"""
import sys

from .. import data as _target

# Python's import system returns whatever sys.modules holds for this name once the file has run.
for _name, _module in list(sys.modules.items()):
    if _name.startswith(_target.__name__ + "."):
        sys.modules[__name__ + _name[len(_target.__name__):]] = _module
sys.modules[__name__] = _target
