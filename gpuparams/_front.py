"""Which front end Gluon speaks: legacy ``nd`` arrays (the default) or ``gpuparams.np`` arrays.

``npx.set_np()`` switches it process-wide, as MXNet's does. Gluon reads it where it hands arrays to
the user (``Parameter.data()`` / ``grad()``, the array an initializer fills, ``DataLoader`` batches)
and :func:`adopt` gives such an array the active front end's class **in place**: both classes share one
memory layout, so the object keeps its identity, buffer, gradient and recorded graph. Identity matters
for parameters: autograd keys leaf gradients by object, so a converted copy of a tied weight would be
two leaves whose ``grad_req='write'`` gradients overwrite each other instead of adding up.
"""
from __future__ import annotations

from ._ndarray import NDArray, _convert

__all__ = ["is_np_array", "set_np_array", "array_class", "adopt", "as_front"]

_state = {"np": False, "cls": NDArray}


def is_np_array():
    """Whether Gluon produces ``gpuparams.np`` arrays (after ``npx.set_np()``)."""
    return _state["np"]


def set_np_array(active):
    """Switch Gluon's front end; returns the previous setting."""
    previous = _state["np"]
    if active:
        from .np._array import ndarray
        _state["cls"] = ndarray
    else:
        _state["cls"] = NDArray
    _state["np"] = bool(active)
    return previous


def array_class():
    """The array class of the active front end."""
    return _state["cls"]


def adopt(arr):
    """``arr`` itself, with the active front end's class (switched in place when it differs)."""
    cls = _state["cls"]
    if arr is not None and type(arr) is not cls:
        if arr._data.ndim == 0 and not cls._numpy_semantics:
            arr._data = arr._data.reshape(1)
        arr.__class__ = cls
        if arr._grad is not None and type(arr._grad) is not cls:
            arr._grad.__class__ = cls
    return arr


def as_front(value):
    """``value`` as the active front end's array when it is an array of the other one (a view
    sharing buffer and graph, see ``NDArray.as_np_ndarray``); anything else unchanged."""
    if isinstance(value, NDArray) and type(value) is not _state["cls"]:
        return _convert(value, _state["cls"])
    return value
