"""Learning-rate schedules, as ``mx.lr_scheduler`` (also ``gpuparams.gluon.lr_scheduler``).

A scheduler is called with the optimizer's update count ``num_update`` (the most updates any one
parameter has had, counted from 1 at the first update) and returns the learning rate. Pass one to an
optimizer, usually through the Trainer:

>>> import gpuparams as gp
>>> s = gp.lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=0.4)
>>> [s(n) for n in range(1, 8)]
[0.4, 0.4, 0.2, 0.2, 0.1, 0.1, 0.05]
>>> net = gp.gluon.nn.Dense(1, in_units=2); net.initialize()
>>> trainer = gp.gluon.Trainer(net.collect_params(), 'sgd', {'lr_scheduler': s})

Every schedule is MXNet 1.9.1's (values checked against MXNet in
``tests/data/mxnet_1_9_1_optimizers.json``), including its statefulness: ``FactorScheduler`` and
``MultiFactorScheduler`` lower ``base_lr`` in place as the count passes each step and never raise it
again, so they expect non-decreasing counts, as an optimizer gives them. An optimizer created with
an explicit ``learning_rate`` overwrites its scheduler's ``base_lr`` with it (MXNet's rule; Poly and
Cosine keep decaying from the ``base_lr`` they were built with, as in MXNet).

Warm-up (every scheduler): for ``num_update < warmup_steps`` the rate is ``warmup_begin_lr`` (mode
``'constant'``) or rises linearly from ``warmup_begin_lr`` towards ``base_lr`` (mode ``'linear'``):
``warmup_begin_lr + (base_lr - warmup_begin_lr) * num_update / warmup_steps``.
"""
from __future__ import annotations

import math
import numbers

__all__ = ["LRScheduler", "FactorScheduler", "MultiFactorScheduler", "PolyScheduler", "CosineScheduler"]


def _int_at_least(owner, name, value, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{owner}: {name} must be an int >= {low}, got {value!r}")
    return int(value)


def _real(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value!r}")
    return float(value)


class LRScheduler:
    """Base class: ``base_lr`` and the warm-up shared by every schedule.

    Parameters
    ----------
    base_lr : float
        The rate after warm-up (default 0.01).
    warmup_steps : int
        Number of warm-up updates (default 0: none).
    warmup_begin_lr : float
        Rate at the start of warm-up (default 0); must not exceed ``base_lr``.
    warmup_mode : {'linear', 'constant'}
        How the rate moves during warm-up.

    Subclasses implement ``__call__(num_update)``, returning ``self.get_warmup_lr(num_update)``
    while ``num_update < warmup_steps``.
    """

    def __init__(self, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0, warmup_mode="linear"):
        owner = type(self).__name__
        self.base_lr = _real(owner, "base_lr", base_lr)
        self.warmup_steps = _int_at_least(owner, "warmup_steps", warmup_steps, 0)
        self.warmup_final_lr = self.base_lr
        self.warmup_begin_lr = _real(owner, "warmup_begin_lr", warmup_begin_lr)
        if self.warmup_begin_lr > self.warmup_final_lr:
            raise ValueError(f"{owner}: warmup_begin_lr ({self.warmup_begin_lr}) must not exceed base_lr "
                             f"({self.base_lr}): warm-up raises the rate towards base_lr")
        if warmup_mode not in ("linear", "constant"):
            raise ValueError(f"{owner}: warmup_mode must be 'linear' or 'constant', got {warmup_mode!r}")
        self.warmup_mode = warmup_mode

    def get_warmup_lr(self, num_update):
        """The warm-up rate at ``num_update`` (which must be below ``warmup_steps``)."""
        if num_update >= self.warmup_steps:
            raise ValueError(f"{type(self).__name__}: update {num_update} is past the {self.warmup_steps} "
                             "warm-up steps")
        if self.warmup_mode == "constant":
            return self.warmup_begin_lr
        rise = (self.warmup_final_lr - self.warmup_begin_lr) * float(num_update) / float(self.warmup_steps)
        return self.warmup_begin_lr + rise

    def __call__(self, num_update):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(num_update)")

    def __repr__(self):
        return f"{type(self).__name__}(base_lr={self.base_lr}, warmup_steps={self.warmup_steps})"


class FactorScheduler(LRScheduler):
    """Multiply the rate by ``factor`` every ``step`` updates: ``base_lr * factor**floor((n-1)/step)``
    for ``n`` past warm-up, never below ``stop_factor_lr``.

    Parameters
    ----------
    step : int
        Updates between two reductions (>= 1).
    factor : float
        At most 1 (default 1: constant).
    stop_factor_lr : float
        The rate stops falling here (default 1e-8).
    base_lr, warmup_steps, warmup_begin_lr, warmup_mode
        See :class:`LRScheduler`.
    """

    def __init__(self, step, factor=1, stop_factor_lr=1e-8, base_lr=0.01, warmup_steps=0,
                 warmup_begin_lr=0, warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        self.step = _int_at_least("FactorScheduler", "step", step, 1)
        self.factor = _real("FactorScheduler", "factor", factor)
        if self.factor > 1.0:
            raise ValueError(f"FactorScheduler: factor must be <= 1 (it lowers the rate), got {factor}")
        self.stop_factor_lr = _real("FactorScheduler", "stop_factor_lr", stop_factor_lr)
        self.count = 0

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        # A loop, not a formula: the rate is lowered once per step passed, as MXNet does (so a count
        # that jumps ahead, e.g. after loading trainer states, catches up).
        while num_update > self.count + self.step:
            self.count += self.step
            self.base_lr = max(self.base_lr * self.factor, self.stop_factor_lr)
        return self.base_lr


class MultiFactorScheduler(LRScheduler):
    """Multiply the rate by ``factor`` each time the count passes one of ``step`` (increasing).

    Parameters
    ----------
    step : list of int
        Increasing update counts (each >= 1); past ``step[k]`` the rate is ``base_lr*factor**(k+1)``.
    factor : float
        At most 1 (default 1).
    base_lr, warmup_steps, warmup_begin_lr, warmup_mode
        See :class:`LRScheduler`.
    """

    def __init__(self, step, factor=1, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0,
                 warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not isinstance(step, (list, tuple)) or not step:
            raise ValueError(f"MultiFactorScheduler: step must be a non-empty list of ints, got {step!r}")
        steps = [_int_at_least("MultiFactorScheduler", "step[]", s, 1) for s in step]
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError(f"MultiFactorScheduler: step must be strictly increasing, got {list(step)}")
        self.step = steps
        self.factor = _real("MultiFactorScheduler", "factor", factor)
        if self.factor > 1.0:
            raise ValueError(f"MultiFactorScheduler: factor must be <= 1 (it lowers the rate), got {factor}")
        self.cur_step_ind = 0
        self.count = 0

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while self.cur_step_ind < len(self.step) and num_update > self.step[self.cur_step_ind]:
            self.count = self.step[self.cur_step_ind]
            self.cur_step_ind += 1
            self.base_lr *= self.factor
        return self.base_lr


class _DecayToFinal(LRScheduler):
    """Poly and Cosine: decay from the constructed ``base_lr`` to ``final_lr`` over ``max_update``."""

    def __init__(self, max_update, base_lr, final_lr, warmup_steps, warmup_begin_lr, warmup_mode):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        owner = type(self).__name__
        self.max_update = _int_at_least(owner, "max_update", max_update, 1)
        self.base_lr_orig = self.base_lr
        self.final_lr = _real(owner, "final_lr", final_lr)
        self.max_steps = self.max_update - self.warmup_steps
        if self.max_steps <= 0:
            raise ValueError(f"{owner}: max_update ({max_update}) must exceed warmup_steps ({warmup_steps})")

    def _shape(self, done):
        """The decay factor after ``done`` of the ``max_steps`` decay updates (1 at 0, 0 at the end)."""
        raise NotImplementedError

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            done = num_update - self.warmup_steps
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) * self._shape(done)
        return self.base_lr


class PolyScheduler(_DecayToFinal):
    """Polynomial decay: ``final_lr + (base_lr - final_lr) * (1 - f)**pwr`` with ``f`` the fraction of
    the ``max_update - warmup_steps`` decay updates done; ``final_lr`` after ``max_update``.

    Parameters
    ----------
    max_update : int
        The update count at which the rate reaches ``final_lr``.
    base_lr : float
    pwr : float
        Power of the decay (default 2).
    final_lr : float
        Default 0.
    warmup_steps, warmup_begin_lr, warmup_mode
        See :class:`LRScheduler`.
    """

    def __init__(self, max_update, base_lr=0.01, pwr=2, final_lr=0, warmup_steps=0, warmup_begin_lr=0,
                 warmup_mode="linear"):
        super().__init__(max_update, base_lr, final_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        self.power = _real("PolyScheduler", "pwr", pwr)

    def _shape(self, done):
        return pow(1.0 - float(done) / float(self.max_steps), self.power)


class CosineScheduler(_DecayToFinal):
    """Cosine decay: ``final_lr + (base_lr - final_lr) * (1 + cos(pi*f))/2`` with ``f`` as in
    :class:`PolyScheduler`; ``final_lr`` after ``max_update``.

    Parameters
    ----------
    max_update : int
    base_lr : float
    final_lr : float
        Default 0.
    warmup_steps, warmup_begin_lr, warmup_mode
        See :class:`LRScheduler`.
    """

    def __init__(self, max_update, base_lr=0.01, final_lr=0, warmup_steps=0, warmup_begin_lr=0,
                 warmup_mode="linear"):
        super().__init__(max_update, base_lr, final_lr, warmup_steps, warmup_begin_lr, warmup_mode)

    def _shape(self, done):
        # pi*done/max_steps in this order: the same float64 rounding as MXNet's formula.
        return (1.0 + math.cos(math.pi * done / self.max_steps)) / 2.0

# A name MXNet has and gpuparams lacks (lr_scheduler.<name>) says "not supported yet".
from ._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(globals(), "lr_scheduler")
