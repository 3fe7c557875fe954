"""Layers and containers (``gluon.nn``): Block, Sequential, Dense, Activation, Flatten, Dropout.

``HybridBlock`` (``hybrid_forward(F, x, ...)``) can be traced into a static graph with ``hybridize()``
(see :mod:`gpuparams.graph`); Dense, Activation, Dropout, Flatten, HybridSequential and HybridLambda
are HybridBlocks.
"""
from .block import Block, HybridBlock, NameManager
from .basic_layers import (Activation, Dense, Dropout, Flatten, HybridLambda, HybridSequential, Lambda,
                           Sequential)

__all__ = ["Block", "HybridBlock", "Sequential", "HybridSequential", "Dense", "Activation", "Flatten",
           "Dropout", "Lambda", "HybridLambda", "NameManager"]

# A name MXNet has and gpuparams lacks (gluon.nn.Conv2D ...) says "not supported yet".
from .._unsupported import module_getattr as _module_getattr

__getattr__ = _module_getattr(globals(), "gluon.nn")
