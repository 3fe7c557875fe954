"""``gpuparams.npx``: MXNet's NumPy extensions (``mxnet.npx``).

``set_np()`` switches Gluon to the NumPy front end process-wide: ``Parameter.data()`` / ``grad()``,
the arrays initializers fill and ``DataLoader`` batches become ``gpuparams.np`` arrays, and layers and
losses, whose operators give results of their inputs' front end, return them. ``reset_np()`` switches
back. The neural-network operators here are the registered ones (``nd.relu`` is ``npx.relu``).
"""
from __future__ import annotations

import functools

from . import _front, nd
from . import ops as _ops
from .context import cpu, current_context, gpu, num_gpus

__all__ = ["set_np", "reset_np", "is_np_array", "is_np_shape", "use_np", "relu", "sigmoid", "softmax",
           "log_softmax", "pick", "one_hot", "topk", "batch_dot", "dropout", "fully_connected",
           "activation", "cpu", "gpu", "num_gpus", "current_context", "waitall", "save", "load"]


def set_np(shape=True, array=True, dtype=False):
    """Switch Gluon to ``gpuparams.np`` arrays (MXNet's ``npx.set_np``).

    Parameters
    ----------
    shape, array : bool
        MXNet's NumPy shape and array semantics; gpuparams always has NumPy shapes in ``np`` and
        accepts only ``shape == array`` (``set_np(False, False)`` is ``reset_np()``).
    dtype : bool
        MXNet's float64-by-default switch; not supported (float32 stays the default float).
    """
    if bool(shape) != bool(array):
        raise ValueError(f"set_np: shape={shape} with array={array} is not supported; NumPy arrays always "
                         "have NumPy shapes here (pass both True, or call reset_np())")
    if dtype:
        raise NotImplementedError("set_np(dtype=True): float64 as the default dtype is not supported; "
                                  "pass dtype='float64' where you need it")
    _front.set_np_array(bool(array))


def reset_np():
    """Switch Gluon back to legacy ``nd`` arrays."""
    _front.set_np_array(False)


def is_np_array():
    """Whether ``set_np()`` is in effect."""
    return _front.is_np_array()


is_np_shape = is_np_array


def use_np(func):
    """Decorator: run ``func`` (or every method of a class) with NumPy semantics switched on."""
    if isinstance(func, type):
        for name, value in list(vars(func).items()):
            if callable(value) and not name.startswith("__"):
                setattr(func, name, use_np(value))
        return func

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        previous = _front.set_np_array(True)
        try:
            return func(*args, **kwargs)
        finally:
            _front.set_np_array(previous)
    return wrapper


relu = _ops.relu
sigmoid = _ops.sigmoid
batch_dot = _ops.batch_dot
waitall = nd.waitall


def softmax(data, axis=-1):
    """Softmax along ``axis``."""
    return _ops.softmax(data, axis)


def log_softmax(data, axis=-1):
    """``log(softmax(data))`` along ``axis``, computed stably."""
    return _ops.log_softmax(data, axis)


def pick(data, index, axis=-1, mode="clip", keepdims=False):
    """``data[..., index[...], ...]`` along ``axis`` (differentiable in ``data``)."""
    return _ops.pick(data, index, axis, keepdims, mode)


def one_hot(data, depth, on_value=1.0, off_value=0.0, dtype="float32"):
    """One-hot encoding of the integer array ``data`` with ``depth`` classes."""
    return _ops.one_hot(data, depth, on_value, off_value, dtype)


def topk(data, axis=-1, k=1, ret_typ="indices", is_ascend=False, dtype="float32"):
    """The ``k`` largest (smallest with ``is_ascend``) along ``axis``: see ``nd.topk``."""
    return _ops.topk(data, axis, k, ret_typ, is_ascend, dtype)


def fully_connected(x, weight, bias=None, num_hidden=None, no_bias=False, flatten=True):
    """``x @ weight.T + bias`` (MXNet's ``FullyConnected``; our dense kernels on a GPU)."""
    return _ops.FullyConnected(x, weight, bias, num_hidden=num_hidden, no_bias=no_bias, flatten=flatten)


def activation(data, act_type="relu"):
    """``relu``, ``sigmoid``, ``tanh``, ``softrelu`` or ``softsign`` of ``data``."""
    return _ops.Activation(data, act_type)


def dropout(data, p=0.5, axes=None, mode="training"):
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)``, in training mode
    (``autograd.record()``) or always with ``mode='always'``; ``data`` itself otherwise.

    ``axes`` share one mask value along those axes. Masks come from the seeded host generator. The
    operator is ``nd.Dropout``'s (one implementation for both front ends and ``nn.Dropout``).
    """
    return _ops.Dropout(data, p=p, mode=mode, axes=axes or ())


def save(file, arr):
    """Save an array, a list of arrays or a dict of str to array (``nd.save``'s ``.npz`` format:
    written atomically, loaded without pickle)."""
    nd.save(file, arr)


def load(file, ctx=None):
    """Load what :func:`save` (or ``nd.save``) wrote, as ``gpuparams.np`` arrays: a list, or a dict."""
    loaded = nd.load(file, ctx=ctx)
    if isinstance(loaded, dict):
        return {key: value.as_np_ndarray() for key, value in loaded.items()}
    return [value.as_np_ndarray() for value in loaded]

# A name MXNet has and gpuparams lacks (npx.<name>) says "not supported yet".
from ._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(globals(), "npx")
