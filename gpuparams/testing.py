"""Test helpers for users' own code: array comparison and the numerical gradient checker.

>>> from gpuparams import nd, testing
>>> x = nd.array([[0.5, -1.0], [2.0, 0.25]])
>>> testing.check_gradient(lambda a: (a * a).sum(), [x])

:func:`check_gradient` is the one gradient checker of the package and of its own test suite: it runs
on every context (cpu, the emulated ``gpu(0)``, a real GPU) and never touches the caller's arrays.
Autograd and the finite differences both run on float64 *copies* placed on each array's own context,
so another thread (or the function itself) still sees the original arrays unchanged.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from . import autograd
from ._ndarray import NDArray, from_data, normalize_dtype
from .parameter import Parameter

Checked = NDArray | Parameter

__all__ = ["assert_almost_equal", "check_gradient", "numeric_gradient"]


def _host(value):
    if isinstance(value, NDArray):
        return value.asnumpy()
    if hasattr(value, "get") and not isinstance(value, np.ndarray):  # a CuPy array
        return value.get()
    return np.asarray(value)


def assert_almost_equal(actual, desired, rtol=1e-5, atol=1e-7, names=("actual", "desired"),
                        equal_nan=False):
    """Assert ``|actual - desired| <= atol + rtol * |desired|`` elementwise, with shapes equal.

    Parameters
    ----------
    actual, desired : NDArray, numpy.ndarray, list or scalar
        Values to compare (NDArrays are copied to the host).
    rtol, atol : float
        Relative and absolute tolerance.
    names : tuple of str
        How the two values are called in the failure message.
    equal_nan : bool
        Whether NaNs in the same places count as equal (otherwise any NaN fails).

    Raises
    ------
    AssertionError
        Naming the largest violation, its index and both values.
    """
    a, d = _host(actual), _host(desired)
    if a.shape != d.shape:
        raise AssertionError(f"shape mismatch: {names[0]} {a.shape} vs {names[1]} {d.shape}")
    a64, d64 = a.astype(np.float64), d.astype(np.float64)
    nan_a, nan_d = np.isnan(a64), np.isnan(d64)
    if equal_nan:
        if not np.array_equal(nan_a, nan_d):
            raise AssertionError(f"NaN positions differ between {names[0]} and {names[1]}")
        a64, d64 = np.where(nan_a, 0, a64), np.where(nan_d, 0, d64)
    elif nan_a.any() or nan_d.any():
        raise AssertionError(f"NaN in {names[0] if nan_a.any() else names[1]}")
    # Infinities match only themselves (inf - inf is NaN, and any bound scaled by inf is inf).
    inf_a, inf_d = np.isinf(a64), np.isinf(d64)
    if inf_a.any() or inf_d.any():
        mismatch = (inf_a | inf_d) & (a64 != d64)
        if mismatch.any():
            idx = _index(np.argmax(mismatch), mismatch.shape)
            raise AssertionError(f"{int(mismatch.sum())} of {mismatch.size} elements differ in their "
                                 f"infinities; first at index {idx}: {names[0]}={float(a64[idx])!r}, "
                                 f"{names[1]}={float(d64[idx])!r}")
        a64, d64 = np.where(inf_a, 0, a64), np.where(inf_d, 0, d64)
    err = np.abs(a64 - d64)
    bound = atol + rtol * np.abs(d64)
    bad = err > bound
    if bad.any():
        excess = np.where(bad, err - bound, -np.inf)
        idx = _index(np.argmax(excess), err.shape)
        raise AssertionError(
            f"{int(bad.sum())} of {err.size} elements differ beyond rtol={rtol}, atol={atol}; worst at "
            f"index {idx}: {names[0]}={float(a64[idx])!r}, {names[1]}={float(d64[idx])!r} "
            f"(|diff|={float(err[idx]):.3g})")


def _index(flat, shape):
    """A flat position as a tuple of Python ints (NumPy 2 would print ``np.int64(1)``)."""
    return tuple(int(i) for i in np.unravel_index(int(flat), shape)) if shape else ()


def numeric_gradient(fn: Callable[..., NDArray], arrays: Sequence[Checked], head: Any,
                     eps: float = 1e-4) -> list[np.ndarray]:
    """Central-difference gradient of ``sum(fn(*arrays) * head)`` with respect to each array.

    ``fn`` is called with float64 copies of the arrays, each a new NDArray on its array's context,
    so ``eps`` can be small without rounding noise and the caller's arrays never change. An array
    listed twice is one copy (a step moves both uses, as it would move the original). A
    :class:`~gpuparams.Parameter` may stand for its data: while ``fn`` runs it reads the copy
    (see :func:`check_gradient`). Returns a list of float64 NumPy arrays.
    """
    inputs = _Copies(arrays, "numeric_gradient")
    head = _host(head).astype(np.float64)
    return inputs.finite_differences(fn, head, eps)


def check_gradient(fn: Callable[..., NDArray], arrays: Sequence[Checked], eps: float = 1e-4,
                   rtol: float = 1e-4, atol: float = 1e-6, seed: int = 0,
                   dtype: Any = "float64") -> None:
    """Check autograd's gradients of ``fn`` against central differences in float64.

    ``fn(*arrays)`` must return an NDArray. The check differentiates ``sum(fn(...) * h)`` for a random
    head ``h``, so every output element matters. ``fn`` is called with copies of the arrays on their
    own contexts (any context: cpu, gpu, the emulated gpu), never with the arrays themselves: autograd
    runs on copies in ``dtype``, the finite differences on float64 copies. Pass every array that meets
    another in an operator with a dtype check (a Dense layer's input, weight and bias), so their copies
    share a dtype.

    To check a block, pass its Parameters (``[x, net.weight, net.bias]``) and let ``fn`` call the
    block: while ``fn`` runs, each Parameter's data on that context *is* the copy (the Parameter is
    rebound, its arrays are not touched, and it is restored afterwards; do not use that Parameter from
    another thread meanwhile). An NDArray that ``fn`` does not use raises a ValueError rather than
    passing with zero gradients, which is what passing ``net.weight.data()`` would do.

    Parameters
    ----------
    fn : callable
        Function of the arrays, returning an NDArray.
    arrays : list of NDArray or Parameter
        What to differentiate with respect to.
    eps : float
        Finite-difference step (in float64).
    rtol, atol : float
        Tolerances of the comparison.
    seed : int
        Seed of the random head gradient (uniform in [0.5, 1.5), rounded to the output's dtype).
    dtype : str, numpy dtype or None
        The dtype autograd runs in (default float64); None keeps each array's own dtype, e.g. to check
        a float32 kernel against the float64 reference.

    Raises
    ------
    AssertionError
        When a gradient differs (naming ``gradient of input i (arrays[i])``), or when a gradient
        buffer does not have its array's shape, dtype and context.
    ValueError
        When ``fn`` does not use one of the arrays.
    """
    inputs = _Copies(arrays, "check_gradient")
    copies = inputs.make(None if dtype is None else normalize_dtype(dtype))
    unique = inputs.unique_of(copies)
    for x in unique:
        x.attach_grad("write")
    with inputs.bound(copies):
        out = _forward(fn, copies, record=True)
    host_head = np.random.default_rng(seed).uniform(0.5, 1.5, size=out.shape)
    if np.issubdtype(out.dtype, np.floating):
        host_head = host_head.astype(out.dtype)
    out.backward(_array_as(host_head, out.context, out.dtype, type(out)))
    for k, x in enumerate(unique):
        i = inputs.first_position[k]
        g = x.grad
        if not x._fresh_grad:
            raise ValueError(f"check_gradient: fn did not use arrays[{i}] (its copy got no gradient). fn "
                             "must compute from the arrays it is given; to check a block, pass its "
                             "Parameters (net.weight), not their data (net.weight.data())")
        if g.shape != x.shape or g.dtype != x.dtype or g.context != x.context:
            raise AssertionError(f"the gradient of input {i} (arrays[{i}]) is {g.shape} {g.dtype.name} on "
                                 f"{g.context}, but the input is {x.shape} {x.dtype.name} on {x.context}")
    analytic = [_host(copies[i].grad).astype(np.float64) for i in range(len(copies))]
    numeric = inputs.finite_differences(fn, host_head.astype(np.float64), eps)
    for i, (an, nu) in enumerate(zip(analytic, numeric, strict=True)):
        assert_almost_equal(an, nu, rtol=rtol, atol=atol,
                            names=(f"autograd gradient of input {i} (arrays[{i}])", "finite differences"))


class _Copies:
    """Host float64 copies of the checked values, and the NDArrays built from them for each call.

    One copy per distinct array (an array listed twice stays one array); a Parameter contributes its
    data on its current context (as ``param.data()`` picks it).
    """

    def __init__(self, arrays: Sequence[Checked], what: str):
        self.sources: list[Checked] = list(arrays)
        self.slot: list[int] = []            # position in ``arrays`` -> distinct value
        self.first_position: list[int] = []  # distinct value -> its first position
        self.host: list[np.ndarray] = []
        self.ctx: list = []
        self.dtype: list = []
        self.cls: list = []
        self.params: dict[int, tuple[Parameter, int]] = {}  # distinct value -> (Parameter, position)
        seen: dict[int, int] = {}
        for i, a in enumerate(self.sources):
            if not isinstance(a, (NDArray, Parameter)):
                raise TypeError(f"{what}: arrays[{i}] is {type(a).__name__}, not an NDArray or a Parameter")
            k = seen.get(id(a))
            if k is None:
                k = seen[id(a)] = len(self.host)
                self.first_position.append(i)
                data = a
                if isinstance(a, Parameter):
                    position = a._position(None)
                    data = a._data[position]
                    self.params[k] = (a, position)
                self.host.append(np.array(_host(data), dtype=np.float64, order="C", copy=True))
                self.ctx.append(data.context)
                self.dtype.append(data.dtype)
                self.cls.append(type(data))  # copies of np arrays are np arrays (0-d kept)
            self.slot.append(k)

    def make(self, dtype=None, host=None) -> list[NDArray]:
        """New NDArrays (one per position, shared by repeated positions) from the host copies."""
        host = self.host if host is None else host
        made = [_array_as(h, c, dtype if dtype is not None else d, cls)
                for h, c, d, cls in zip(host, self.ctx, self.dtype, self.cls, strict=True)]
        return [made[k] for k in self.slot]

    def unique_of(self, copies: list[NDArray]) -> list[NDArray]:
        return [copies[i] for i in self.first_position]

    @contextlib.contextmanager
    def bound(self, copies: list[NDArray]) -> Iterator[None]:
        """Point each checked Parameter at its copy while ``fn`` runs, then restore it."""
        saved = []
        try:
            for k, (param, position) in self.params.items():
                saved.append((param, param._data))
                data = list(param._data)
                data[position] = copies[self.first_position[k]]
                param._data = data
            yield
        finally:
            for param, data in reversed(saved):
                param._data = data

    def finite_differences(self, fn, head: np.ndarray, eps: float) -> list[np.ndarray]:
        """Central differences of ``sum(fn(...) * head)`` in float64, one step per element."""
        def value(host):
            copies = self.make(np.float64, host)
            with self.bound(copies):
                out = _forward(fn, copies)
            return float((_host(out).astype(np.float64) * head).sum())

        per_value = []
        for k, base in enumerate(self.host):
            g = np.zeros(base.shape)
            for idx in np.ndindex(*base.shape):
                host = list(self.host)
                host[k] = base.copy()
                host[k][idx] = base[idx] + eps
                plus = value(host)
                host[k][idx] = base[idx] - eps
                minus = value(host)
                g[idx] = (plus - minus) / (2 * eps)
            per_value.append(g)
        return [per_value[k] for k in self.slot]


def _array_as(host, ctx, dtype, cls):
    """A new array of class ``cls`` (``nd`` or ``np``) holding ``host`` on ``ctx``; an ``np`` array
    keeps ``host``'s shape even when it is 0-d."""
    arr = from_data(host, ctx=ctx, dtype=dtype)
    if cls is not NDArray:
        arr.__class__ = cls  # a fresh object: switching its class touches nothing else
        arr._data = arr._data.reshape(np.shape(host))
    return arr


def _forward(fn, arrays, record=False):
    with autograd.record() if record else autograd.pause():
        out = fn(*arrays)
    if not isinstance(out, NDArray):
        raise TypeError(f"check_gradient: fn must return an NDArray, got {type(out).__name__}")
    return out
