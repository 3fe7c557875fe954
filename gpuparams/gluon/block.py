"""``gluon.block`` (MXNet's ``mxnet.gluon.block``): ``Block``, ``HybridBlock`` and ``SymbolBlock``, the
same classes as ``gpuparams.gluon.Block`` and friends (they live in :mod:`gpuparams.nn.block` and
:mod:`gpuparams.graph_io`)."""
from ..graph_io import SymbolBlock
from ..nn.block import Block, HybridBlock

__all__ = ["Block", "HybridBlock", "SymbolBlock"]
