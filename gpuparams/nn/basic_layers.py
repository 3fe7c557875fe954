"""The basic layers: Sequential, HybridSequential, Dense, Activation, Flatten, Dropout, Lambda,
HybridLambda. All but Sequential and Lambda are HybridBlocks (``hybrid_forward(F, x, ...)``)."""
from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._text import indent_continuation
from ..initializer import Initializer
from .._ndarray import NDArray, normalize_dtype
from ..ops.activation import ACTIVATIONS
from ..ops.activation import activation as _activation
from ..ops.dense import DENSE_ACTIVATIONS
from ..ops.dense import dense as _dense
from ..ops.dropout import Dropout as _dropout
from .block import Block, HybridBlock

__all__ = ["Sequential", "HybridSequential", "Dense", "Activation", "Flatten", "Dropout", "Lambda",
           "HybridLambda"]


class _Chain:
    """What Sequential and HybridSequential share: adding, indexing, iterating, printing."""
    def add(self, *blocks: Block) -> None:
        """Append ``blocks`` (registered as children ``'0'``, ``'1'`` ...)."""
        for block in blocks:
            if not isinstance(block, Block):
                raise TypeError(f"{type(self).__name__}.add expects Blocks, got {type(block).__name__}")
            self.register_child(block)

    def __repr__(self):
        lines = "\n".join(f"  ({key}): {indent_continuation(repr(block), 2)}"
                          for key, block in self._children.items())
        return f"{type(self).__name__}(\n{lines}\n)"

    def _run_children(self, x, args):
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


class Sequential(_Chain, Block):
    """Runs its children one after another: ``net.add(a, b)``; ``net(x)`` is ``b(a(x))``.

    Supports ``len(net)``, ``net[i]`` (a child), ``net[i:j]`` (a new Sequential holding the same
    children, hence the same parameters) and iteration over the children. ``hybridize()``
    hybridizes the HybridBlock children.

    Examples
    --------
    >>> from gpuparams import nn
    >>> net = nn.Sequential()
    >>> net.add(nn.Dense(4, activation='relu'), nn.Dense(2))
    >>> len(net)
    2
    """

    def forward(self, x: Any, *args: Any) -> Any:
        """Feed ``x`` through the children in order (extra arguments go to the first child only)."""
        return self._run_children(x, args)


class HybridSequential(_Chain, HybridBlock):
    """The hybridizable :class:`Sequential`: every child must be a HybridBlock when
    :meth:`~HybridBlock.hybridize` is called (a plain Block is reported there, by name). As in MXNet
    it is not a subclass of ``Sequential``.

    Examples
    --------
    >>> from gpuparams import nn, nd
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(4, activation='relu'), nn.Dense(2))
    >>> net.initialize(); net.hybridize()
    >>> net(nd.ones((3, 5))).shape
    (3, 2)
    """

    def hybrid_forward(self, F: Any, x: Any, *args: Any) -> Any:
        """Feed ``x`` through the children in order (extra arguments go to the first child only)."""
        return self._run_children(x, args)


def _check_activation(name, who):
    if name not in ACTIVATIONS:
        raise ValueError(f"{who}: unknown activation {name!r}; choose one of "
                         f"{', '.join(sorted(ACTIVATIONS))}")


class Activation(HybridBlock):
    """Applies an activation: ``'relu'``, ``'sigmoid'``, ``'tanh'``, ``'softrelu'`` or ``'softsign'``.

    Its automatic prefix is the activation's name (``relu0_``), as in Gluon.
    """

    def __init__(self, activation: str, **kwargs: Any):
        _check_activation(activation, "Activation")
        self._act_type = activation
        super().__init__(**kwargs)

    def _alias(self):
        return self._act_type

    def hybrid_forward(self, F: Any, x: NDArray) -> NDArray:
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


class Dense(HybridBlock):
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
        """``activation(x·Wᵀ + b)`` (see :meth:`hybrid_forward`)."""
        if not isinstance(x, NDArray):
            raise TypeError(f"{self.name}: expected an NDArray input, got {type(x).__name__}")
        return super().forward(x)

    def hybrid_forward(self, F: Any, x: NDArray, weight: NDArray, bias: NDArray | None = None) -> NDArray:
        """``activation(x·Wᵀ + b)`` through the one dense operator (ReLU fused into it)."""
        fused = self._act_type if self._act_type in DENSE_ACTIVATIONS else None
        out = _dense(x, weight, bias, activation=fused, flatten=self._flatten)
        if self.act is not None and fused is None:
            out = self.act(out)
        return out

    def __repr__(self):
        in_units = self.weight.shape[1] if self.weight.shape[1] else None
        act = repr(self.act) if self.act is not None else "linear"
        return f"{type(self).__name__}({in_units} -> {self.weight.shape[0]}, {act})"


class Flatten(HybridBlock):
    """Reshapes ``(N, ...)`` inputs to ``(N, features)``."""

    def hybrid_forward(self, F: Any, x: NDArray) -> NDArray:
        """``x`` reshaped to ``(N, -1)`` (the ``flatten`` operator, so an exported graph does not
        fix the batch size)."""
        return F.flatten(x)

    def __repr__(self):
        return type(self).__name__


class Dropout(HybridBlock):
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

    def hybrid_forward(self, F: Any, x: NDArray) -> NDArray:
        """``x`` times a fresh scaled keep-mask in training mode; ``x`` itself otherwise (the
        ``F.Dropout`` operator, so a hybridized graph draws a new mask at each replay)."""
        return _dropout(x, p=self._rate, axes=self._axes)

    def __repr__(self):
        return f"{type(self).__name__}(p = {self._rate:g}, axes={self._axes})"


class Lambda(Block):
    """Wraps a function (or the name of an ``nd`` operator) as a Block: ``Lambda('tanh')``,
    ``Lambda(lambda x: x * 2)``.

    Parameters
    ----------
    function : str or callable
        Called as ``function(*inputs)``; a string names an ``nd`` function.
    """

    def __init__(self, function: str | Any, prefix: str | None = None):
        super().__init__(prefix=prefix)
        self._func_impl, self._func_name = _lambda_function(function, "Lambda", hybrid=False)

    def forward(self, *args: Any) -> Any:
        """``function(*args)``."""
        return self._func_impl(*args)

    def __repr__(self):
        return f"{type(self).__name__}({self._func_name})"


class HybridLambda(HybridBlock):
    """Wraps a function ``function(F, *inputs)`` (or the name of an ``F`` operator) as a HybridBlock:
    ``HybridLambda('tanh')``, ``HybridLambda(lambda F, x: F.relu(x) * 2)``.

    Parameters
    ----------
    function : str or callable
        A string names an ``nd`` operator, called as ``F.<name>(*inputs)``.
    """

    def __init__(self, function: str | Any, prefix: str | None = None):
        super().__init__(prefix=prefix)
        self._func_impl, self._func_name = _lambda_function(function, "HybridLambda", hybrid=True)

    def hybrid_forward(self, F: Any, x: Any, *args: Any) -> Any:
        """``function(F, x, *args)``."""
        return self._func_impl(F, x, *args)

    def __repr__(self):
        return f"{type(self).__name__}({self._func_name})"


def _lambda_function(function, who, hybrid):
    from .. import nd
    if isinstance(function, str):
        target = getattr(nd, function, None)
        if target is None or not callable(target):
            raise ValueError(f"{who}: nd has no function named {function!r}; pass an nd operator name "
                             "(e.g. 'tanh') or a callable")
        return ((lambda F, *args: target(*args)) if hybrid else target), function
    if not callable(function):
        raise TypeError(f"{who}: function must be a str or a callable, got {type(function).__name__}")
    return function, getattr(function, "__name__", type(function).__name__)
