"""The operator registry: one forward and one gradient spec per registered operator, run on every
context; the NDArray methods call their operators; one device-scope entry per call; the saved-array
audit catches a backward that reads an undeclared input.

The references are float64 NumPy functions written here, independently of the implementations; the
gradients are checked against central differences of those references.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, backend, nd, ops
from gpuparams._ndarray import NDArray
from gpuparams.ops import REGISTRY, _registry
from gpuparams.ops._core import result


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


@dataclass
class Spec:
    """How to call one operator and what it must give.

    ``inputs`` are host arrays (float64 values; ints stay ints) turned into NDArrays on the context,
    ``kwargs`` extra arguments, ``ref(*inputs)`` the float64 NumPy reference of the result, ``grad``
    the positions of the inputs to check gradients of (empty: not differentiable there). ``call``
    overrides how the operator is called with the NDArrays (default ``op(*arrays, **kwargs)``).
    """

    inputs: list
    ref: Callable
    kwargs: dict = field(default_factory=dict)
    grad: tuple = (0,)
    call: Optional[Callable] = None
    float_inputs: Optional[tuple] = None  # positions cast to float32 (default: every float input)
    rtol: float = 1e-5


_R = np.random.default_rng(7)


def _u(*shape, low=-1.0, high=1.0):
    return _R.uniform(low, high, size=shape)


def _away_from(values, points, gap=0.05):
    """``values`` moved away from the kinks in ``points`` so central differences are smooth."""
    for p in points:
        near = np.abs(values - p) < gap
        values[near] = p + np.where(values[near] >= p, gap, -gap)
    return values


_A, _B = _away_from(_u(3, 4), [0.0]), _away_from(_u(3, 4), [0.0])
_P = _u(3, 4, low=0.5, high=2.0)
_DISTINCT = np.arange(12.0).reshape(3, 4)[:, ::-1] * 0.1 + _u(3, 4) * 0.01
_BINARY_B = _A + 0.3  # differs from _A everywhere, so max/min/comparisons have no ties


_ROUNDABLE = _away_from(_u(3, 4, low=-3, high=3), [k * 0.5 for k in range(-6, 7)], gap=0.1)
_GAMMA_IN = np.array([[-2.5, -0.5, 0.3, 0.7], [1.0, 1.5, 2.5, 3.3], [4.1, 5.2, 6.3, 7.4]])
_WITH_NAN = np.where(np.arange(12).reshape(3, 4) % 5 == 1, np.nan, _A)


def _erfinv_by_bisection(y):
    """erfinv by 200 bisection steps on math.erf: independent of the Newton iteration under test."""
    lo, hi = np.full(y.shape, -6.0), np.full(y.shape, 6.0)
    erf = np.vectorize(math.erf)
    for _ in range(200):
        mid = (lo + hi) / 2
        below = erf(mid) < y
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


def _ftml(w, g, d, v, z, lr=0.05, t=3, b1=0.6, b2=0.999, eps=1e-8, wd=0.01):
    """FTML's step (Zheng & Kwok 2017, Algorithm 1 with MXNet's placement of wd and epsilon)."""
    g = g + wd * w
    v = b2 * v + (1 - b2) * g * g
    d_t = (1 - b1 ** t) / lr * (np.sqrt(v / (1 - b2 ** t)) + eps)
    z = b1 * z + (1 - b1) * g - (d_t - b1 * d) * w
    return -z / d_t


def _binary(ref, grad=(0, 1), a=_A, b=_BINARY_B):
    return Spec([a, b], ref, grad=grad)


def _broadcast(ref, grad=(0, 1)):
    return Spec([_A, _away_from(_u(1, 4), [0.0]) + 0.3], ref, grad=grad)


def _cmp(fn):
    return lambda a, b: fn(a, b).astype(np.float64)


SPECS = {
    # activations
    "relu": Spec([_A], lambda x: np.maximum(x, 0)),
    "sigmoid": Spec([_A], _sigmoid),
    "tanh": Spec([_A], np.tanh),
    "softrelu": Spec([_A], lambda x: np.log1p(np.exp(x))),
    "softsign": Spec([_A], lambda x: x / (1 + np.abs(x))),
    "softmax": Spec([_A], lambda x: _softmax(x, 1), kwargs={"axis": 1}),
    "log_softmax": Spec([_A], lambda x: np.log(_softmax(x)), kwargs={"axis": -1}),
    "Activation": Spec([_A], np.tanh, kwargs={"act_type": "tanh"}),
    "dense": Spec([_A, _u(5, 4), _u(5)], lambda x, w, b: np.maximum(x @ w.T + b, 0),
                  kwargs={"activation": "relu"}, grad=(0, 1, 2)),
    "FullyConnected": Spec([_A, _u(5, 4), _u(5)], lambda x, w, b: x @ w.T + b,
                           kwargs={"num_hidden": 5}, grad=(0, 1, 2)),
    # arithmetic
    "add": _binary(np.add), "subtract": _binary(np.subtract), "multiply": _binary(np.multiply),
    "divide": _binary(np.divide, b=_P), "power": _binary(np.power, a=_P, b=_A),
    "negative": Spec([_A], np.negative),
    "maximum": _binary(np.maximum), "minimum": _binary(np.minimum),
    "equal": _binary(_cmp(np.equal), grad=(), b=np.where(_R.uniform(size=(3, 4)) > 0.5, _A, _B)),
    "not_equal": _binary(_cmp(np.not_equal), grad=()),
    "greater": _binary(_cmp(np.greater), grad=(), b=_B),
    "greater_equal": _binary(_cmp(np.greater_equal), grad=(), b=_B),
    "lesser": _binary(_cmp(np.less), grad=(), b=_B),
    "lesser_equal": _binary(_cmp(np.less_equal), grad=(), b=_B),
    "exp": Spec([_A], np.exp), "log": Spec([_P], np.log), "sqrt": Spec([_P], np.sqrt),
    "square": Spec([_A], np.square), "abs": Spec([_A], np.abs),
    "sign": Spec([_A], np.sign),  # gradient 0 (away from 0), as MXNet
    "clip": Spec([_away_from(_u(3, 4), [-0.5, 0.5])], lambda x: np.clip(x, -0.5, 0.5),
                 kwargs={"a_min": -0.5, "a_max": 0.5}),
    # MXNet's broadcast_* family
    "broadcast_add": _broadcast(np.add), "broadcast_plus": _broadcast(np.add),
    "broadcast_sub": _broadcast(np.subtract), "broadcast_minus": _broadcast(np.subtract),
    "broadcast_mul": _broadcast(np.multiply),
    "broadcast_div": Spec([_A, _u(1, 4, low=0.5, high=2.0)], np.divide, grad=(0, 1)),
    "broadcast_power": Spec([_P, _u(1, 4)], np.power, grad=(0, 1)),
    "broadcast_maximum": _broadcast(np.maximum), "broadcast_minimum": _broadcast(np.minimum),
    "broadcast_equal": _broadcast(_cmp(np.equal), grad=()),
    "broadcast_not_equal": _broadcast(_cmp(np.not_equal), grad=()),
    "broadcast_greater": _broadcast(_cmp(np.greater), grad=()),
    "broadcast_greater_equal": _broadcast(_cmp(np.greater_equal), grad=()),
    "broadcast_lesser": _broadcast(_cmp(np.less), grad=()),
    "broadcast_lesser_equal": _broadcast(_cmp(np.less_equal), grad=()),
    "broadcast_logical_and": _broadcast(_cmp(lambda a, b: (a != 0) & (b != 0)), grad=()),
    "broadcast_logical_or": _broadcast(_cmp(lambda a, b: (a != 0) | (b != 0)), grad=()),
    "broadcast_logical_xor": _broadcast(_cmp(lambda a, b: (a != 0) ^ (b != 0)), grad=()),
    # indexing
    "take": Spec([_A, np.array([2.0, 0.0, 2.0])], lambda a, i: a[i.astype(int)], grad=(0,),
                 float_inputs=(0, 1)),
    "pick": Spec([_A, np.array([3.0, 0.0, 1.0])], lambda a, i: a[np.arange(3), i.astype(int)],
                 grad=(0,), float_inputs=(0, 1)),
    "one_hot": Spec([np.array([1.0, 0.0, 3.0])], lambda i: np.eye(4)[i.astype(int)],
                    kwargs={"depth": 4}, grad=()),
    "argmax": Spec([_DISTINCT], lambda x: x.argmax(axis=1).astype(np.float64), kwargs={"axis": 1},
                   grad=()),
    "argmin": Spec([_DISTINCT], lambda x: x.argmin(axis=0).astype(np.float64), kwargs={"axis": 0},
                   grad=()),
    # linear algebra
    "dot": Spec([_A, _u(4, 5)], np.dot, grad=(0, 1)),
    "batch_dot": Spec([_u(2, 3, 4), _u(2, 4, 5)], np.matmul, grad=(0, 1)),
    # NumPy's matmul: batch axes broadcast (here (2,) against (1,))
    "matmul": Spec([_u(2, 3, 4), _u(1, 4, 5)], np.matmul, grad=(0, 1)),
    # einsum: 'k' appears only in the second operand, so its gradient is a broadcast
    "einsum": Spec([_u(3, 4), _u(4, 5, 2)], lambda a, b: np.einsum("ij,jkl->il", a, b), grad=(0, 1),
                   call=lambda op, a, b: op("ij,jkl->il", a, b)),
    # losses (ops.loss; the Gluon Blocks reduce them)
    "l2_loss": Spec([_A, _B], lambda p, y: (p - y) ** 2, grad=(0, 1)),
    "l1_loss": Spec([_A, _BINARY_B], lambda p, y: np.abs(p - y), grad=(0, 1)),
    "huber_loss": Spec([_A * 2, _B], lambda p, y: np.where(np.abs(p - y) > 1, np.abs(p - y) - 0.5,
                                                           0.5 * (p - y) ** 2),
                       kwargs={"rho": 1.0}, grad=(0, 1)),
    "sigmoid_bce": Spec([_A * 3, _u(3, 4, low=0.0, high=1.0)],
                        lambda x, y: np.log1p(np.exp(x)) - x * y, grad=(0, 1)),
    "softmax_cross_entropy": Spec(
        [_A, np.array([1.0, 3.0, 0.0])],
        lambda x, y: -np.log(_softmax(x))[np.arange(3), y.astype(int)].reshape(3, 1),
        grad=(0,), float_inputs=(0, 1)),
    # reductions
    "sum": Spec([_A], lambda x: x.sum(axis=1), kwargs={"axis": 1}),
    "mean": Spec([_A], lambda x: x.mean(axis=0, keepdims=True), kwargs={"axis": 0, "keepdims": True}),
    "max": Spec([_DISTINCT], lambda x: x.max(axis=1), kwargs={"axis": 1}),
    "min": Spec([_DISTINCT], lambda x: x.min().reshape(1)),
    "norm": Spec([_A], lambda x: np.sqrt((x * x).sum()).reshape(1)),
    # (norm's ord/axis/keepdims variants are checked against MXNet in tests/test_nd_operators.py)
    # selection
    "where": Spec([(_A > 0).astype(np.float64), _A, _B], lambda c, x, y: np.where(c != 0, x, y),
                  grad=(1, 2)),
    "sort": Spec([_DISTINCT], lambda x: np.sort(x, axis=-1)),
    "argsort": Spec([_DISTINCT], lambda x: np.argsort(x, axis=-1).astype(np.float64), grad=()),
    "topk": Spec([_DISTINCT], lambda x: -np.sort(-x, axis=-1)[:, :2],
                 kwargs={"k": 2, "ret_typ": "value"}),
    # shapes
    "reshape": Spec([_A], lambda x: x.reshape(2, 6), kwargs={"shape": (2, 6)}),
    "transpose": Spec([_u(2, 3, 4)], lambda x: x.transpose(2, 0, 1), kwargs={"axes": (2, 0, 1)}),
    "swapaxes": Spec([_u(2, 3, 4)], lambda x: x.swapaxes(0, 2), kwargs={"dim1": 0, "dim2": 2}),
    "expand_dims": Spec([_A], lambda x: x[:, None, :], kwargs={"axis": 1}),
    "squeeze": Spec([_u(3, 1, 4)], lambda x: x[:, 0, :], kwargs={"axis": 1}),
    "flatten": Spec([_u(2, 3, 4)], lambda x: x.reshape(2, 12)),
    "concat": Spec([_A, _u(3, 2)], lambda a, b: np.concatenate([a, b], axis=1), grad=(0, 1)),
    "stack": Spec([_A, _B], lambda a, b: np.stack([a, b], axis=1), kwargs={"axis": 1}, grad=(0, 1)),
    "getitem": Spec([_A], lambda x: x[1:, ::2],
                    call=lambda op, x: op(x, (slice(1, None), slice(None, None, 2)))),
    "astype": Spec([_A], lambda x: x, kwargs={"dtype": "float64"}),
    "copy": Spec([_A], lambda x: x),
    "to_context": Spec([_A], lambda x: x, call=lambda op, x: op(x, gp.cpu(0))),
    "split": Spec([_u(3, 4)], lambda x: x[:, 2:], kwargs={"num_outputs": 2, "axis": 1},
                  call=lambda op, x, **kw: op(x, **kw)[1]),
    "slice_axis": Spec([_A], lambda x: x[:, 1:3], kwargs={"axis": 1, "begin": 1, "end": 3}),
    "broadcast_to": Spec([_u(1, 4)], lambda x: np.broadcast_to(x, (3, 4)), kwargs={"shape": (3, 4)}),
    "broadcast_axis": Spec([_u(3, 1)], lambda x: np.broadcast_to(x, (3, 5)),
                           kwargs={"axis": 1, "size": 5}),
    "tile": Spec([_u(2, 3)], lambda x: np.tile(x, (2, 1)), kwargs={"reps": (2, 1)}),
    "repeat": Spec([_u(2, 3)], lambda x: np.repeat(x, 2, axis=1), kwargs={"repeats": 2, "axis": 1}),
    "flip": Spec([_A], lambda x: x[:, ::-1], kwargs={"axis": 1}),
    # elementwise math (gpuparams.ops.math, ops.special); rounding away from the jumps, gradient 0
    **{name: Spec([_ROUNDABLE], ref, grad=(0,)) for name, ref in {
        "round": lambda x: np.sign(x) * np.floor(np.abs(x) + 0.5), "rint": np.rint, "floor": np.floor,
        "ceil": np.ceil, "trunc": np.trunc, "fix": np.trunc}.items()},
    "sin": Spec([_A], np.sin), "cos": Spec([_A], np.cos), "tan": Spec([_A], np.tan),
    "arcsin": Spec([_A * 0.9], np.arcsin), "arccos": Spec([_A * 0.9], np.arccos),
    "arctan": Spec([_A], np.arctan),
    "sinh": Spec([_A], np.sinh), "cosh": Spec([_A], np.cosh), "arcsinh": Spec([_A], np.arcsinh),
    "arccosh": Spec([_P + 1], np.arccosh), "arctanh": Spec([_A * 0.9], np.arctanh),
    "degrees": Spec([_A], np.degrees), "radians": Spec([_A], np.radians),
    "log1p": Spec([_P], np.log1p), "expm1": Spec([_A], np.expm1), "log2": Spec([_P], np.log2),
    "log10": Spec([_P], np.log10), "rsqrt": Spec([_P], lambda x: 1 / np.sqrt(x)), "cbrt": Spec([_A], np.cbrt),
    "rcbrt": Spec([_P], lambda x: 1 / np.cbrt(x)), "reciprocal": Spec([_P], lambda x: 1 / x),
    "gamma": Spec([_GAMMA_IN], lambda x: np.vectorize(math.gamma)(x), rtol=1e-4),
    "gammaln": Spec([_GAMMA_IN], lambda x: np.vectorize(math.lgamma)(x), rtol=1e-4),
    "erf": Spec([_A * 2], lambda x: np.vectorize(math.erf)(x)),
    "erfinv": Spec([_A * 0.95], _erfinv_by_bisection, rtol=1e-4),
    # more reductions (ops.products)
    "prod": Spec([_A], lambda x: x.prod(axis=1), kwargs={"axis": 1}),
    "nansum": Spec([_WITH_NAN], lambda x: np.nansum(x, axis=0), kwargs={"axis": 0}),
    "nanprod": Spec([_WITH_NAN], lambda x: np.nanprod(x, axis=1, keepdims=True),
                    kwargs={"axis": 1, "keepdims": True}),
    # slicing and shapes from other arrays (ops.slicing, ops.layout)
    "slice": Spec([_u(3, 4, 2)], lambda x: x[1:, ::-2], kwargs={"begin": (1, None), "end": (None, None),
                                                               "step": (1, -2)}),
    "slice_like": Spec([_A, np.zeros((2, 3))], lambda x, y: x[:2, :3], grad=(0,)),
    "pad": Spec([_u(2, 3)], lambda x: np.pad(x, ((1, 0), (2, 1)), mode="reflect"),
                kwargs={"mode": "reflect", "pad_width": (1, 0, 2, 1)}),
    "reshape_like": Spec([_A, np.zeros((2, 6))], lambda x, y: x.reshape(2, 6), grad=(0,)),
    "broadcast_like": Spec([_u(1, 4), _A], lambda x, y: np.broadcast_to(x, (3, 4)), grad=(0,)),
    "moveaxis": Spec([_u(2, 3, 4)], lambda x: np.moveaxis(x, 0, -1), kwargs={"source": 0, "destination": -1}),
    "concatenate": Spec([_A, _B], lambda a, b: np.concatenate([a, b], axis=0), grad=(0, 1),
                        call=lambda op, a, b: op([a, b])),
    "elemwise_add": _binary(np.add), "elemwise_sub": _binary(np.subtract),
    "elemwise_mul": _binary(np.multiply),
    "elemwise_div": _binary(np.divide, b=_P),
    "broadcast_mod": Spec([_A * 3, _u(1, 4, low=0.5, high=1.5)], lambda a, b: np.mod(a, b), grad=(0, 1)),
    "modulo": Spec([_A * 3, _u(1, 4, low=-1.5, high=-0.5)], lambda a, b: np.mod(a, b), grad=(0, 1)),
    "broadcast_hypot": _broadcast(np.hypot),
    "Dropout": Spec([_A], lambda x: x, kwargs={"p": 0.0, "mode": "always"}),
    # optimizer updates (in place; they return the weight)
    "sgd_update": Spec([_A, _B, _u(3, 4)],
                       lambda w, g, m: w + (0.9 * m - 0.1 * (np.clip(2 * g, -1, 1) + 0.01 * w)),
                       kwargs={"lr": 0.1, "momentum": 0.9, "wd": 0.01, "rescale_grad": 2.0,
                               "clip_gradient": 1.0}, grad=()),
    "adam_update": Spec(
        [_A, _B, _u(3, 4) * 0.1, _u(3, 4, low=0.1, high=0.2)],
        lambda w, g, m, v: w - 0.01 * (0.9 * m + 0.1 * (g + 0.01 * w))
        / (np.sqrt(0.999 * v + 0.001 * (g + 0.01 * w) ** 2) + 1e-8),
        kwargs={"lr_t": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "wd": 0.01,
                "rescale_grad": 1.0, "clip_gradient": None}, grad=()),
    # The other optimizers' updates: MXNet 1.9.1's formulas, written here from its documentation and
    # checked end to end against recorded MXNet values in tests/test_mxnet_optimizers.py.
    "nag_mom_update": Spec(
        [_A, _B, _u(3, 4)],
        lambda w, g, m: w + 0.9 * (0.9 * m - 0.1 * (np.clip(2 * g, -1, 1) + 0.01 * w))
        - 0.1 * (np.clip(2 * g, -1, 1) + 0.01 * w),
        kwargs={"lr": 0.1, "momentum": 0.9, "wd": 0.01, "rescale_grad": 2.0, "clip_gradient": 1.0},
        grad=()),
    "rmsprop_update": Spec(
        [_A, _B, _P],
        lambda w, g, n: np.clip(w - 0.01 * (g + 0.01 * w)
                                / np.sqrt(0.1 * (g + 0.01 * w) ** 2 + 0.9 * n + 1e-8), -0.9, 0.9),
        kwargs={"lr": 0.01, "gamma1": 0.9, "epsilon": 1e-8, "wd": 0.01, "rescale_grad": 1.0,
                "clip_gradient": None, "clip_weights": 0.9}, grad=()),
    "rmspropalex_update": Spec(
        [_A, _B, _P, _u(3, 4) * 0.1, _u(3, 4) * 0.01],
        lambda w, g, n, a, d: w + 0.8 * d - 0.01 * np.clip(g, -0.5, 0.5) / np.sqrt(
            0.1 * np.clip(g, -0.5, 0.5) ** 2 + 0.9 * n - (0.1 * np.clip(g, -0.5, 0.5) + 0.9 * a) ** 2
            + 1e-8),
        kwargs={"lr": 0.01, "gamma1": 0.9, "gamma2": 0.8, "epsilon": 1e-8, "wd": 0.0, "rescale_grad": 1.0,
                "clip_gradient": 0.5, "clip_weights": None}, grad=()),
    "adagrad_update": Spec(
        [_A, _B, _P],
        lambda w, g, h: w - 0.1 * (1.5 * g / np.sqrt(h + (1.5 * g) ** 2 + 1e-7) + 0.01 * w),
        kwargs={"lr": 0.1, "epsilon": 1e-7, "wd": 0.01, "rescale_grad": 1.5, "clip_gradient": None},
        grad=()),
    "adadelta_update": Spec(
        [_A, _B, _P, _P * 0.5],
        lambda w, g, ag, ad: w - np.sqrt(ad + 1e-5) / np.sqrt(
            0.9 * ag + 0.1 * np.clip(g, -0.8, 0.8) ** 2 + 1e-5) * np.clip(g, -0.8, 0.8) - 0.01 * w,
        kwargs={"rho": 0.9, "epsilon": 1e-5, "wd": 0.01, "rescale_grad": 1.0, "clip_gradient": 0.8},
        grad=()),
    "adamw_update": Spec(
        [_A, _B, _u(3, 4) * 0.1, _u(3, 4, low=0.1, high=0.2)],
        lambda w, g, m, v: w - 0.01 * ((0.9 * m + 0.1 * np.clip(2 * g, -1, 1))
                                       / (np.sqrt(0.999 * v + 0.001 * np.clip(2 * g, -1, 1) ** 2) + 1e-8)
                                       + 0.05 * w),
        kwargs={"lr_t": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "wd": 0.05,
                "rescale_grad": 2.0, "clip_gradient": 1.0}, grad=()),
    "signsgd_update": Spec(
        [_A, _B], lambda w, g: (1 - 0.1 * 0.01) * w - 0.1 * np.sign(g),
        kwargs={"lr": 0.1, "wd": 0.01, "rescale_grad": 1.0, "clip_gradient": None}, grad=()),
    "signum_update": Spec(
        [_A, _B, _B * 0.5],
        lambda w, g, m: (1 - 0.1 * 0.02) * w + 0.1 * np.sign(0.9 * m - 0.1 * (0.01 * w + g)),
        kwargs={"lr": 0.1, "momentum": 0.9, "wd": 0.01, "wd_lh": 0.02, "rescale_grad": 1.0,
                "clip_gradient": None}, grad=()),
    "ftml_update": Spec([_A, _B, _P, _P * 0.1, _u(3, 4)], lambda w, g, d, v, z: _ftml(w, g, d, v, z),
        kwargs={"lr": 0.05, "t": 3, "beta1": 0.6, "beta2": 0.999, "epsilon": 1e-8, "wd": 0.01,
                "rescale_grad": 1.0, "clip_gradient": None}, grad=()),
}


def _operators():
    """Each registered operator once (aliases name the same Op)."""
    seen = {}
    for op in REGISTRY.values():
        seen.setdefault(op.name, op)
    return seen


def test_every_registered_operator_has_a_spec():
    names = set(_operators())
    assert sorted(names - set(SPECS)) == [], "operators without a spec in tests/test_registry.py"
    assert sorted(set(SPECS) - names) == [], "specs of operators that are not registered"


def _arrays(spec, ctx):
    floats = spec.float_inputs
    out = []
    for i, host in enumerate(spec.inputs):
        dtype = np.float32 if (floats is None or i in floats) else host.dtype
        out.append(nd.array(host, ctx=ctx, dtype=dtype))
    return out


def _call(name, spec, arrays):
    fn = REGISTRY[name].dispatch
    if spec.call is not None:
        return spec.call(fn, *arrays, **spec.kwargs)
    return fn(*arrays, **spec.kwargs)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_forward_matches_the_float64_reference(name, ctx):
    spec = SPECS[name]
    out = _call(name, spec, _arrays(spec, ctx))
    assert isinstance(out, NDArray) and out.context is (gp.cpu(0) if name == "to_context" else ctx)
    expected = np.asarray(spec.ref(*spec.inputs), dtype=np.float64)
    if expected.ndim == 0:
        expected = expected.reshape(1)  # nd results have MXNet's shape (1,) for scalars
    got = out.asnumpy().astype(np.float64)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=spec.rtol, atol=1e-6)


def _numeric_gradient(spec, position, head, eps=1e-6):
    """d sum(ref(...) * head) / d inputs[position], by central differences in float64."""
    base = [np.array(a, dtype=np.float64) for a in spec.inputs]
    x = base[position]
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        keep = x[index]
        x[index] = keep + eps
        plus = (np.asarray(spec.ref(*base)) * head).sum()
        x[index] = keep - eps
        minus = (np.asarray(spec.ref(*base)) * head).sum()
        x[index] = keep
        grad[index] = (plus - minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("name", sorted(SPECS))
def test_gradient_matches_central_differences(name, ctx):
    spec = SPECS[name]
    op = _operators()[name]
    arrays = _arrays(spec, ctx)
    for i in spec.grad:
        arrays[i].attach_grad()
    if not spec.grad:
        # Not differentiable: recording it attaches no node, even with a differentiable input.
        for a in arrays:
            if a.dtype.kind == "f":
                a.attach_grad()
        with autograd.record():
            out = _call(name, spec, arrays)
        assert out._node is None, f"{name} recorded a backward but has no gradient spec"
        assert not op.differentiable, f"{name} is declared differentiable"
        return
    assert op.differentiable
    with autograd.record():
        out = _call(name, spec, arrays)
    head = np.random.default_rng(3).uniform(0.5, 1.5, size=out.shape)
    out.backward(nd.array(head, ctx=out.context, dtype=out.dtype))
    expected_shape = np.asarray(spec.ref(*spec.inputs)).shape
    head64 = head.reshape(expected_shape) if expected_shape else head.reshape(())
    for i in spec.grad:
        expected = _numeric_gradient(spec, i, head64)
        got = arrays[i].grad.asnumpy().astype(np.float64)
        np.testing.assert_allclose(got, expected, rtol=2e-3, atol=2e-4,
                                   err_msg=f"{name}: gradient of input {i}")


# ----------------------------------------------------------------------------- NDArray methods
def _method_args(op):
    """Placeholder arguments for every required parameter after the array itself."""
    params = list(inspect.signature(op.impl).parameters.values())[1:]
    return [object() for p in params
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def test_every_declared_method_exists_and_calls_its_operator(monkeypatch):
    declared = _registry.method_ops()
    assert {"relu", "sum", "reshape", "as_in_context", "__getitem__", "astype"} <= set(declared)
    x = nd.ones((2, 2))
    for method, op in declared.items():
        assert callable(getattr(NDArray, method, None)), f"NDArray has no method {method!r} for {op.name}"
        calls = []
        monkeypatch.setattr(ops, op.name, lambda *a, **k: calls.append(a) or "sentinel")
        args = _method_args(op)
        if method == "as_in_context":
            args = [gp.cpu(1)]
        got = getattr(x, method)(*args)
        assert got == "sentinel" and calls and calls[0][0] is x, f"NDArray.{method} does not call {op.name}"
        monkeypatch.undo()


@pytest.mark.parametrize("dunder, op_name, reflected", [
    ("__add__", "add", False), ("__radd__", "add", True), ("__sub__", "subtract", False),
    ("__rsub__", "subtract", True), ("__mul__", "multiply", False), ("__rmul__", "multiply", True),
    ("__truediv__", "divide", False), ("__rtruediv__", "divide", True), ("__pow__", "power", False),
    ("__rpow__", "power", True), ("__matmul__", "dot", False), ("__eq__", "equal", False),
    ("__ne__", "not_equal", False), ("__gt__", "greater", False), ("__ge__", "greater_equal", False),
    ("__lt__", "lesser", False), ("__le__", "lesser_equal", False),
])
def test_python_operators_call_the_registered_operators(monkeypatch, dunder, op_name, reflected):
    calls = []
    monkeypatch.setattr(ops, op_name, lambda *a: calls.append(a) or "sentinel")
    x = nd.ones((2,))
    assert getattr(x, dunder)(3) == "sentinel"
    assert calls == [(3, x) if reflected else (x, 3)]


def test_nd_namespace_is_the_public_registry():
    public = _registry.public_ops()
    for name, fn in public.items():
        assert getattr(nd, name) is fn and name in nd.__all__
    for name, op in REGISTRY.items():
        if not op.public:
            assert name not in nd.__all__
    assert nd.SliceChannel is nd.split and nd.reverse is nd.flip and nd.Flatten is nd.flatten


def test_registering_twice_is_refused():
    with pytest.raises(ValueError, match="'relu' is registered twice"):
        _registry.register("relu")(lambda x: x)


# ----------------------------------------------------------------------------- one scope per call
class _CountingDevice:
    """Stands in for a GPU device: counts scope entries, runs NumPy, no custom kernels."""

    custom_kernels = False
    emulated = True
    xp = np

    def __init__(self):
        self.entries = 0

    def scope(self):
        import contextlib
        self.entries += 1
        return contextlib.nullcontext()


@pytest.mark.parametrize("name", sorted(SPECS))
def test_each_operator_call_enters_its_device_scope_exactly_once(name, monkeypatch):
    spec = SPECS[name]
    with backend.emulation(True):
        arrays = _arrays(spec, gp.gpu(0))
        for i in spec.grad:
            arrays[i].attach_grad()
        device = _CountingDevice()
        monkeypatch.setattr(backend, "device_of", lambda array: device)
        with autograd.record():
            _call(name, spec, arrays)
    assert device.entries == 1


def test_the_kernel_path_is_chosen_for_float32_on_a_kernel_device(monkeypatch):
    used = []

    def kernel(x):
        used.append("kernel")
        return x

    def impl(x):
        used.append("impl")
        return x
    dispatch = _registry._make_dispatch(impl, kernel)
    with backend.emulation(True):
        dispatch(nd.ones((2,), ctx=gp.gpu(0)))
        dispatch(nd.ones((2,), ctx=gp.gpu(0), dtype="float64"))
    dispatch(nd.ones((2,)))
    assert used == ["kernel", "impl", "impl"]


# ----------------------------------------------------------------------------- saved-array audit
def test_a_backward_reading_an_undeclared_input_is_loud():
    def leaky_square(x):
        data = x._data

        def backward(g, needs):
            return (2 * g * data,)
        return result(data * data, x._ctx, "leaky_square", (x,), backward, saved=())
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    assert _registry.is_strict()  # conftest turns the audit on for the whole suite
    with autograd.record(), pytest.raises(AssertionError, match="leaky_square.*saved="):
        leaky_square(x)


def test_a_backward_reading_its_undeclared_output_is_loud():
    def leaky_exp(x):
        out = np.exp(x._data)

        def backward(g, needs):
            return (g * out,)
        return result(out, x._ctx, "leaky_exp", (x,), backward, saved=())
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    with autograd.record(), pytest.raises(AssertionError, match="save_output=True"):
        leaky_exp(x)


def test_saved_is_a_required_declaration():
    x = nd.array([1.0])
    with pytest.raises(TypeError, match="saved"):
        result(x._data, x._ctx, "undeclared", (x,), lambda g, needs: (g,))
