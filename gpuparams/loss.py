"""Loss functions of ``gluon.loss``: one loss value per example, differentiable with autograd.

Every loss is a :class:`~gpuparams.nn.HybridBlock`, as in Gluon 1.x, so ``loss(pred, label)``
records like any layer and ``loss.hybridize()`` traces it into a replayed plan (alone, or as the child
of a hybridized model). Each one follows the same three steps, as Gluon 1.x does:

1. the label is reshaped to the prediction's shape (``label.reshape(pred.shape)``; the sparse
   labels of :class:`SoftmaxCrossEntropyLoss` drop the class axis instead);
2. an elementwise loss is computed by **one** operator of :mod:`gpuparams.ops.loss` with a
   hand-written backward (so the numerically delicate parts - log-sum-exp, softplus - never go
   through autograd piecewise);
3. the result is multiplied by ``sample_weight`` (broadcast) and by the scalar ``weight``, then
   averaged over every axis except ``batch_axis``, giving shape ``(N,)``.

>>> from gpuparams import nd
>>> from gpuparams.gluon import loss as gloss
>>> gloss.L2Loss()(nd.array([[1.0], [3.0]]), nd.array([0.0, 1.0])).asnumpy().tolist()
[0.5, 2.0]
"""
from __future__ import annotations

import inspect
import numbers

import numpy as np

from . import _front, nd
from .errors import ShapeError
from ._ndarray import NDArray, from_data
from .nn import HybridBlock
from .ops import loss as loss_ops

__all__ = ["Loss", "L2Loss", "L1Loss", "HuberLoss", "SoftmaxCrossEntropyLoss", "SoftmaxCELoss",
           "SigmoidBinaryCrossEntropyLoss", "SigmoidBCELoss"]

def _as_array(value, pred):
    """A NumPy / list input (a sample weight) as an array like ``pred``.

    None, arrays and Python numbers pass through: a number given to a custom loss is a
    hyperparameter (a margin, a temperature) that its ``hybrid_forward`` may compare or format as a
    float, as under MXNet, and a hybridized plan keys on its value."""
    if value is None or isinstance(value, (NDArray, numbers.Number)):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return _front.as_front(from_data(np.asarray(value), ctx=pred.context, dtype=pred.dtype))
    raise TypeError(f"loss inputs must be NDArrays (or NumPy arrays, lists or numbers), got "
                    f"{type(value).__name__}")


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
class Loss(HybridBlock):
    """Base class of the losses: a :class:`~gpuparams.nn.HybridBlock` returning one value per example.

    Subclasses implement ``hybrid_forward(F, pred, label, sample_weight=None)`` with ``F`` the ``nd``
    namespace (MXNet's convention, so MXNet-style custom losses port unchanged), or override
    ``forward``. ``hybridize()`` traces ``hybrid_forward`` like any HybridBlock's; NumPy labels and
    sample weights are turned into arrays on the prediction's context first, and inputs given by
    keyword (``sample_weight=w``) are passed on by position (a traced plan takes positional inputs).

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
        if kwargs:
            args, kwargs = self._positional(pred, label, args, kwargs)
            if kwargs:  # keyword-only or **kwargs inputs of a custom loss: they cannot be traced
                return self.hybrid_forward(nd, pred, label, *args, **kwargs)
        if isinstance(pred, NDArray):  # NumPy labels and weights become arrays (a plan takes arrays)
            if not isinstance(label, NDArray):
                label = loss_ops.as_label(label, pred)
            if args:
                args = tuple(_as_array(a, pred) for a in args)
        return super().forward(pred, label, *args)

    def _positional(self, pred, label, args, kwargs):
        """``(args, rest)``: the keyword inputs of ``hybrid_forward`` moved into ``args`` by its
        signature (earlier defaults filled in), and those that must stay keywords."""
        bound = inspect.signature(self.hybrid_forward).bind(nd, pred, label, *args, **kwargs)
        bound.apply_defaults()
        return bound.args[3:], dict(bound.kwargs)

    def hybrid_forward(self, F, pred, label, *args, **kwargs):
        """Implemented by subclasses: ``F`` is :mod:`gpuparams.nd`."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward or hybrid_forward")

    def _batch_mean(self, loss):
        if not -loss.ndim <= self._batch_axis < loss.ndim:
            raise ShapeError(f"{type(self).__name__}: batch_axis={self._batch_axis} is out of range for "
                             f"a loss of shape {loss.shape}")
        # The operator, not the method: np arrays' mean() has NumPy's signature (no exclude=).
        return nd.mean(loss, axis=self._batch_axis, exclude=True)

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

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = loss_ops.label_like(label, pred, "L2Loss")
        loss = loss_ops.l2_loss(pred, label)
        weight = None if self._weight is None else self._weight / 2
        return self._batch_mean(_apply_weighting(loss, weight, sample_weight))


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

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = loss_ops.label_like(label, pred, "L1Loss")
        loss = loss_ops.l1_loss(pred, label)
        return self._batch_mean(_apply_weighting(loss, self._weight, sample_weight))


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

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = loss_ops.label_like(label, pred, "HuberLoss")
        loss = loss_ops.huber_loss(pred, label, self._rho)
        return self._batch_mean(_apply_weighting(loss, self._weight, sample_weight))

    def __repr__(self):
        return f"HuberLoss(rho={self._rho}, batch_axis={self._batch_axis}, w={self._weight})"


# ----------------------------------------------------------------------------- classification
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
    ``±1e4`` give finite values and gradients, infinite ones their limits (a ``+inf`` logit at the
    label: loss 0; a class of dense label 0 adds nothing). Returns shape ``(N,)``. Class indices outside
    ``0..C-1`` raise a ValueError on the host (on a real GPU they are clipped, as MXNet's ``pick``).
    """

    def __init__(self, axis=-1, sparse_label=True, from_logits=False, weight=None, batch_axis=0,
                 **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._axis = axis
        self._sparse_label = bool(sparse_label)
        self._from_logits = bool(from_logits)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        loss = loss_ops.softmax_cross_entropy(pred, label, self._axis, self._sparse_label,
                                              self._from_logits)
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

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = loss_ops.label_like(label, pred, "SigmoidBinaryCrossEntropyLoss")
        loss = loss_ops.sigmoid_bce(pred, label, self._from_sigmoid)
        return self._batch_mean(_apply_weighting(loss, self._weight, sample_weight))

    def __repr__(self):
        return (f"SigmoidBinaryCrossEntropyLoss(from_sigmoid={self._from_sigmoid}, "
                f"batch_axis={self._batch_axis}, w={self._weight})")


#: MXNet's short names.
SoftmaxCELoss = SoftmaxCrossEntropyLoss
SigmoidBCELoss = SigmoidBinaryCrossEntropyLoss

# A name MXNet has and gpuparams lacks (gluon.loss.CTCLoss ...) says "not supported yet".
from ._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(globals(), "gluon.loss")
