"""Layers and containers (``gluon.nn``): Block, Sequential, Dense, Activation, Flatten, Dropout.

``HybridBlock`` and ``HybridSequential`` are aliases of ``Block`` and ``Sequential`` so that MXNet
code runs; ``hybridize()`` is not available yet and raises NotImplementedError.
"""
from .block import Block, HybridBlock, NameManager
from .basic_layers import Activation, Dense, Dropout, Flatten, HybridSequential, Sequential

__all__ = ["Block", "HybridBlock", "Sequential", "HybridSequential", "Dense", "Activation", "Flatten",
           "Dropout", "NameManager"]
