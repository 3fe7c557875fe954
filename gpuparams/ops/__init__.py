"""Operators, one module per family, each declared once with :func:`~gpuparams.ops._registry.register`.

Every registered operator is an attribute of this package under its registered name
(``gpuparams.ops.relu``), which is what the ``nd`` namespace exports and what the explicit
:class:`~gpuparams.ndarray.NDArray` methods call. :data:`REGISTRY` maps names to their
:class:`~gpuparams.ops._registry.Op` declarations.
"""
from __future__ import annotations

from ..errors import ContextMismatchError, ShapeError
from ..ndarray import NDArray
from . import _registry
from . import (activation, dense, dropout, elementwise, indexing, linalg, loss, optimizer_update, reduce,
               select, shape)
from ._registry import REGISTRY, Op, method_ops, public_ops, register

# The operator families' modules, the registry's API, and (appended by _export) every operator.
__all__ = ["activation", "dense", "dropout", "elementwise", "indexing", "linalg", "loss", "optimizer_update",
           "reduce", "select", "shape", "REGISTRY", "Op", "register", "public_ops", "method_ops",
           "ContextMismatchError", "ShapeError"]


def _export():
    """Every operator (public or not) as ``gpuparams.ops.<name>``; where an operator and its family's
    module share a name (``dense``), the module keeps it and the operator is ``ops.dense.dense``."""
    import types
    namespace = globals()
    for key, op in REGISTRY.items():
        if isinstance(namespace.get(key), types.ModuleType):
            continue
        namespace[key] = op.dispatch
        __all__.append(key)


_registry._bind_ndarray(NDArray)
_export()
