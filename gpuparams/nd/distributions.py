"""``nd.random``'s discrete and skewed distributions: multinomial, poisson, exponential, gamma,
negative_binomial (MXNet 1.9.1's parameterisations), drawn from the seeded host generator.

Like ``uniform``/``normal``, samples are drawn on the host from the one generator that
``gp.random.seed`` reseeds and then copied to ``ctx``, so they are identical on every context.
Each distribution takes a number for its parameters (``shape`` is then the sample shape) or NDArrays
of one shape (``shape`` is then appended: the result has shape ``params.shape + shape``), as MXNet.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import random as _random
from ..context import Context, current_context
from .._ndarray import NDArray, from_data, normalize_dtype

__all__ = ["multinomial", "poisson", "exponential", "gamma", "negative_binomial"]


def _shape(shape):
    if shape is None:
        return ()
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)


def _params(name, values, shape, ctx):
    """Host float64 parameter arrays, the sample size and the target context."""
    arrays = [v for v in values.values() if isinstance(v, NDArray)]
    if arrays:
        if len(arrays) != len(values):
            raise TypeError(f"random.{name}: give every parameter as an NDArray or every one as a number, "
                            "got "
                            + ", ".join(f"{k}={type(v).__name__}" for k, v in values.items()))
        first = arrays[0]
        for a in arrays[1:]:
            if a.shape != first.shape:
                raise ValueError(f"random.{name}: parameter arrays need one shape, got "
                                 f"{[a.shape for a in arrays]}")
        host = {k: v.asnumpy().astype(np.float64) for k, v in values.items()}
        size = first.shape + _shape(shape)
        extra = len(_shape(shape))
        host = {k: v.reshape(v.shape + (1,) * extra) for k, v in host.items()}
        return host, size, ctx if ctx is not None else first.context
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"random.{name}: {k} must be a number or an NDArray, got {type(v).__name__}")
    size = _shape(shape) or (1,)
    ctx = Context(ctx) if ctx is not None else current_context()
    return {k: float(v) for k, v in values.items()}, size, ctx


def _check(name, cond, message):
    if not np.all(cond):
        raise ValueError(f"random.{name}: {message}")


def _finish(values, dtype, ctx, out, default="float32"):
    dt = normalize_dtype(default if dtype is None else dtype)
    return _written(from_data(values.astype(dt), ctx=ctx), out)


def _written(arr, out):
    """``arr``, or with ``out`` given, ``out`` holding ``arr``'s values (same shape, any context)."""
    if out is None:
        return arr
    if not isinstance(out, NDArray) or out.shape != arr.shape:
        raise ValueError(f"out must be an NDArray of shape {arr.shape}, got "
                         f"{getattr(out, 'shape', type(out).__name__)}")
    out[:] = arr.as_in_context(out.context)
    return out


def poisson(lam=1, shape=None, dtype=None, ctx=None, out=None):
    """Poisson samples with rate ``lam`` (mean and variance ``lam``), as floats (float32 by default).

    Parameters
    ----------
    lam : float or NDArray
        Non-negative rate(s).
    shape : int or tuple, optional
        Sample shape (default ``(1,)`` for numbers), appended to an NDArray parameter's shape.
    dtype : str, optional
    ctx : Context, optional
        Default: the current context (or the parameter array's).
    out : NDArray, optional
        Written in place and returned.
    """
    p, size, ctx = _params("poisson", {"lam": lam}, shape, ctx)
    _check("poisson", np.asarray(p["lam"]) >= 0, f"lam must be non-negative, got {lam}")
    return _finish(_random.generator().poisson(p["lam"], size=size).astype(np.float64), dtype, ctx, out)


def exponential(scale=1, shape=None, dtype=None, ctx=None, out=None):
    """Exponential samples with mean ``scale`` (MXNet's ``scale = 1 / lambda``); see :func:`poisson`."""
    p, size, ctx = _params("exponential", {"scale": scale}, shape, ctx)
    _check("exponential", np.asarray(p["scale"]) > 0, f"scale must be positive, got {scale}")
    return _finish(_random.generator().exponential(p["scale"], size=size), dtype, ctx, out)


def gamma(alpha=1, beta=1, shape=None, dtype=None, ctx=None, out=None):
    """Gamma samples with shape ``alpha`` and *scale* ``beta`` (mean ``alpha * beta``), as MXNet;
    see :func:`poisson`."""
    p, size, ctx = _params("gamma", {"alpha": alpha, "beta": beta}, shape, ctx)
    _check("gamma", (np.asarray(p["alpha"]) > 0) & (np.asarray(p["beta"]) > 0),
           f"alpha and beta must be positive, got alpha={alpha}, beta={beta}")
    return _finish(_random.generator().gamma(p["alpha"], p["beta"], size=size), dtype, ctx, out)


def negative_binomial(k=1, p=1, shape=None, dtype=None, ctx=None, out=None):
    """Negative binomial samples: failures before the ``k``-th success of trials that succeed with
    probability ``p`` (mean ``k (1 - p) / p``), as MXNet; see :func:`poisson`."""
    q, size, ctx = _params("negative_binomial", {"k": k, "p": p}, shape, ctx)
    kk, pp = np.asarray(q["k"]), np.asarray(q["p"])
    _check("negative_binomial", (kk > 0) & (pp > 0) & (pp <= 1),
           f"k must be positive and p in (0, 1], got k={k}, p={p}")
    draws = _random.generator().negative_binomial(q["k"], q["p"], size=size)
    return _finish(draws.astype(np.float64), dtype, ctx, out)


def multinomial(data, shape=None, get_prob=False, out=None, dtype="int32"):
    """Draw category indices from the distributions in the last axis of ``data``.

    Parameters
    ----------
    data : NDArray
        Probabilities, shape ``(..., k)``; each row must be non-negative and sum to 1 (within 1e-4,
        then renormalised).
    shape : int or tuple, optional
        Samples per distribution: the result has shape ``data.shape[:-1] + shape`` (``data.shape[:-1]``
        without it, or ``(1,)`` for one 1-D distribution).
    get_prob : bool
        Also return ``log(data[sample])``, differentiable with respect to ``data`` (for
        REINFORCE-style estimators), as ``[samples, log_probs]``.
    out : NDArray, optional
        Written with the samples and returned.
    dtype : str
        The samples' dtype (int32 by default, as MXNet).
    """
    if not isinstance(data, NDArray):
        raise TypeError("random.multinomial: data must be an NDArray of probabilities, got "
                        f"{type(data).__name__}")
    probs = data.asnumpy().astype(np.float64)
    if probs.ndim == 0 or probs.shape[-1] == 0:
        raise ValueError(f"random.multinomial: data needs a last axis of categories, got shape {data.shape}")
    sums = probs.sum(axis=-1, keepdims=True)
    if (probs < 0).any() or np.abs(sums - 1).max() > 1e-4:
        raise ValueError("random.multinomial: every distribution in the last axis of data must be "
                         f"non-negative and sum to 1 (sums range from {sums.min():g} to {sums.max():g})")
    probs = probs / sums
    extra = _shape(shape)
    rows = probs.reshape(-1, probs.shape[-1])
    count = int(np.prod(extra)) if extra else 1
    cumulative = np.cumsum(rows, axis=1)
    cumulative[:, -1] = 1.0  # no draw can fall past the last category through rounding
    u = _random.generator().random(size=(rows.shape[0], count))
    picks = np.stack([np.searchsorted(cumulative[i], u[i], side="right") for i in range(rows.shape[0])])
    picks = np.minimum(picks, rows.shape[1] - 1)
    samples = picks.reshape(probs.shape[:-1] + extra) if (probs.ndim > 1 or extra) else picks.reshape(1)
    result = _finish(samples, dtype, data.context, out, default="int32")
    if not get_prob:
        return result
    from .. import ops
    n_rows, k = rows.shape
    expanded = ops.broadcast_to(data.reshape(n_rows, 1, k), (n_rows, count, k))
    index = from_data(picks, ctx=data.context, dtype=data.dtype)
    log_prob = ops.log(ops.pick(expanded, index, axis=-1)).reshape(result.shape)
    return [result, log_prob]
