"""``gluon.nn.activations`` (MXNet's ``mxnet.gluon.nn.activations``): the activation layers gpuparams
has, the same classes as ``gpuparams.nn``.

Of MXNet's activation blocks only :class:`Activation` (``'relu'``, ``'sigmoid'``, ``'tanh'``,
``'softrelu'``, ``'softsign'``) exists here; ``LeakyReLU``, ``PReLU``, ``ELU``, ``SELU``, ``GELU`` and
``Swish`` are not supported yet.
"""
from .basic_layers import Activation

__all__ = ["Activation"]
