"""Optimizers: SGD (with momentum) and Adam, with MXNet's update formulas, and a registry.

An optimizer updates one parameter at a time, in place, from its (summed) gradient. On ``gpu``
contexts (a real GPU or the emulated ``gpu(0)``) float32 parameters are updated by one fused kernel
per parameter (the registered operators :func:`gpuparams.ops.optimizer_update.sgd_update` /
``adam_update``, whose kernel path runs ``kernels/optimizer.cu``); elsewhere by one vectorised NumPy
(or CuPy) expression computing exactly the same formula:

- SGD: ``g = clip(rescale_grad*grad)``; ``w = w - lr*(g + wd*w)``
- SGD with momentum: ``mom = momentum*mom - lr*(g + wd*w)``; ``w = w + mom``
- Adam: ``g = clip(rescale_grad*grad + wd*w)``; ``m = b1*m + (1-b1)*g``; ``v = b2*v + (1-b2)*g*g``;
  ``w = w - lr_t*m/(sqrt(v) + eps)`` with ``lr_t = lr*sqrt(1-b2**t)/(1-b1**t)``

where ``lr`` and ``wd`` are scaled by the parameter's ``lr_mult`` / ``wd_mult`` and ``t`` counts that
parameter's updates from 1. Usually driven by :class:`~gpuparams.trainer.Trainer`:

>>> import gpuparams as gp
>>> opt = gp.optimizer.create('sgd', learning_rate=0.1, momentum=0.9)
>>> opt
SGD(learning_rate=0.1, momentum=0.9, wd=0.0, rescale_grad=1.0, clip_gradient=None)
"""
from __future__ import annotations

import math
import numbers


from ._ndarray import NDArray
from .ops import optimizer_update as update_ops

__all__ = ["Optimizer", "SGD", "Adam", "register", "create", "registered"]

_REGISTRY = {}


def register(klass):
    """Register an :class:`Optimizer` subclass under its lower-case class name (usable as a decorator).

    >>> import gpuparams as gp
    >>> @gp.optimizer.register
    ... class MySGD(gp.optimizer.SGD):
    ...     pass
    >>> type(gp.optimizer.create('mysgd')).__name__
    'MySGD'
    """
    if not (isinstance(klass, type) and issubclass(klass, Optimizer)):
        raise TypeError(f"register() takes an Optimizer subclass, got {klass!r}")
    _REGISTRY[klass.__name__.lower()] = klass
    return klass


def registered():
    """The names :func:`create` accepts, sorted."""
    return sorted(_REGISTRY)


def create(name, **kwargs):
    """Create a registered optimizer by (case-insensitive) name: ``create('adam', learning_rate=0.01)``.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    TypeError
        For a keyword the optimizer does not take (the message names it).
    """
    if isinstance(name, Optimizer):
        if kwargs:
            raise ValueError(f"optimizer parameters {sorted(kwargs)} cannot be applied to an existing "
                             f"{type(name).__name__} instance; set them when creating it")
        return name
    if not isinstance(name, str):
        raise TypeError(f"optimizer must be a name such as 'sgd' or an Optimizer, got {type(name).__name__}")
    try:
        klass = _REGISTRY[name.lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(registered())} "
                         "(or register your own with gpuparams.optimizer.register)") from None
    return klass(**kwargs)


def _check_number(owner, name, value, *, low=None, low_open=False, high_open=None, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value!r}")
    value = float(value)
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{owner}: {name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high_open is not None and value >= high_open:
        raise ValueError(f"{owner}: {name} must be < {high_open}, got {value}")
    return value


class Optimizer:
    """Base class: hyperparameters, per-parameter multipliers and update counts.

    Parameters
    ----------
    learning_rate : float
        Base learning rate (default 0.01).
    wd : float
        Weight decay (L2 penalty coefficient), default 0.
    rescale_grad : float
        Multiplied into every gradient before use. The Trainer sets it to
        ``its original value / batch_size`` at each ``step``.
    clip_gradient : float or None
        Clip the (rescaled) gradient to ``[-clip_gradient, clip_gradient]``; None for no clipping.
    lr_scheduler : callable or None
        ``lr_scheduler(num_update) -> learning rate``; when given it overrides ``learning_rate``.
    param_dict : dict of int to Parameter, optional
        Maps update indices to Parameters, whose ``lr_mult`` / ``wd_mult`` scale ``lr`` / ``wd``.
        The Trainer fills it in.
    begin_num_update : int
        Update count to start from (the first update of a parameter is count ``begin_num_update+1``).

    Subclasses implement :meth:`create_state` and :meth:`_apply`, and list their state arrays'
    names in ``state_names`` (used by ``Trainer.save_states``).
    """

    #: Names of the arrays :meth:`create_state` returns, in order (used in state files).
    state_names = ()

    def __init__(self, learning_rate=0.01, wd=0.0, rescale_grad=1.0, clip_gradient=None,
                 lr_scheduler=None, param_dict=None, begin_num_update=0):
        owner = type(self).__name__
        self.lr = _check_number(owner, "learning_rate", learning_rate, low=0.0)
        self.wd = _check_number(owner, "wd", wd)
        self.rescale_grad = _check_number(owner, "rescale_grad", rescale_grad)
        self.clip_gradient = _check_number(owner, "clip_gradient", clip_gradient, low=0.0,
                                           allow_none=True)
        if lr_scheduler is not None and not callable(lr_scheduler):
            raise TypeError(f"{owner}: lr_scheduler must be callable(num_update) -> lr, "
                            f"got {type(lr_scheduler).__name__}")
        self.lr_scheduler = lr_scheduler
        self.param_dict = dict(param_dict) if param_dict else {}
        if (isinstance(begin_num_update, bool) or not isinstance(begin_num_update, int)
                or begin_num_update < 0):
            raise ValueError(f"{owner}: begin_num_update must be a non-negative int, "
                             f"got {begin_num_update!r}")
        self.begin_num_update = begin_num_update
        self.num_update = begin_num_update
        self._index_update_count = {}

    # ----------------------------------------------------------------- learning rate
    @property
    def learning_rate(self):
        """The current learning rate (from ``lr_scheduler`` when one is set)."""
        if self.lr_scheduler is not None:
            return float(self.lr_scheduler(self.num_update))
        return self.lr

    def set_learning_rate(self, lr):
        """Set the learning rate used from the next update on.

        Raises
        ------
        RuntimeError
            When an ``lr_scheduler`` decides the learning rate.
        """
        if self.lr_scheduler is not None:
            raise RuntimeError(f"{type(self).__name__}: an lr_scheduler sets the learning rate; change the "
                               "scheduler instead of calling set_learning_rate")
        self.lr = _check_number(type(self).__name__, "learning_rate", lr, low=0.0)

    def _get_lr(self, index):
        """The learning rate of parameter ``index``: the current rate times its ``lr_mult``."""
        param = self.param_dict.get(index)
        return self.learning_rate * (param.lr_mult if param is not None else 1.0)

    def _get_wd(self, index):
        """The weight decay of parameter ``index``: ``wd`` times its ``wd_mult``."""
        param = self.param_dict.get(index)
        return self.wd * (param.wd_mult if param is not None else 1.0)

    def _update_count(self, index):
        """Count one more update of parameter ``index``; return its count ``t`` (1 on the first)."""
        count = self._index_update_count.get(index, self.begin_num_update) + 1
        self._index_update_count[index] = count
        self.num_update = max(count, self.num_update)
        return count

    # ----------------------------------------------------------------- updates
    def create_state(self, index, weight):
        """Return the state arrays for ``weight`` (a tuple of NDArrays on its context) or None."""
        return None

    def update(self, index, weight, grad, state):
        """Update ``weight`` (an NDArray) in place from ``grad`` and ``state``; counts one update.

        Parameters
        ----------
        index : int or str
            Identifies the parameter (key of ``param_dict`` and of the update counts).
        weight, grad : NDArray
            Same shape, dtype and context.
        state : tuple of NDArray or None
            What :meth:`create_state` returned for this weight.
        """
        self._update_copies(index, [weight], [grad], [state])

    def _update_copies(self, index, weights, grads, states):
        """Apply one update to every copy of a multi-context parameter: the count advances once."""
        for w, g in zip(weights, grads):
            _check_pair(index, w, g)
        t = self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        for w, g, s in zip(weights, grads, states):
            self._apply(w, g, s, lr=lr, wd=wd, t=t)
            w._version[0] += 1  # the weight changed in place: a graph that saved it is now stale

    def _apply(self, weight, grad, state, *, lr, wd, t):
        raise NotImplementedError(f"{type(self).__name__} must implement _apply")

    def _hyper_repr(self):
        return {}

    def __repr__(self):
        fields = {"learning_rate": self.learning_rate, **self._hyper_repr(), "wd": self.wd,
                  "rescale_grad": self.rescale_grad, "clip_gradient": self.clip_gradient}
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in fields.items())})"

    register = staticmethod(register)
    create_optimizer = staticmethod(create)


def _check_pair(index, weight, grad):
    if not isinstance(weight, NDArray) or not isinstance(grad, NDArray):
        raise TypeError(f"optimizer update of {index!r}: weight and grad must be NDArrays")
    if weight.context is not grad.context or weight.shape != grad.shape or weight.dtype != grad.dtype:
        raise ValueError(f"optimizer update of {index!r}: weight {weight.shape} {weight.dtype} on "
                         f"{weight.context} does not match grad {grad.shape} {grad.dtype} on {grad.context}")


@register
class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum.

    Parameters
    ----------
    momentum : float
        In ``[0, 1)``; 0 (default) keeps no state.
    **kwargs
        ``learning_rate`` (default 0.01), ``wd``, ``rescale_grad``, ``clip_gradient``, ... (see
        :class:`Optimizer`).

    Notes
    -----
    ``g = clip(rescale_grad*grad)``; without momentum ``w = w - lr*(g + wd*w)``; with momentum
    ``mom = momentum*mom - lr*(g + wd*w)`` then ``w = w + mom``. Weight decay is added after
    clipping (MXNet's order).
    """

    def __init__(self, momentum=0.0, **kwargs):
        super().__init__(**kwargs)
        self.momentum = _check_number("SGD", "momentum", momentum, low=0.0, high_open=1.0)

    @property
    def state_names(self):
        return ("mom",) if self.momentum != 0.0 else ()

    def create_state(self, index, weight):
        if self.momentum == 0.0:
            return None
        return (weight.zeros_like(),)

    def _apply(self, weight, grad, state, *, lr, wd, t):
        if not state and self.momentum != 0.0:
            raise ValueError("SGD with momentum needs the state from create_state()")
        update_ops.sgd_update(weight, grad, state[0] if state else None, lr=lr, momentum=self.momentum,
                              wd=wd, rescale_grad=self.rescale_grad, clip_gradient=self.clip_gradient)

    def _hyper_repr(self):
        return {"momentum": self.momentum}


@register
class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba), MXNet's form.

    Parameters
    ----------
    learning_rate : float
        Default 0.001.
    beta1, beta2 : float
        Decay rates of the first and second moment estimates, in ``[0, 1)`` (defaults 0.9, 0.999).
    epsilon : float
        Added to ``sqrt(v)`` (default 1e-8).
    **kwargs
        ``wd``, ``rescale_grad``, ``clip_gradient``, ... (see :class:`Optimizer`).

    Notes
    -----
    ``g = clip(rescale_grad*grad + wd*w)``, ``m = beta1*m + (1-beta1)*g``,
    ``v = beta2*v + (1-beta2)*g*g``, ``w = w - lr_t*m/(sqrt(v) + epsilon)`` with
    ``lr_t = lr*sqrt(1-beta2**t)/(1-beta1**t)`` and ``t`` the parameter's update count (from 1).
    float16 parameters are updated with float32 arithmetic (their states stay float16), since
    half precision rounds ``epsilon`` to 0.
    """

    state_names = ("mean", "var")

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = _check_number("Adam", "beta1", beta1, low=0.0, high_open=1.0)
        self.beta2 = _check_number("Adam", "beta2", beta2, low=0.0, high_open=1.0)
        self.epsilon = _check_number("Adam", "epsilon", epsilon, low=0.0, low_open=True)

    def create_state(self, index, weight):
        return (weight.zeros_like(), weight.zeros_like())

    def _apply(self, weight, grad, state, *, lr, wd, t):
        b1, b2, eps = self.beta1, self.beta2, self.epsilon
        lr_t = lr * math.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
        update_ops.adam_update(weight, grad, state[0], state[1], lr_t=lr_t, beta1=b1, beta2=b2,
                               epsilon=eps, wd=wd, rescale_grad=self.rescale_grad,
                               clip_gradient=self.clip_gradient)

    def _hyper_repr(self):
        return {"beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon}
