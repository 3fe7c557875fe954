"""The basic layers: Sequential, Dense, Activation, Flatten, Dropout."""
from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import autograd
from .. import random as _random
from .._text import indent_continuation
from ..initializer import Initializer
from .._ndarray import NDArray, from_data, normalize_dtype
from ..ops.activation import ACTIVATIONS
from ..ops.activation import activation as _activation
from ..ops.dense import DENSE_ACTIVATIONS
from ..ops.dense import dense as _dense
from .block import Block

__all__ = ["Sequential", "HybridSequential", "Dense", "Activation", "Flatten", "Dropout"]


class Sequential(Block):
    """Runs its children one after another: ``net.add(a, b)``; ``net(x)`` is ``b(a(x))``.

    Supports ``len(net)``, ``net[i]`` (a child), ``net[i:j]`` (a new Sequential holding the same
    children, hence the same parameters) and iteration over the children.

    Examples
    --------
    >>> from gpuparams import nn
    >>> net = nn.Sequential()
    >>> net.add(nn.Dense(4, activation='relu'), nn.Dense(2))
    >>> len(net)
    2
    """

    def add(self, *blocks: Block) -> None:
        """Append ``blocks`` (registered as children ``'0'``, ``'1'`` ...)."""
        for block in blocks:
            if not isinstance(block, Block):
                raise TypeError(f"Sequential.add expects Blocks, got {type(block).__name__}")
            self.register_child(block)

    def __repr__(self):
        lines = "\n".join(f"  ({key}): {indent_continuation(repr(block), 2)}"
                          for key, block in self._children.items())
        return f"{type(self).__name__}(\n{lines}\n)"

    def forward(self, x: Any, *args: Any) -> Any:
        """Feed ``x`` through the children in order (extra arguments go to the first child only)."""
        for block in self._children.values():
            x = block(x, *args)
            args = ()
        return x

    def __getitem__(self, key: int | slice) -> Block:
        children = list(self._children.values())
        if isinstance(key, slice):
            net = type(self)(prefix=self._prefix)
            with net.name_scope():
                net.add(*children[key])
            return net
        try:
            return children[key]
        except IndexError:
            raise IndexError(f"index {key} is out of range for a {type(self).__name__} of "
                             f"{len(children)} blocks") from None
        except TypeError:
            raise TypeError(f"{type(self).__name__} indices must be ints or slices, got "
                            f"{type(key).__name__}") from None

    def __len__(self) -> int:
        return len(self._children)

    def __iter__(self) -> Iterator[Block]:
        return iter(list(self._children.values()))


class HybridSequential(Sequential):
    """MXNet's ``HybridSequential``: a :class:`Sequential` under its own name (prefix
    ``hybridsequential0_``, repr ``HybridSequential(...)``), so MXNet code prints the same.
    ``hybridize()`` is not available yet."""


def _check_activation(name, who):
    if name not in ACTIVATIONS:
        raise ValueError(f"{who}: unknown activation {name!r}; choose one of "
                         f"{', '.join(sorted(ACTIVATIONS))}")


class Activation(Block):
    """Applies an activation: ``'relu'``, ``'sigmoid'``, ``'tanh'``, ``'softrelu'`` or ``'softsign'``.

    Its automatic prefix is the activation's name (``relu0_``), as in Gluon.
    """

    def __init__(self, activation: str, **kwargs: Any):
        _check_activation(activation, "Activation")
        self._act_type = activation
        super().__init__(**kwargs)

    def _alias(self):
        return self._act_type

    def forward(self, x: NDArray) -> NDArray:
        """Apply the activation to ``x``."""
        return _activation(x, self._act_type)

    def __repr__(self):
        return f"{type(self).__name__}({self._act_type})"


def _check_count(value, what, allow_zero):
    too_small = not isinstance(value, bool) and isinstance(value, (int, np.integer)) and (
        value < (0 if allow_zero else 1))
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or too_small:
        bound = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"Dense: {what} must be {bound} int, got {value!r}")
    return int(value)


class Dense(Block):
    """Fully connected layer ``y = activation(x·Wᵀ + b)`` with ``W`` of shape ``(units, in_units)``.

    Parameters
    ----------
    units : int
        Output size.
    activation : str, optional
        One of ``'relu'`` (fused into the dense operator), ``'sigmoid'``, ``'tanh'``, ``'softrelu'``,
        ``'softsign'``; None for a linear layer.
    use_bias : bool
        Whether to add a bias of shape ``(units,)``.
    flatten : bool
        Flatten inputs ``(N, ...)`` to ``(N, features)``; otherwise apply to the last axis.
    dtype : str
        Parameter dtype (default float32).
    weight_initializer, bias_initializer : Initializer or str
        The parameters' own initializers (bias defaults to ``'zeros'``; weight to None, i.e. the one
        given to ``initialize``).
    in_units : int
        Input size; 0 (default) infers it at the first forward pass (deferred initialization).
    params : ParameterDict, optional
        Share another Dense's parameters (``params=other.params``).
    prefix : str, optional
        Name prefix (default ``dense<n>_``).

    Examples
    --------
    >>> from gpuparams import nn
    >>> nn.Dense(256, activation='relu', in_units=20)        # doctest: +SKIP
    Dense(20 -> 256, Activation(relu))
    """

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 flatten: bool = True, dtype: Any = "float32",
                 weight_initializer: Initializer | str | None = None,
                 bias_initializer: Initializer | str | None = "zeros", in_units: int = 0,
                 **kwargs: Any):
        units = _check_count(units, "units", allow_zero=False)
        in_units = _check_count(in_units, "in_units", allow_zero=True)
        if activation is not None:
            _check_activation(activation, "Dense")
        dtype = normalize_dtype(dtype, what="Dense: dtype")
        super().__init__(**kwargs)
        self._units = units
        self._in_units = in_units
        self._flatten = bool(flatten)
        self._act_type = activation
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(units, in_units), init=weight_initializer,
                                          dtype=dtype, allow_deferred_init=True)
            if use_bias:
                self.bias = self.params.get("bias", shape=(units,), init=bias_initializer, dtype=dtype,
                                            allow_deferred_init=True)
            else:
                self.bias = None
            self.act = Activation(activation, prefix=activation + "_") if activation is not None else None

    def infer_shape(self, x: NDArray, *args: Any) -> None:
        """Set ``in_units`` from the first input: its flattened size, or its last axis."""
        if not isinstance(x, NDArray):
            raise TypeError(f"{self.name}: expected an NDArray input, got {type(x).__name__}")
        if self._flatten:
            features = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
        else:
            features = x.shape[-1]
        if features == 0:
            raise ValueError(f"{self.name}: cannot infer in_units from an input of shape {x.shape}")
        self.weight.shape = (self._units, features)

    def forward(self, x: NDArray) -> NDArray:
        """``activation(x·Wᵀ + b)`` through the one dense operator (ReLU fused into it)."""
        if not isinstance(x, NDArray):
            raise TypeError(f"{self.name}: expected an NDArray input, got {type(x).__name__}")
        ctx = x.context
        weight = self.weight.data(ctx)
        bias = self.bias.data(ctx) if self.bias is not None else None
        fused = self._act_type if self._act_type in DENSE_ACTIVATIONS else None
        out = _dense(x, weight, bias, activation=fused, flatten=self._flatten)
        if self.act is not None and fused is None:
            out = self.act(out)
        return out

    def __repr__(self):
        in_units = self.weight.shape[1] if self.weight.shape[1] else None
        act = repr(self.act) if self.act is not None else "linear"
        return f"{type(self).__name__}({in_units} -> {self.weight.shape[0]}, {act})"


class Flatten(Block):
    """Reshapes ``(N, ...)`` inputs to ``(N, features)``."""

    def forward(self, x: NDArray) -> NDArray:
        """``x`` reshaped to ``(N, -1)``."""
        return x.reshape((x.shape[0], -1))

    def __repr__(self):
        return type(self).__name__


class Dropout(Block):
    """Zeroes each element with probability ``rate`` in training mode, scaling the rest by 1/(1-rate).

    Outside training mode (``autograd.record()`` turns it on; ``predict_mode`` or no recording turns
    it off) the input is returned unchanged. The mask is drawn on the host from the seeded generator
    (``gp.random.seed``), so runs are reproducible on every context.

    Parameters
    ----------
    rate : float
        Drop probability in ``[0, 1]``.
    axes : tuple of int
        Axes along which one mask value is shared (e.g. ``(1,)`` drops whole features of a sequence).
    """

    def __init__(self, rate: float, axes: tuple[int, ...] = (), **kwargs: Any):
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate <= 1:
            raise ValueError(f"Dropout: rate must be a number in [0, 1], got {rate!r}")
        super().__init__(**kwargs)
        self._rate = float(rate)
        self._axes = tuple(axes)

    def forward(self, x: NDArray) -> NDArray:
        """``x`` times a fresh scaled keep-mask in training mode; ``x`` itself otherwise."""
        if not autograd.is_training() or self._rate == 0:
            return x
        shape = list(x.shape)
        for axis in self._axes:
            if not -x.ndim <= axis < x.ndim:
                raise ValueError(f"Dropout: axis {axis} is out of range for an input of shape {x.shape}")
            shape[axis] = 1
        keep = _random.generator().random(size=tuple(shape)) >= self._rate
        scale = 1.0 / (1.0 - self._rate) if self._rate < 1 else 0.0
        mask = from_data((keep * scale).astype(x.dtype), ctx=x.context)
        return x * mask

    def __repr__(self):
        return f"{type(self).__name__}(p = {self._rate:g}, axes={self._axes})"
