"""Optimizers with MXNet 1.9.1's update formulas, and a registry.

An optimizer updates one parameter at a time, in place, from its (summed) gradient. On ``gpu``
contexts (a real GPU or the emulated ``gpu(0)``) float32 parameters are updated by SGD and Adam with
one fused kernel per parameter (the registered operators :func:`gpuparams.ops.optimizer_update.sgd_update` /
``adam_update``, whose kernel path runs ``kernels/optimizer.cu``); elsewhere, and for every other
optimizer, by vectorised NumPy (or CuPy) expressions (the other operators of
:mod:`gpuparams.ops.optimizer_update`, which state each formula):

- SGD: ``g = clip(rescale_grad*grad)``; ``w = w - lr*(g + wd*w)``
- SGD with momentum: ``mom = momentum*mom - lr*(g + wd*w)``; ``w = w + mom``
- Adam: ``g = clip(rescale_grad*grad + wd*w)``; ``m = b1*m + (1-b1)*g``; ``v = b2*v + (1-b2)*g*g``;
  ``w = w - lr_t*m/(sqrt(v) + eps)`` with ``lr_t = lr*sqrt(1-b2**t)/(1-b1**t)``
- NAG, RMSProp (plain and ``centered``), AdaGrad, AdaDelta, AdamW, Signum (signSGD without
  momentum), FTML: see each class.

where ``lr`` and ``wd`` are scaled by the parameter's ``lr_mult`` / ``wd_mult`` and ``t`` counts that
parameter's updates from 1. With ``multi_precision=True``, float16 parameters are updated through a
float32 master copy kept in the state. Usually driven by :class:`~gpuparams.trainer.Trainer`:

>>> import gpuparams as gp
>>> opt = gp.optimizer.create('sgd', learning_rate=0.1, momentum=0.9)
>>> opt
SGD(learning_rate=0.1, momentum=0.9, wd=0.0, rescale_grad=1.0, clip_gradient=None)
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np

from ._ndarray import NDArray
from .ops import optimizer_update as update_ops

__all__ = ["Optimizer", "SGD", "Adam", "NAG", "RMSProp", "AdaGrad", "AdaDelta", "AdamW", "Signum", "FTML",
           "register", "create", "registered"]

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
    learning_rate : float or None
        Base learning rate (default: 0.01, or the ``lr_scheduler``'s ``base_lr`` when one is given).
        Given together with an ``lr_scheduler``, it overwrites the scheduler's ``base_lr``, as in
        MXNet (where it also does so silently for subclasses whose own default rate applies, e.g.
        Adam's 0.001).
    wd : float
        Weight decay (L2 penalty coefficient), default 0.
    rescale_grad : float
        Multiplied into every gradient before use. The Trainer sets it to
        ``its original value / batch_size`` at each ``step``.
    clip_gradient : float or None
        Clip the (rescaled) gradient to ``[-clip_gradient, clip_gradient]``; None for no clipping.
        As in MXNet 1.x, 0 also means no clipping for every optimizer except AdaGrad and AdaDelta,
        which clip the gradient to 0.
    lr_scheduler : callable or None
        ``lr_scheduler(num_update) -> learning rate``; when given it overrides ``learning_rate``.
    param_dict : dict of int to Parameter, optional
        Maps update indices to Parameters, whose ``lr_mult`` / ``wd_mult`` scale ``lr`` / ``wd``.
        The Trainer fills it in.
    begin_num_update : int
        Update count to start from (the first update of a parameter is count ``begin_num_update+1``).
    multi_precision : bool
        Update float16 parameters through a float32 master copy (default False): the state made by
        :meth:`create_state_multi_precision` holds the copy, the update runs in float32 on it with the
        gradient cast to float32, and the float16 weight receives the rounded result. Without it, a
        float16 weight is updated in float16, where steps below half its precision are lost.
        Other dtypes are unaffected.

    Subclasses implement :meth:`create_state` and :meth:`_apply`, and list their state arrays'
    names in ``state_names`` (used by ``Trainer.save_states``).
    """

    #: Names of the arrays :meth:`create_state` returns, in order (used in state files).
    state_names = ()

    def __init__(self, learning_rate=None, wd=0.0, rescale_grad=1.0, clip_gradient=None,
                 lr_scheduler=None, param_dict=None, begin_num_update=0, multi_precision=False):
        owner = type(self).__name__
        if learning_rate is None:
            learning_rate = getattr(lr_scheduler, "base_lr", 0.01) if lr_scheduler is not None else 0.01
        elif lr_scheduler is not None and getattr(lr_scheduler, "base_lr", learning_rate) != learning_rate:
            lr_scheduler.base_lr = learning_rate  # MXNet's rule: the optimizer's rate wins
        self.lr = _check_number(owner, "learning_rate", learning_rate, low=0.0)
        if not isinstance(multi_precision, bool):
            raise ValueError(f"{owner}: multi_precision must be True or False, got {multi_precision!r}")
        self.multi_precision = multi_precision
        self.wd = _check_number(owner, "wd", wd)
        self.rescale_grad = _check_number(owner, "rescale_grad", rescale_grad)
        self.clip_gradient = _check_number(owner, "clip_gradient", clip_gradient, low=0.0,
                                           allow_none=True)
        if lr_scheduler is not None and not callable(lr_scheduler):
            raise TypeError(f"{owner}: lr_scheduler must be callable(num_update) -> lr, "
                            f"got {type(lr_scheduler).__name__}")
        self.lr_scheduler = lr_scheduler
        self.param_dict = dict(param_dict) if param_dict else {}
        self.lr_mult = {}   # index -> multiplier, for indices without a Parameter in param_dict
        self.wd_mult = {}
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

    def set_lr_mult(self, args_lr_mult):
        """Set per-index learning-rate multipliers, replacing earlier ones (MXNet's method).

        Parameters
        ----------
        args_lr_mult : dict
            Update index (as passed to :meth:`update`) -> multiplier. A parameter in ``param_dict``
            (every parameter of a Trainer) uses its own ``Parameter.lr_mult`` instead, as in MXNet.
        """
        self.lr_mult = _check_mults(type(self).__name__, "set_lr_mult", args_lr_mult)

    def set_wd_mult(self, args_wd_mult):
        """Set per-index weight-decay multipliers, replacing earlier ones (MXNet's method).

        Parameters
        ----------
        args_wd_mult : dict
            Update index -> multiplier; ``param_dict``'s ``Parameter.wd_mult`` takes precedence.
        """
        self.wd_mult = _check_mults(type(self).__name__, "set_wd_mult", args_wd_mult)

    def _get_lr(self, index):
        """The learning rate of parameter ``index``: the current rate times its ``lr_mult``."""
        param = self.param_dict.get(index)
        mult = param.lr_mult if param is not None else self.lr_mult.get(index, 1.0)
        return self.learning_rate * mult

    def _get_wd(self, index):
        """The weight decay of parameter ``index``: ``wd`` times its ``wd_mult``."""
        param = self.param_dict.get(index)
        mult = param.wd_mult if param is not None else self.wd_mult.get(index, 1.0)
        return self.wd * mult

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

    def _uses_master(self, weight):
        return self.multi_precision and weight.dtype == np.float16

    def create_state_multi_precision(self, index, weight):
        """The state for ``weight``: :meth:`create_state`'s, plus a float32 master copy of ``weight``
        when ``multi_precision`` is on and ``weight`` is float16 (the inner states are then float32)."""
        if not self._uses_master(weight):
            return self.create_state(index, weight)
        master = weight.astype(np.float32)
        inner = self.create_state(index, master)
        return _WithMaster(tuple(inner or ()) + (master,))

    def _state_names_of(self, state):
        """Names of the arrays of ``state`` (what :meth:`create_state_multi_precision` returned)."""
        return tuple(self.state_names) + (("weight32",) if isinstance(state, _WithMaster) else ())

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

    def update_multi_precision(self, index, weight, grad, state):
        """:meth:`update` with a state from :meth:`create_state_multi_precision` (MXNet's name; both
        methods accept both kinds of state)."""
        self._update_copies(index, [weight], [grad], [state])

    def _update_copies(self, index, weights, grads, states):
        """Apply one update to every copy of a multi-context parameter: the count advances once."""
        for w, g in zip(weights, grads):
            _check_pair(index, w, g)
        t = self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        for w, g, s in zip(weights, grads, states):
            if isinstance(s, _WithMaster):
                master = s[-1]
                self._apply(master, g.astype(np.float32), tuple(s[:-1]) or None, lr=lr, wd=wd, t=t)
                w._data[...] = master._data.astype(w.dtype)
            else:
                if self.multi_precision and self._uses_master(w):
                    raise ValueError(f"optimizer update of {index!r}: multi_precision is on and the weight "
                                     "is float16, so the state must come from create_state_multi_precision()")
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


def _check_mults(owner, method, mults):
    """A copy of ``mults`` (index -> real multiplier), or a TypeError naming the bad entry."""
    if not isinstance(mults, Mapping):
        raise TypeError(f"{owner}.{method} takes a dict of update index -> multiplier, got "
                        f"{type(mults).__name__}")
    checked = {}
    for index, mult in mults.items():
        if isinstance(mult, bool) or not isinstance(mult, numbers.Real):
            raise TypeError(f"{owner}.{method}: the multiplier of {index!r} must be a real number, got "
                            f"{mult!r}")
        checked[index] = float(mult)
    return checked


class _WithMaster(tuple):
    """A multi-precision state: the inner optimizer's float32 states, then the float32 master weight."""

    __slots__ = ()


def _clip_or_none(value):
    """MXNet's kernel-backed optimizers (SGD, Adam, NAG, RMSProp, Signum, FTML, AdamW) pass
    ``clip_gradient`` to their update kernels only when it is truthy, so 0 means no clipping there;
    its dense AdaGrad and AdaDelta test ``is not None`` and clip to 0 (both recorded in
    ``tests/data/mxnet_1_9_1_optimizers.json``)."""
    return value if value else None


def _check_pair(index, weight, grad):
    if not isinstance(weight, NDArray) or not isinstance(grad, NDArray):
        raise TypeError(f"optimizer update of {index!r}: weight and grad must be NDArrays")
    w, g = weight._data, grad._data  # the backend arrays' own shape and dtype: this runs per update
    if weight._ctx is not grad._ctx or w.shape != g.shape or w.dtype != g.dtype:
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
    ``g = clip(rescale_grad*grad)``; without momentum ``w = (1 - lr*wd)*w - lr*g``; with momentum
    ``mom = momentum*mom - lr*wd*w - lr*g`` then ``w = w + mom`` (MXNet 1.9.1's ``SGDKernel`` and
    ``SGDMomKernel``). Weight decay is added after clipping (MXNet's order).
    """

    def __init__(self, momentum=0.0, **kwargs):
        super().__init__(**kwargs)
        self.momentum = _check_number(type(self).__name__, "momentum", momentum, low=0.0,
                                      high_open=1.0)

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
                              wd=wd, rescale_grad=self.rescale_grad,
                              clip_gradient=_clip_or_none(self.clip_gradient))

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
                               clip_gradient=_clip_or_none(self.clip_gradient))

    def _hyper_repr(self):
        return {"beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon}


@register
class NAG(SGD):
    """Nesterov accelerated gradient, MXNet's form.

    Parameters
    ----------
    momentum : float
        In ``[0, 1)``; 0 (default) makes it plain SGD.
    **kwargs
        ``learning_rate`` (default 0.01), ``wd``, ``rescale_grad``, ``clip_gradient``, ... (see
        :class:`Optimizer`).

    Notes
    -----
    MXNet 1.9.1's kernel: ``g = clip(rescale_grad*grad)``,
    ``w' = w + momentum*(momentum*mom - lr*(g + wd*w)) - lr*(g + wd*w)``, then
    ``mom = momentum*mom - lr*(g + wd*w')`` (the momentum's weight decay reads the updated weight, as
    the in-place kernel does); without momentum the SGD step. Its momentum, state and repr are
    SGD's (hence the subclass); only the update differs.
    """

    def _apply(self, weight, grad, state, *, lr, wd, t):
        clip = _clip_or_none(self.clip_gradient)
        if self.momentum == 0.0:
            update_ops.sgd_update(weight, grad, None, lr=lr, momentum=0.0, wd=wd,
                                  rescale_grad=self.rescale_grad, clip_gradient=clip)
            return
        update_ops.nag_mom_update(weight, grad, state[0], lr=lr, momentum=self.momentum, wd=wd,
                                  rescale_grad=self.rescale_grad, clip_gradient=clip)


@register
class RMSProp(Optimizer):
    """RMSProp: Tieleman & Hinton's, or Graves's centered form (``centered=True``), MXNet's form.

    Parameters
    ----------
    learning_rate : float
        Default 0.001.
    gamma1 : float
        Decay of the moving averages of the (squared) gradient (default 0.9).
    gamma2 : float
        Momentum of the centered form (default 0.9; unused otherwise).
    epsilon : float
        Added under the square root (default 1e-8).
    centered : bool
        Use the centered form (default False).
    clip_weights : float or None
        Clip the weights into ``[-clip_weights, clip_weights]`` after each update.
    **kwargs
        ``wd``, ``rescale_grad``, ``clip_gradient``, ... (see :class:`Optimizer`).

    Notes
    -----
    ``g = clip(rescale_grad*grad + wd*w)`` (weight decay before clipping), ``n = (1-gamma1)*g^2 +
    gamma1*n``; plain: ``w -= lr*g/sqrt(n + epsilon)``; centered: ``a = (1-gamma1)*g + gamma1*a``,
    ``delta = gamma2*delta - lr*g/sqrt(n - a^2 + epsilon)``, ``w += delta``.
    """

    def __init__(self, learning_rate=0.001, gamma1=0.9, gamma2=0.9, epsilon=1e-8, centered=False,
                 clip_weights=None, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1 = _check_number("RMSProp", "gamma1", gamma1, low=0.0, high_open=1.0)
        self.gamma2 = _check_number("RMSProp", "gamma2", gamma2, low=0.0, high_open=1.0)
        self.epsilon = _check_number("RMSProp", "epsilon", epsilon, low=0.0, low_open=True)
        if not isinstance(centered, bool):
            raise ValueError(f"RMSProp: centered must be True or False, got {centered!r}")
        self.centered = centered
        self.clip_weights = _check_number("RMSProp", "clip_weights", clip_weights, low=0.0,
                                          allow_none=True)

    @property
    def state_names(self):
        return ("n", "g", "delta") if self.centered else ("n",)

    def create_state(self, index, weight):
        return tuple(weight.zeros_like() for _ in self.state_names)

    def _apply(self, weight, grad, state, *, lr, wd, t):
        common = dict(lr=lr, gamma1=self.gamma1, epsilon=self.epsilon, wd=wd, rescale_grad=self.rescale_grad,
                      clip_gradient=_clip_or_none(self.clip_gradient),
                      clip_weights=_clip_or_none(self.clip_weights))
        if self.centered:
            update_ops.rmspropalex_update(weight, grad, *state, gamma2=self.gamma2, **common)
        else:
            update_ops.rmsprop_update(weight, grad, state[0], **common)

    def _hyper_repr(self):
        return {"gamma1": self.gamma1, "gamma2": self.gamma2, "epsilon": self.epsilon,
                "centered": self.centered}


@register
class AdaGrad(Optimizer):
    """AdaGrad (Duchi et al.), MXNet's form.

    Parameters
    ----------
    eps : float
        Added to the accumulated squared gradient under the square root (default 1e-7).
    **kwargs
        ``learning_rate`` (default 0.01), ``wd``, ``rescale_grad``, ``clip_gradient``, ... (see
        :class:`Optimizer`).

    Notes
    -----
    ``g = clip(rescale_grad*grad)``, ``history += g^2``,
    ``w -= lr*(g/sqrt(history + eps) + wd*w)``.
    """

    state_names = ("history",)

    def __init__(self, eps=1e-7, **kwargs):
        super().__init__(**kwargs)
        self.float_stable_eps = _check_number("AdaGrad", "eps", eps, low=0.0, low_open=True)

    def create_state(self, index, weight):
        return (weight.zeros_like(),)

    def _apply(self, weight, grad, state, *, lr, wd, t):
        update_ops.adagrad_update(weight, grad, state[0], lr=lr, epsilon=self.float_stable_eps, wd=wd,
                                  rescale_grad=self.rescale_grad, clip_gradient=self.clip_gradient)

    def _hyper_repr(self):
        return {"eps": self.float_stable_eps}


@register
class AdaDelta(Optimizer):
    """AdaDelta (Zeiler), MXNet's form: it uses no learning rate.

    Parameters
    ----------
    rho : float
        Decay of both accumulators (default 0.9).
    epsilon : float
        Added under both square roots (default 1e-5).
    **kwargs
        ``wd``, ``rescale_grad``, ``clip_gradient``, ... (see :class:`Optimizer`); ``learning_rate``
        is accepted and ignored, as in MXNet.

    Notes
    -----
    ``g = clip(rescale_grad*grad)``, ``acc_g = rho*acc_g + (1-rho)*g^2``,
    ``d = sqrt(acc_delta + epsilon)/sqrt(acc_g + epsilon)*g``,
    ``acc_delta = rho*acc_delta + (1-rho)*d^2``, ``w -= d + wd*w``. (MXNet also rescales the
    gradient array itself in place; here the gradient is left as it was.)
    """

    state_names = ("acc_g", "acc_delta")

    def __init__(self, rho=0.9, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.rho = _check_number("AdaDelta", "rho", rho, low=0.0, high_open=1.0)
        self.epsilon = _check_number("AdaDelta", "epsilon", epsilon, low=0.0, low_open=True)

    def create_state(self, index, weight):
        return (weight.zeros_like(), weight.zeros_like())

    def _apply(self, weight, grad, state, *, lr, wd, t):
        update_ops.adadelta_update(weight, grad, state[0], state[1], rho=self.rho, epsilon=self.epsilon,
                                   wd=wd, rescale_grad=self.rescale_grad, clip_gradient=self.clip_gradient)

    def _hyper_repr(self):
        return {"rho": self.rho, "epsilon": self.epsilon}


@register
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), on MXNet's ``adamw_update`` kernel.

    MXNet 1.9.1 ships the kernel (``nd.contrib.adamw_update``) but registers no ``adamw`` optimizer;
    this one drives the kernel with the bias-corrected rate of MXNet's later ``AdamW`` optimizer
    (recorded from MXNet 1.9.1's kernel run that way).

    Parameters
    ----------
    learning_rate, beta1, beta2, epsilon
        As :class:`Adam` (defaults 0.001, 0.9, 0.999, 1e-8).
    **kwargs
        ``wd``, ``rescale_grad``, ``clip_gradient``, ... (see :class:`Optimizer`).

    Notes
    -----
    ``g = clip(rescale_grad*grad)`` (no weight decay in the gradient), ``m = beta1*m + (1-beta1)*g``,
    ``v = beta2*v + (1-beta2)*g^2``, ``w -= lr_t*(m/(sqrt(v) + epsilon) + wd*w)`` with
    ``lr_t = lr*sqrt(1-beta2**t)/(1-beta1**t)``.
    """

    def _apply(self, weight, grad, state, *, lr, wd, t):
        b1, b2 = self.beta1, self.beta2
        lr_t = lr * math.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
        update_ops.adamw_update(weight, grad, state[0], state[1], lr_t=lr_t, beta1=b1, beta2=b2,
                                epsilon=self.epsilon, wd=wd, rescale_grad=self.rescale_grad,
                                clip_gradient=_clip_or_none(self.clip_gradient))


@register
class Signum(Optimizer):
    """Signum: steps by the sign of a momentum of the gradient (signSGD without momentum).

    Parameters
    ----------
    learning_rate : float
        Default 0.01.
    momentum : float
        In ``[0, 1)`` (default 0.9); 0 gives signSGD.
    wd_lh : float
        Decoupled weight decay (default 0).
    **kwargs
        ``wd``, ``rescale_grad``, ``clip_gradient``, ... (see :class:`Optimizer`).

    Notes
    -----
    ``g = clip(rescale_grad*grad)``; Signum: ``mom = momentum*mom - (1-momentum)*(wd*w + g)``,
    ``w = (1 - lr*wd_lh)*w + lr*sign(mom)``; signSGD: ``w = (1 - lr*wd)*w - lr*sign(g)``.
    """

    def __init__(self, learning_rate=0.01, momentum=0.9, wd_lh=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = _check_number("Signum", "momentum", momentum, low=0.0, high_open=1.0)
        self.wd_lh = _check_number("Signum", "wd_lh", wd_lh)

    @property
    def state_names(self):
        return ("mom",) if self.momentum != 0.0 else ()

    def create_state(self, index, weight):
        return (weight.zeros_like(),) if self.momentum != 0.0 else None

    def _apply(self, weight, grad, state, *, lr, wd, t):
        clip = _clip_or_none(self.clip_gradient)
        if self.momentum == 0.0:
            update_ops.signsgd_update(weight, grad, lr=lr, wd=wd, rescale_grad=self.rescale_grad,
                                      clip_gradient=clip)
            return
        update_ops.signum_update(weight, grad, state[0], lr=lr, momentum=self.momentum, wd=wd,
                                 wd_lh=self.wd_lh, rescale_grad=self.rescale_grad, clip_gradient=clip)

    def _hyper_repr(self):
        return {"momentum": self.momentum, "wd_lh": self.wd_lh}


@register
class FTML(Optimizer):
    """FTML, Follow the Moving Leader (Zheng & Kwok, 2017), MXNet's form.

    Parameters
    ----------
    beta1 : float
        Default 0.6.
    beta2 : float
        Default 0.999.
    epsilon : float
        Default 1e-8.
    **kwargs
        ``learning_rate`` (default 0.01), ``wd``, ``rescale_grad``, ``clip_gradient``, ... (see
        :class:`Optimizer`).

    Notes
    -----
    ``g = clip(rescale_grad*grad + wd*w)``, ``v = beta2*v + (1-beta2)*g^2``,
    ``d_t = (1-beta1**t)/lr*(sqrt(v/(1-beta2**t)) + epsilon)``,
    ``z = beta1*z + (1-beta1)*g - (d_t - beta1*d_{t-1})*w``, ``w = -z/d_t``.
    """

    state_names = ("d", "v", "z")

    def __init__(self, beta1=0.6, beta2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.beta1 = _check_number("FTML", "beta1", beta1, low=0.0, high_open=1.0)
        self.beta2 = _check_number("FTML", "beta2", beta2, low=0.0, high_open=1.0)
        self.epsilon = _check_number("FTML", "epsilon", epsilon, low=0.0, low_open=True)

    def create_state(self, index, weight):
        return (weight.zeros_like(), weight.zeros_like(), weight.zeros_like())

    def _apply(self, weight, grad, state, *, lr, wd, t):
        if lr <= 0.0:
            raise ValueError("FTML divides by the learning rate; it must be > 0")
        update_ops.ftml_update(weight, grad, *state, lr=lr, t=t, beta1=self.beta1, beta2=self.beta2,
                               epsilon=self.epsilon, wd=wd, rescale_grad=self.rescale_grad,
                               clip_gradient=_clip_or_none(self.clip_gradient))

    def _hyper_repr(self):
        return {"beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon}

# A name MXNet has and gpuparams lacks (optimizer.LAMB ...) says "not supported yet".
from ._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(globals(), "optimizer")
