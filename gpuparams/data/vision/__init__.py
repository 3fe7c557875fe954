"""``gluon.data.vision``: the MNIST, Fashion-MNIST and CIFAR-10 datasets and image ``transforms``.

>>> from gpuparams.gluon.data.vision import transforms
>>> t = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.5, 0.25)])
"""
from . import datasets, transforms
from .datasets import CIFAR10, MNIST, FashionMNIST

__all__ = ["datasets", "transforms", "MNIST", "FashionMNIST", "CIFAR10"]
