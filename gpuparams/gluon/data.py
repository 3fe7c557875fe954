"""``gluon.data`` as an importable module path: ``from gpuparams.gluon.data import DataLoader``,
``import gpuparams.gluon.data.vision``.

The package is :mod:`gpuparams.data` itself (one set of classes, ``gluon.data is gpuparams.data``):
importing this module registers ``gpuparams.data`` and its ``vision`` modules under the ``gluon`` names
instead of loading second copies of them.
"""
import sys

from .. import data as _data
from ..data import vision as _vision
from ..data.vision import datasets as _datasets
from ..data.vision import transforms as _transforms

sys.modules[__name__] = _data
sys.modules[__name__ + ".vision"] = _vision
sys.modules[__name__ + ".vision.datasets"] = _datasets
sys.modules[__name__ + ".vision.transforms"] = _transforms
