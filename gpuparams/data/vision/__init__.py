"""``gluon.data.vision``: the MNIST, Fashion-MNIST and CIFAR-10 datasets and image ``transforms``.

>>> from gpuparams.gluon.data.vision import transforms
>>> t = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.5, 0.25)])
"""
from . import datasets, transforms
from .datasets import CIFAR10, MNIST, FashionMNIST

__all__ = ["datasets", "transforms", "MNIST", "FashionMNIST", "CIFAR10"]

# A name MXNet has and gpuparams lacks (gluon.data.vision.ImageFolderDataset ...) says "not supported yet".
from ..._unsupported import module_getattr as _module_getattr

__getattr__ = _module_getattr(globals(), "gluon.data.vision")
