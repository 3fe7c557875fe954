"""Test helpers for users' own code: array comparison and a numerical gradient checker.

>>> from gpuparams import nd, testing
>>> x = nd.array([[0.5, -1.0], [2.0, 0.25]])
>>> testing.check_gradient(lambda a: (a * a).sum(), [x])
"""
from __future__ import annotations

import numpy as np

from . import autograd
from .ndarray import NDArray, from_data

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


def numeric_gradient(fn, arrays, head, eps=1e-4):
    """Central-difference gradient of ``sum(fn(*arrays) * head)`` with respect to each array.

    The arrays are evaluated in float64 (their data is temporarily upcast on the host), so ``eps`` can
    be small without rounding noise. Returns a list of float64 NumPy arrays.
    """
    for i, a in enumerate(arrays):
        if not isinstance(a, NDArray) or a.context.device_type != "cpu":
            raise ValueError(f"numeric_gradient: arrays[{i}] must be a cpu NDArray")
    head = _host(head).astype(np.float64)
    originals = [a._data for a in arrays]
    grads = []
    try:
        # Upcast every array at once (each to its own contiguous float64 buffer, so the writes below
        # reach the data fn reads), then perturb one element at a time.
        for a in arrays:
            a._data = np.array(a._data, dtype=np.float64, order="C", copy=True)
        with autograd.pause():
            for array in arrays:
                flat = array._data.reshape(-1)
                g = np.zeros(flat.size)
                for i in range(flat.size):
                    original = flat[i]
                    flat[i] = original + eps
                    plus = float((_host(fn(*arrays)).astype(np.float64) * head).sum())
                    flat[i] = original - eps
                    minus = float((_host(fn(*arrays)).astype(np.float64) * head).sum())
                    flat[i] = original
                    g[i] = (plus - minus) / (2 * eps)
                grads.append(g.reshape(array.shape))
    finally:
        for a, data in reversed(list(zip(arrays, originals))):  # reversed: an array listed twice
            a._data = data
    return grads


def check_gradient(fn, arrays, eps=1e-4, rtol=1e-4, atol=1e-6, seed=0):
    """Check autograd's gradients of ``fn`` against central differences in float64.

    ``fn(*arrays)`` must return an NDArray. The check differentiates ``sum(fn(...) * h)`` for a random
    head ``h``, so every output element matters. The arrays (inputs, or a block's parameter data from
    ``param.data()``) must be on the CPU; they are upcast to float64 for the check and restored after.
    Pass every array that meets another in an operator with a dtype check (a Dense layer's input,
    weight and bias), so they are upcast together.

    Parameters
    ----------
    fn : callable
        Function of the arrays, returning an NDArray.
    arrays : list of NDArray
        The arrays to differentiate with respect to (cpu contexts).
    eps : float
        Finite-difference step.
    rtol, atol : float
        Tolerances of the comparison.
    seed : int
        Seed of the random head gradient.

    Raises
    ------
    AssertionError
        When a gradient differs, naming the array's position in ``arrays``.
    """
    for i, a in enumerate(arrays):
        if not isinstance(a, NDArray):
            raise TypeError(f"check_gradient: arrays[{i}] is {type(a).__name__}, not an NDArray")
        if a.context.device_type != "cpu":
            raise ValueError(f"check_gradient: arrays[{i}] is on {a.context}; finite differences run "
                             "on the host, so pass cpu arrays (x.as_in_context(gp.cpu()))")
    saved = [(a._data, a._grad, a._grad_req, a._node) for a in arrays]
    try:
        for a in arrays:
            a._data = a._data.astype(np.float64)
            a.attach_grad("write")
        out = _forward(fn, arrays)
        head = np.random.default_rng(seed).uniform(0.5, 1.5, size=out.shape)
        out = _forward(fn, arrays, record=True)
        out.backward(from_data(head, ctx=out.context, dtype=out.dtype))
        analytic = [a.grad.asnumpy().astype(np.float64) for a in arrays]
        with autograd.pause():
            numeric = numeric_gradient(fn, arrays, head, eps)
        for i, (an, nu) in enumerate(zip(analytic, numeric)):
            assert_almost_equal(an, nu, rtol=rtol, atol=atol,
                                names=(f"autograd d/d(arrays[{i}])", "finite differences"))
    finally:
        for a, (data, grad, req, node) in zip(arrays, saved):
            a._data, a._grad, a._grad_req, a._node = data, grad, req, node


def _forward(fn, arrays, record=False):
    if record:
        with autograd.record():
            out = fn(*arrays)
    else:
        with autograd.pause():
            out = fn(*arrays)
    if not isinstance(out, NDArray):
        raise TypeError(f"check_gradient: fn must return an NDArray, got {type(out).__name__}")
    return out
