"""Loss functions of ``gluon.loss``: one loss value per example, differentiable with autograd.

Every loss is a :class:`~gpuparams.nn.Block`, so ``loss(pred, label)`` records like any layer. Each
one follows the same three steps, as Gluon 1.x does:

1. the label is reshaped to the prediction's shape (``label.reshape(pred.shape)``; the sparse
   labels of :class:`SoftmaxCrossEntropyLoss` drop the class axis instead);
2. an elementwise loss is computed by **one** operator with a hand-written backward (so the
   numerically delicate parts - log-sum-exp, softplus - never go through autograd piecewise);
3. the result is multiplied by ``sample_weight`` (broadcast) and by the scalar ``weight``, then
   averaged over every axis except ``batch_axis``, giving shape ``(N,)``.

>>> from gpuparams import nd
>>> from gpuparams.gluon import loss as gloss
>>> gloss.L2Loss()(nd.array([[1.0], [3.0]]), nd.array([0.0, 1.0])).asnumpy().tolist()
[0.5, 2.0]
"""
from __future__ import annotations

import numbers

import numpy as np

from . import nd
from .ndarray import NDArray, from_data
from .nn import Block
from .ops._core import ShapeError, result, stable_sigmoid, xp_of

__all__ = ["Loss", "L2Loss", "L1Loss", "HuberLoss", "SoftmaxCrossEntropyLoss", "SoftmaxCELoss",
           "SigmoidBinaryCrossEntropyLoss", "SigmoidBCELoss"]

#: Added inside the logarithms of the ``from_sigmoid=True`` cross-entropy, as Gluon does, so a
#: probability of exactly 0 or 1 gives a large finite loss instead of infinity.
_BCE_EPS = 1e-12


# ----------------------------------------------------------------------------- helpers
def _as_label(label, pred, what="label"):
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


def _label_like(label, pred, loss_name):
    """The label as an NDArray with the prediction's shape (step 1 of the module docstring) and dtype."""
    return _same_dtype(_reshape_like(_as_label(label, pred), pred, loss_name), pred)


def _check_label_context(name, pred, label):
    if pred.context is not label.context:
        raise ValueError(f"{name}: prediction is on {pred.context} but label is on {label.context}; "
                         f"move the label with label.as_in_context({pred.context})")


def _elementwise(name, pred, label, forward, local_grads):
    """One recorded operator ``loss = forward(p, y)`` with ``d loss = dp * g`` and ``dy * g``.

    ``local_grads(p, y, needs)`` returns the elementwise partial derivatives (or None where an input
    needs none); the backward multiplies them by the incoming gradient.
    """
    _check_label_context(name, pred, label)
    p, y = pred._data, label._data
    out = forward(p, y, xp_of(p))

    def backward(g, needs):
        dp, dy = local_grads(p, y, xp_of(p), needs)
        return (g * dp if dp is not None else None, g * dy if dy is not None else None)
    return result(out, pred.context, name, (pred, label), backward, saved=(pred, label))


def _apply_weighting(loss, weight=None, sample_weight=None):
    """Multiply by ``sample_weight`` (broadcast; an NDArray) and by the scalar ``weight``."""
    if sample_weight is not None:
        if not isinstance(sample_weight, NDArray):
            sample_weight = from_data(np.asarray(sample_weight), ctx=loss.context, dtype=loss.dtype)
        loss = loss * sample_weight
    if weight is not None:
        loss = loss * weight
    return loss


# ----------------------------------------------------------------------------- base class
class Loss(Block):
    """Base class of the losses: a :class:`~gpuparams.nn.Block` returning one value per example.

    Subclasses implement ``hybrid_forward(F, pred, label, ...)`` with ``F`` the ``nd`` namespace
    (MXNet's convention, so MXNet-style custom losses port unchanged), or override ``forward``.

    Parameters
    ----------
    weight : float or None
        Scalar multiplied into every loss value (None: no scaling).
    batch_axis : int
        The axis of the examples; the loss is averaged over every other axis.
    **kwargs
        ``prefix`` / ``params``, passed to :class:`~gpuparams.nn.Block`.
    """

    def __init__(self, weight, batch_axis, **kwargs):
        super().__init__(**kwargs)
        if weight is not None and not isinstance(weight, numbers.Number):
            raise TypeError(f"{type(self).__name__}: weight must be a number or None, got "
                            f"{type(weight).__name__} (per-example weights go in sample_weight)")
        if isinstance(batch_axis, bool) or not isinstance(batch_axis, int):
            raise TypeError(f"{type(self).__name__}: batch_axis must be an int, got {batch_axis!r}")
        self._weight = weight
        self._batch_axis = batch_axis

    def forward(self, pred, label, *args, **kwargs):
        """Compute the per-example loss of ``pred`` against ``label`` (see the class docstring)."""
        return self.hybrid_forward(nd, pred, label, *args, **kwargs)

    def hybrid_forward(self, F, pred, label, *args, **kwargs):  # noqa: N803 (MXNet's name)
        """Implemented by subclasses: ``F`` is :mod:`gpuparams.nd`."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward or hybrid_forward")

    def _batch_mean(self, loss):
        if not -loss.ndim <= self._batch_axis < loss.ndim:
            raise ShapeError(f"{type(self).__name__}: batch_axis={self._batch_axis} is out of range for "
                             f"a loss of shape {loss.shape}")
        return loss.mean(axis=self._batch_axis, exclude=True)

    def __repr__(self):
        return f"{type(self).__name__}(batch_axis={self._batch_axis}, w={self._weight})"


# ----------------------------------------------------------------------------- regression losses
class L2Loss(Loss):
    r"""Squared error ``weight/2 * (pred - label)^2``, averaged over the non-batch axes.

    Parameters
    ----------
    weight : float
        Scalar weight (default 1, giving ``0.5 * (pred - label)^2``).
    batch_axis : int
        Axis of the examples (default 0).

    Call it as ``loss(pred, label, sample_weight=None)``; ``label`` is reshaped to ``pred``'s shape
    and ``sample_weight`` broadcasts against it. Returns an NDArray of shape ``(N,)``.
    """

    def __init__(self, weight=1.0, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):  # noqa: N803
        label = _label_like(label, pred, "L2Loss")
        loss = _elementwise("l2_loss", pred, label, _l2_forward, _l2_grads)
        weight = None if self._weight is None else self._weight / 2
        return self._batch_mean(_apply_weighting(loss, weight, sample_weight))


def _l2_forward(p, y, xp):
    d = p - y
    return d * d


def _l2_grads(p, y, xp, needs):
    d2 = 2 * (p - y)
    return (d2 if needs[0] else None, -d2 if needs[1] else None)


class L1Loss(Loss):
    r"""Absolute error ``weight * |pred - label|``, averaged over the non-batch axes.

    Parameters
    ----------
    weight : float or None
        Scalar weight (default None: unscaled).
    batch_axis : int
        Axis of the examples (default 0).

    The gradient at ``pred == label`` is 0. Returns shape ``(N,)``.
    """

    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):  # noqa: N803
        label = _label_like(label, pred, "L1Loss")
        loss = _elementwise("l1_loss", pred, label, _l1_forward, _l1_grads)
        return self._batch_mean(_apply_weighting(loss, self._weight, sample_weight))


def _l1_forward(p, y, xp):
    return xp.abs(p - y)


def _l1_grads(p, y, xp, needs):
    s = xp.sign(p - y)
    return (s if needs[0] else None, -s if needs[1] else None)


class HuberLoss(Loss):
    r"""Smooth L1: ``0.5/rho * d^2`` where ``|d| <= rho``, else ``|d| - 0.5*rho`` (``d = pred - label``).

    Parameters
    ----------
    rho : float
        Where the loss turns from quadratic to linear (default 1); must be positive.
    weight : float or None
        Scalar weight (default None).
    batch_axis : int
        Axis of the examples (default 0).

    Returns shape ``(N,)``.
    """

    def __init__(self, rho=1, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        if not isinstance(rho, numbers.Real) or not rho > 0:
            raise ValueError(f"HuberLoss: rho must be a positive number, got {rho!r}")
        self._rho = float(rho)

    def hybrid_forward(self, F, pred, label, sample_weight=None):  # noqa: N803
        label = _label_like(label, pred, "HuberLoss")
        rho = self._rho

        def forward(p, y, xp):
            a = xp.abs(p - y)
            return xp.where(a > rho, a - 0.5 * rho, (0.5 / rho) * a * a).astype(p.dtype, copy=False)

        def grads(p, y, xp, needs):
            d = p - y
            dp = xp.where(xp.abs(d) > rho, xp.sign(d), d / rho).astype(p.dtype, copy=False)
            return (dp if needs[0] else None, -dp if needs[1] else None)
        loss = _elementwise("huber_loss", pred, label, forward, grads)
        return self._batch_mean(_apply_weighting(loss, self._weight, sample_weight))

    def __repr__(self):
        return f"HuberLoss(rho={self._rho}, batch_axis={self._batch_axis}, w={self._weight})"


# ----------------------------------------------------------------------------- classification
def _normalize_axis(axis, ndim, name):
    if isinstance(axis, bool) or not isinstance(axis, int) or not -ndim <= axis < ndim:
        raise ValueError(f"{name}: axis {axis!r} is out of range for a prediction with {ndim} dimensions")
    return axis % ndim


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
    ``g * (softmax(x) * sum(label) - label)``), never the quotient of two exponentials.
    """
    name = "SoftmaxCrossEntropyLoss"
    axis = _normalize_axis(axis, pred.ndim, name)
    label = _as_label(label, pred)
    _check_label_context(name, pred, label)
    p = pred._data
    xp = xp_of(p)
    classes = p.shape[axis]
    kept = tuple(1 if i == axis else n for i, n in enumerate(p.shape))
    if from_logits:
        logp = p
    else:
        shifted = p - p.max(axis=axis, keepdims=True)
        logp = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
    if sparse_label:
        if label.size * classes != pred.size:
            raise ShapeError(f"{name}: sparse label of shape {label.shape} does not match prediction "
                             f"{pred.shape} without its class axis {axis} (expected {label.size * classes} "
                             "prediction elements); pass sparse_label=False for one-hot/probability labels")
        idx = label._data.reshape(kept)
        if idx.dtype.kind == "f":
            idx = idx.astype(np.int64)
        if xp is np and idx.size and (idx.min() < 0 or idx.max() >= classes):
            # Only checked on the host: on a GPU it would cost a synchronisation every step.
            bad = idx[(idx < 0) | (idx >= classes)].reshape(-1)[0]
            raise ValueError(f"{name}: label {int(bad)} is outside the {classes} classes 0..{classes - 1} "
                             f"of axis {axis}")
        if xp is not np:
            idx = xp.clip(idx, 0, classes - 1)  # MXNet's pick(mode='clip') on the device
        onehot = (xp.arange(classes).reshape(tuple(classes if i == axis else 1 for i in range(p.ndim)))
                  == idx)
        out = -xp.take_along_axis(logp, idx, axis=axis)
        dense = None
    else:
        label = _label_like(label, pred, name)
        dense = label._data
        onehot = None
        out = -(logp * dense).sum(axis=axis, keepdims=True)

    def backward(g, needs):
        dp = dy = None
        if needs[0]:
            if from_logits:
                dp = -g * (onehot.astype(p.dtype) if dense is None else dense)
            else:
                prob = xp.exp(logp)
                if dense is None:
                    dp = g * (prob - onehot.astype(p.dtype))
                else:
                    dp = g * (prob * dense.sum(axis=axis, keepdims=True) - dense)
        if needs[1] and dense is not None:
            dy = -g * logp
        return dp, dy
    return result(out, pred.context, "softmax_cross_entropy", (pred, label), backward,
                  saved=(pred, label))


class SoftmaxCrossEntropyLoss(Loss):
    r"""Cross-entropy of ``softmax(pred)`` against class labels, averaged over the non-batch axes.

    Parameters
    ----------
    axis : int
        The class axis of ``pred`` (default -1).
    sparse_label : bool
        True (default): ``label`` holds class indices, with ``pred``'s shape minus ``axis`` (e.g.
        ``(N,)`` for ``(N, C)`` scores); False: ``label`` is a distribution of ``pred``'s shape.
    from_logits : bool
        True: ``pred`` already holds log-probabilities (no log-softmax is applied).
    weight : float or None
        Scalar weight (default None).
    batch_axis : int
        Axis of the examples (default 0).

    Computed stably (log-sum-exp) with a fused backward ``softmax(pred) - onehot(label)``; logits of
    ``±1e4`` give finite values and gradients. Returns shape ``(N,)``. Class indices outside
    ``0..C-1`` raise a ValueError on the host (on a real GPU they are clipped, as MXNet's ``pick``).
    """

    def __init__(self, axis=-1, sparse_label=True, from_logits=False, weight=None, batch_axis=0,
                 **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._axis = axis
        self._sparse_label = bool(sparse_label)
        self._from_logits = bool(from_logits)

    def hybrid_forward(self, F, pred, label, sample_weight=None):  # noqa: N803
        loss = softmax_cross_entropy(pred, label, self._axis, self._sparse_label, self._from_logits)
        return self._batch_mean(_apply_weighting(loss, self._weight, sample_weight))

    def __repr__(self):
        return (f"SoftmaxCrossEntropyLoss(axis={self._axis}, sparse_label={self._sparse_label}, "
                f"from_logits={self._from_logits}, batch_axis={self._batch_axis}, w={self._weight})")


class SigmoidBinaryCrossEntropyLoss(Loss):
    r"""Binary cross-entropy with labels in ``[0, 1]``, averaged over the non-batch axes.

    Parameters
    ----------
    from_sigmoid : bool
        False (default): ``pred`` holds logits ``x`` and the loss is computed as
        ``max(x, 0) - x*label + log(1 + exp(-|x|))``, finite for any ``x``; True: ``pred`` holds
        probabilities ``p`` and the loss is ``-(label*log(p + 1e-12) + (1-label)*log(1 - p + 1e-12))``.
    weight : float or None
        Scalar weight (default None).
    batch_axis : int
        Axis of the examples (default 0).

    Returns shape ``(N,)``. The backward from logits is ``sigmoid(x) - label``.
    """

    def __init__(self, from_sigmoid=False, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._from_sigmoid = bool(from_sigmoid)

    def hybrid_forward(self, F, pred, label, sample_weight=None):  # noqa: N803
        label = _label_like(label, pred, "SigmoidBinaryCrossEntropyLoss")
        if self._from_sigmoid:
            loss = _elementwise("sigmoid_bce", pred, label, _bce_prob_forward, _bce_prob_grads)
        else:
            loss = _elementwise("sigmoid_bce", pred, label, _bce_logit_forward, _bce_logit_grads)
        return self._batch_mean(_apply_weighting(loss, self._weight, sample_weight))

    def __repr__(self):
        return (f"SigmoidBinaryCrossEntropyLoss(from_sigmoid={self._from_sigmoid}, "
                f"batch_axis={self._batch_axis}, w={self._weight})")


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


#: MXNet's short names.
SoftmaxCELoss = SoftmaxCrossEntropyLoss
SigmoidBCELoss = SigmoidBinaryCrossEntropyLoss
