"""Layers and containers (``gluon.nn``): Block, Sequential, Dense, Activation, Flatten, Dropout.

``HybridBlock`` is an alias of ``Block`` and ``HybridSequential`` a ``Sequential`` of its own name, so
that MXNet code runs; ``hybridize()`` is not available yet and raises NotImplementedError.
"""
from .block import Block, HybridBlock, NameManager
from .basic_layers import Activation, Dense, Dropout, Flatten, HybridSequential, Sequential

__all__ = ["Block", "HybridBlock", "Sequential", "HybridSequential", "Dense", "Activation", "Flatten",
           "Dropout", "NameManager"]
