"""The elementwise loss operators behind :mod:`gpuparams.loss`, each one operator with its backward.

Each loss is computed by **one** recorded operator with a hand-written backward, so that the
numerically delicate parts (log-sum-exp, softplus) never go through autograd piecewise. They are
registered (and so dispatched under their device like every operator) but not exported to ``nd``:
MXNet's ``nd`` has no such functions, and the Gluon loss Blocks are the public interface.
The label helpers here put a label into the form the operators expect.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..errors import ShapeError
from .._ndarray import NDArray, from_data
from ._core import contiguous, normalize_axis, result, stable_log_softmax, stable_sigmoid, xp_of
from ._registry import register
from .indexing import whole_indices

__all__ = ["l2_loss", "l1_loss", "huber_loss", "sigmoid_bce", "softmax_cross_entropy", "as_label",
           "label_like"]

#: Added inside the logarithms of the ``from_sigmoid=True`` cross-entropy, as Gluon does, so a
#: probability of exactly 0 or 1 gives a large finite loss instead of infinity.
_BCE_EPS = 1e-12


# ----------------------------------------------------------------------------- labels
def as_label(label, pred, what="label"):
    """The label as an NDArray on the prediction's context (NumPy arrays and lists are accepted)."""
    if isinstance(label, NDArray):
        return label
    if isinstance(label, (list, tuple, np.ndarray, numbers.Number)):
        return from_data(np.asarray(label), ctx=pred.context)
    raise TypeError(f"{what} must be an NDArray (or a NumPy array), got {type(label).__name__}")


def _reshape_like(label, pred, loss_name):
    """Gluon's rule: the label takes the prediction's shape (same number of elements required)."""
    if label.shape == pred.shape:
        return label
    if label.size != pred.size:
        raise ShapeError(f"{loss_name}: label of shape {label.shape} cannot be reshaped to the "
                         f"prediction's shape {pred.shape} ({label.size} vs {pred.size} elements)")
    return label.reshape(pred.shape)


def _same_dtype(label, pred):
    # A float64 or integer label would otherwise promote the loss (NumPy rules) away from the
    # prediction's dtype; the prediction's dtype is the one the model trains in.
    return label if label.dtype == pred.dtype else label.astype(pred.dtype)


def label_like(label, pred, loss_name):
    """The label as an NDArray with the prediction's shape and dtype (Gluon's step 1)."""
    return _same_dtype(_reshape_like(as_label(label, pred), pred, loss_name), pred)


def _check_label_context(name, pred, label):
    if pred.context is not label.context:
        raise ValueError(f"{name}: prediction is on {pred.context} but label is on {label.context}; "
                         f"move the label with label.as_in_context({pred.context})")


def _elementwise(name, pred, label, forward, local_grads):
    """One recorded result ``loss = forward(p, y)`` with ``d loss = dp * g`` and ``dy * g``.

    ``local_grads(p, y, xp, needs)`` returns the elementwise partial derivatives (or None where an
    input needs none); the backward multiplies them by the incoming gradient.
    """
    _check_label_context(name, pred, label)
    p, y = pred._data, label._data
    out = forward(p, y, xp_of(p))

    def backward(g, needs):
        dp, dy = local_grads(p, y, xp_of(p), needs)
        return (g * dp if dp is not None else None, g * dy if dy is not None else None)
    return result(out, pred.context, name, (pred, label), backward, saved=(pred, label))


# ----------------------------------------------------------------------------- regression
def _l2_forward(p, y, xp):
    d = p - y
    return d * d


def _l2_grads(p, y, xp, needs):
    d2 = 2 * (p - y)
    return (d2 if needs[0] else None, -d2 if needs[1] else None)


def _l2_kernel(pred, label):
    """:func:`l2_loss` on a device with our kernels (``kernels/loss.cu``): the forward and the
    backward are one launch each; a label of another dtype or shape takes the array path."""
    from ._registry import REGISTRY
    if label.dtype != pred.dtype or label.shape != pred.shape:
        return REGISTRY["l2_loss"].impl(pred, label)
    from ..backend import kernels
    _check_label_context("l2_loss", pred, label)
    ctx = pred.context
    p, y = contiguous(pred._data), contiguous(label._data)
    out = kernels.l2_forward(ctx, p, y)

    def backward(g, needs):
        dp = kernels.l2_backward(ctx, p, y, contiguous(g)) if needs[0] or needs[1] else None
        return (dp if needs[0] else None, -dp if needs[1] else None)
    return result(out, ctx, "l2_loss", (pred, label), backward, saved=(pred, label))


@register(public=False, kernel=_l2_kernel)
def l2_loss(pred, label):
    """``(pred - label)**2`` elementwise (the :class:`~gpuparams.loss.L2Loss` Block halves it)."""
    return _elementwise("l2_loss", pred, label, _l2_forward, _l2_grads)


def _l1_forward(p, y, xp):
    return xp.abs(p - y)


def _l1_grads(p, y, xp, needs):
    s = xp.sign(p - y)
    return (s if needs[0] else None, -s if needs[1] else None)


@register(public=False)
def l1_loss(pred, label):
    """``|pred - label|`` elementwise; the gradient at ``pred == label`` is 0."""
    return _elementwise("l1_loss", pred, label, _l1_forward, _l1_grads)


@register(public=False)
def huber_loss(pred, label, rho):
    """Smooth L1 elementwise: ``0.5/rho * d^2`` where ``|d| <= rho``, else ``|d| - 0.5*rho``."""
    def forward(p, y, xp):
        a = xp.abs(p - y)
        return xp.where(a > rho, a - 0.5 * rho, (0.5 / rho) * a * a).astype(p.dtype, copy=False)

    def grads(p, y, xp, needs):
        d = p - y
        dp = xp.where(xp.abs(d) > rho, xp.sign(d), d / rho).astype(p.dtype, copy=False)
        return (dp if needs[0] else None, -dp if needs[1] else None)
    return _elementwise("huber_loss", pred, label, forward, grads)


# ----------------------------------------------------------------------------- classification
def _bce_logit_forward(x, y, xp):
    # log(1 + exp(x)) - x*y, with the softplus split so that exp never sees a positive argument.
    return xp.maximum(x, 0) - x * y + xp.log1p(xp.exp(-xp.abs(x)))


def _bce_logit_grads(x, y, xp, needs):
    dx = stable_sigmoid(x, xp).astype(x.dtype, copy=False) - y if needs[0] else None
    return (dx, -x if needs[1] else None)


def _bce_prob_forward(p, y, xp):
    return -(y * xp.log(p + _BCE_EPS) + (1 - y) * xp.log(1 - p + _BCE_EPS))


def _bce_prob_grads(p, y, xp, needs):
    dp = -(y / (p + _BCE_EPS) - (1 - y) / (1 - p + _BCE_EPS)) if needs[0] else None
    dy = -(xp.log(p + _BCE_EPS) - xp.log(1 - p + _BCE_EPS)) if needs[1] else None
    return dp, dy


@register(public=False)
def sigmoid_bce(pred, label, from_sigmoid=False):
    """Binary cross-entropy elementwise, from logits (stable softplus form) or probabilities."""
    if from_sigmoid:
        return _elementwise("sigmoid_bce", pred, label, _bce_prob_forward, _bce_prob_grads)
    return _elementwise("sigmoid_bce", pred, label, _bce_logit_forward, _bce_logit_grads)


def _zero_where_unlabelled(logp, dense, xp):
    """``logp`` with its -inf entries set to 0 where the dense label is 0 (``0 * log 0 = 0`` in a
    cross-entropy), so that the product with the label neither warns nor gives NaN there."""
    if logp.dtype.kind != "f" or (xp is np and not np.isneginf(logp).any()):
        return logp  # the usual case on the host: nothing to mask, no copy
    return xp.where((dense == 0) & (logp == -xp.inf), logp.dtype.type(0), logp)


def _onehot(xp, like, rows, picks, classes):
    """Zeros of ``like``'s shape and dtype with a 1 at class ``picks[i]`` of row ``rows[i]`` (the
    class axis last)."""
    onehot = xp.zeros(like.shape, like.dtype)
    onehot.reshape(-1, classes)[rows, picks] = 1
    return onehot


def _softmax_ce_kernel(pred, label, axis=-1, sparse_label=True, from_logits=False):
    """:func:`softmax_cross_entropy` on a device with our kernels (``kernels/loss.cu``) for class
    labels along the last axis of logits: one launch forward (loss and the row's max and log-sum), one
    backward. Dense labels, ``from_logits`` and other axes take the array path."""
    from ._registry import REGISTRY
    name = "SoftmaxCrossEntropyLoss"
    axis_n = normalize_axis(axis, pred.shape, name)
    label = as_label(label, pred)
    classes = pred.shape[axis_n]
    if (not sparse_label or from_logits or axis_n != pred.ndim - 1 or classes == 0
            or label.size * classes != pred.size):
        return REGISTRY["softmax_cross_entropy"].impl(pred, label, axis, sparse_label, from_logits)
    from ..backend import kernels
    _check_label_context(name, pred, label)
    ctx = pred.context
    idx = whole_indices(name, label._data.reshape(label.shape), "label")  # fractions, NaN: refused
    xp = xp_of(pred._data)
    if xp is np and idx.size and (idx.min() < 0 or idx.max() >= classes):
        bad = idx[(idx < 0) | (idx >= classes)].reshape(-1)[0]
        raise ValueError(f"{name}: label {int(bad)} is outside the {classes} classes 0..{classes - 1} "
                         f"of axis {axis_n}")
    x2 = contiguous(pred._data.reshape(-1, classes))
    lab = label._data.reshape(-1)
    lab = lab if lab.dtype == np.float32 and lab.flags.c_contiguous else lab.astype(np.float32)
    loss, stats = kernels.softmax_ce_forward(ctx, x2, lab)
    kept = pred.shape[:-1] + (1,)
    shape = pred.shape

    def backward(g, needs):
        if not needs[0]:
            return None, None
        dx = kernels.softmax_ce_backward(ctx, x2, lab, stats, contiguous(g.reshape(-1)))
        return dx.reshape(shape), None
    return result(loss.reshape(kept), ctx, "softmax_cross_entropy", (pred, label), backward,
                  saved=(pred, label))


@register(public=False, kernel=_softmax_ce_kernel)
def softmax_cross_entropy(pred, label, axis=-1, sparse_label=True, from_logits=False):
    """Elementwise softmax cross-entropy as one operator with a fused, stable backward.

    Parameters
    ----------
    pred : NDArray
        Scores (logits), or log-probabilities when ``from_logits`` is True.
    label : NDArray
        Class indices with ``pred``'s shape minus ``axis`` (``sparse_label=True``), or a
        distribution of ``pred``'s shape.
    axis : int
        The class axis.
    sparse_label, from_logits : bool
        As in :class:`SoftmaxCrossEntropyLoss`.

    Returns
    -------
    NDArray
        ``-log softmax(pred)[label]`` (or ``-sum(label * log softmax(pred))``), with ``axis`` kept
        as size 1.

    Notes
    -----
    The log-softmax is ``x - max(x) - log(sum(exp(x - max(x))))``, so logits of any magnitude give
    a finite loss; the backward is ``g * (softmax(x) - onehot(label))`` (dense labels:
    ``g * (softmax(x) * sum(label) - label)``), never the quotient of two exponentials. Infinite
    logits follow :func:`~gpuparams.ops._core.stable_log_softmax` (the shared helper of
    ``log_softmax``): +inf at the label gives a loss and gradient of exactly 0; with dense labels a
    class of label 0 adds 0 even where its log-probability is -inf.
    """
    name = "SoftmaxCrossEntropyLoss"
    axis = normalize_axis(axis, pred.shape, name)
    label = as_label(label, pred)
    _check_label_context(name, pred, label)
    p = pred._data
    xp = xp_of(p)
    classes = p.shape[axis]
    kept = tuple(1 if i == axis else n for i, n in enumerate(p.shape))
    logp = p if from_logits else stable_log_softmax(p, axis, xp)
    if sparse_label:
        if label.size * classes != pred.size:
            raise ShapeError(f"{name}: sparse label of shape {label.shape} does not match prediction "
                             f"{pred.shape} without its class axis {axis} (expected {label.size * classes} "
                             "prediction elements); pass sparse_label=False for one-hot/probability labels")
        # Fractions and NaN are refused, not truncated (0.9999 would train as class 0).
        idx = whole_indices(name, label._data.reshape(label.shape), "label").reshape(kept)
        if xp is np and idx.size and (idx.min() < 0 or idx.max() >= classes):
            # Only checked on the host: on a GPU it would cost a synchronisation every step.
            bad = idx[(idx < 0) | (idx >= classes)].reshape(-1)[0]
            raise ValueError(f"{name}: label {int(bad)} is outside the {classes} classes 0..{classes - 1} "
                             f"of axis {axis}")
        if xp is not np:
            idx = xp.clip(idx, 0, classes - 1)  # MXNet's pick(mode='clip') on the device
        dense = None
        if axis == p.ndim - 1 and classes:
            # The usual layout: one row of classes per example, picked by (row, label) fancy
            # indexing, which costs less than take_along_axis and needs no one-hot array.
            rows = xp.arange(idx.size)
            picks = idx.reshape(-1)
            onehot = None
            out = -logp.reshape(-1, classes)[rows, picks].reshape(kept)
        else:
            rows = picks = None
            onehot = (xp.arange(classes).reshape(tuple(classes if i == axis else 1 for i in range(p.ndim)))
                      == idx)
            out = -xp.take_along_axis(logp, idx, axis=axis)
    else:
        label = label_like(label, pred, name)
        dense = label._data
        onehot = rows = picks = None
        # A class with label 0 adds nothing, even where its log-probability is -inf (a -inf logit,
        # or a row with +inf elsewhere): 0 * -inf would make the whole row NaN. NaN still propagates.
        out = -(_zero_where_unlabelled(logp, dense, xp) * dense).sum(axis=axis, keepdims=True)

    def backward(g, needs):
        dp = dy = None
        if needs[0]:
            if from_logits:
                if dense is not None:
                    picked = dense
                elif onehot is not None:
                    picked = onehot.astype(p.dtype)
                else:
                    picked = _onehot(xp, logp, rows, picks, classes)
                dp = -g * picked
            else:
                prob = xp.exp(logp)
                if dense is None:
                    if onehot is None:  # prob - onehot, in place: p - 1 at the label, p - 0 == p elsewhere
                        if not prob.flags.c_contiguous:  # so that the reshape below is a view
                            prob = xp.ascontiguousarray(prob)
                        prob.reshape(-1, classes)[rows, picks] -= 1
                        dp = g * prob
                    else:
                        dp = g * (prob - onehot.astype(p.dtype))
                else:
                    dp = g * (prob * dense.sum(axis=axis, keepdims=True) - dense)
        if needs[1] and dense is not None:
            dy = -g * logp
        return dp, dy
    return result(out, pred.context, "softmax_cross_entropy", (pred, label), backward,
                  saved=(pred, label))
