"""Initializers: how a parameter's first values are drawn (``gpuparams.init``).

Two interfaces live here.

- Gluon's: :class:`Initializer` objects (``init.Uniform(0.07)``, ``init.Xavier()`` ...) handed to
  ``initialize``. A Parameter calls ``initializer(name, data)`` with ``data`` an NDArray on the host
  that the initializer fills in place; subclasses implement ``_init_weight(name, data)``. Initializers
  also have string names (``'zeros'``, ``'xavier'``) resolved by :func:`create`.
- PyTorch's: in-place functions (``init.xavier_uniform_(param)``, ``init.kaiming_normal_(w, a=0.1)``)
  that work on a :class:`~gpuparams.parameter.Parameter` (every context copy) or an NDArray.

Every value is drawn on the host from the one generator that ``gp.random.seed`` seeds, then copied to
each context, so a seed gives bit-identical weights on ``cpu(0)``, ``gpu(0)`` or several contexts.
"""
from __future__ import annotations

import json
import math

import numpy as np

from . import autograd
from . import random as _random
from ._front import adopt
from ._ndarray import NDArray

__all__ = [
    "InitDesc", "Initializer", "Uniform", "Normal", "Constant", "Zero", "One", "Xavier", "MSRAPrelu",
    "register", "alias", "create", "registered_names",
    "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "xavier_uniform_",
    "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
]

_REGISTRY = {}


class InitDesc(str):
    """The name of the array being initialized (a ``str``), with extra attributes.

    Initializers receive one as ``name`` in ``_init_weight(name, data)``; it prints and compares as
    the parameter's name (``dense0_weight``).

    Parameters
    ----------
    name : str
        The parameter's name.
    attrs : dict, optional
        Free-form attributes (MXNet compatibility).
    global_init : Initializer, optional
        The initializer given to ``Block.initialize``, if any.
    """

    def __new__(cls, name, attrs=None, global_init=None):
        desc = super().__new__(cls, name)
        desc.attrs = dict(attrs or {})
        desc.global_init = global_init
        return desc


class Initializer:
    """Base class of initializers: subclass it and implement ``_init_weight(name, data)``.

    ``data`` is an NDArray on the host (``cpu(0)``, also the current context while the initializer
    runs) that must be filled **in place**, e.g. ``data[:] = nd.random.uniform(-1, 1, data.shape)``
    or ``data *= data.abs() >= 5``; the filled values are then copied to every context of the
    parameter. Nothing an initializer does is recorded by autograd.

    Examples
    --------
    >>> from gpuparams import init, nd
    >>> class Halves(init.Initializer):
    ...     def _init_weight(self, name, data):
    ...         data[:] = 0.5
    >>> x = nd.zeros((2, 2)); Halves()("w", x); x.asnumpy().tolist()
    [[0.5, 0.5], [0.5, 0.5]]
    """

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._verbose = False
        self._print_func = None

    def set_verbosity(self, verbose=False, print_func=None):
        """Print a line per initialized array (``print_func(array) -> str`` summarizes it).

        Returns
        -------
        Initializer
            ``self``, for chaining.
        """
        self._verbose = bool(verbose)
        self._print_func = print_func
        return self

    def __call__(self, name, data, verbose=None):
        """Fill NDArray ``data`` in place for the parameter called ``name``."""
        if not isinstance(data, NDArray):
            raise TypeError(f"{type(self).__name__}: expected an NDArray to fill for {name!r}, "
                            f"got {type(data).__name__}")
        desc = name if isinstance(name, InitDesc) else InitDesc(str(name))
        shape, dtype = data.shape, data.dtype
        with autograd.pause():
            self._init_weight(desc, adopt(data))
        if data.shape != shape or data.dtype != dtype:
            raise RuntimeError(f"{type(self).__name__}._init_weight changed {desc!r} from shape {shape} "
                               f"{dtype} to {data.shape} {data.dtype}; it must fill data in place "
                               "(data[:] = ...)")
        if self._verbose if verbose is None else verbose:
            summary = self._print_func(data) if self._print_func else _rms(data)
            print(f"Initialized {desc} as {self!r}: {summary}")

    def _init_weight(self, name, data):
        raise NotImplementedError(
            f"{type(self).__name__} must implement _init_weight(self, name, data) and fill the NDArray "
            "data in place (data[:] = ...)")

    def dumps(self):
        """JSON ``[name, kwargs]`` that :func:`create` turns back into this initializer."""
        return json.dumps([type(self).__name__.lower(), self._kwargs])

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._kwargs.items())
        return f"{type(self).__name__}({args})"


def _rms(data):
    values = data.asnumpy().astype(np.float64)
    return f"rms={math.sqrt(float(np.mean(values * values))) if values.size else 0.0:.6g}"


def _fill(data, values):
    """Write host ``values`` into NDArray ``data``, cast on the host first so every context gets the
    same bits."""
    data[:] = np.asarray(values).astype(data.dtype, copy=False)


def _draw_uniform(low, high, shape):
    return _random.generator().uniform(low, high, size=shape)


def _draw_normal(mean, std, shape):
    return _random.generator().normal(mean, std, size=shape)


# ---------------------------------------------------------------------------------------- registry
def register(klass):
    """Class decorator: make ``klass`` available to :func:`create` under its lowercased name."""
    if not (isinstance(klass, type) and issubclass(klass, Initializer)):
        raise TypeError(f"register expects an Initializer subclass, got {klass!r}")
    _REGISTRY[klass.__name__.lower()] = klass
    return klass


def alias(*names):
    """Class decorator: register ``klass`` under extra (lowercased) names, e.g. ``'zeros'``."""
    def decorate(klass):
        register(klass)
        for name in names:
            _REGISTRY[name.lower()] = klass
        return klass
    return decorate


def registered_names():
    """The names :func:`create` accepts, sorted."""
    return sorted(_REGISTRY)


def create(spec, **kwargs):
    """Return an :class:`Initializer` from an instance, a class, a registered name or a JSON dump.

    Parameters
    ----------
    spec : Initializer, type, or str
        ``init.Xavier()``, ``init.Xavier``, ``'xavier'``, ``'zeros'``, or ``Initializer.dumps()``.
    **kwargs
        Arguments for the class when ``spec`` names one.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the registered ones).
    """
    if isinstance(spec, Initializer):
        if kwargs:
            raise TypeError(f"create({spec!r}) takes no extra arguments for an initializer instance")
        return spec
    if isinstance(spec, type) and issubclass(spec, Initializer):
        return spec(**kwargs)
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith("["):
            try:
                name, stored = json.loads(text)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"cannot read initializer from JSON {spec!r}: {exc}") from None
            return create(name, **{**stored, **kwargs})
        klass = _REGISTRY.get(text.lower())
        if klass is None:
            raise ValueError(f"unknown initializer {spec!r}; registered names: "
                             f"{', '.join(registered_names())} (or pass an Initializer instance)")
        return klass(**kwargs)
    raise TypeError(f"an initializer must be an Initializer, a registered name or an Initializer "
                    f"class, got {type(spec).__name__} {spec!r}")


# ------------------------------------------------------------------------------- the initializers
@register
class Uniform(Initializer):
    """Uniform samples in ``[-scale, scale)``.

    Parameters
    ----------
    scale : float
        Half-width of the range (default 0.07, Gluon's default initializer).
    """

    def __init__(self, scale=0.07):
        if not scale >= 0:
            raise ValueError(f"Uniform: scale must be non-negative, got {scale}")
        super().__init__(scale=scale)
        self.scale = scale

    def _init_weight(self, name, data):
        _fill(data, _draw_uniform(-self.scale, self.scale, data.shape))


@register
class Normal(Initializer):
    """Normal samples with mean 0 and standard deviation ``sigma`` (default 0.01)."""

    def __init__(self, sigma=0.01):
        if not sigma >= 0:
            raise ValueError(f"Normal: sigma must be non-negative, got {sigma}")
        super().__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, name, data):
        _fill(data, _draw_normal(0.0, self.sigma, data.shape))


@register
class Constant(Initializer):
    """Fill with ``value`` (a number, or an array broadcastable to the parameter's shape)."""

    def __init__(self, value):
        if isinstance(value, NDArray):
            value = value.asnumpy()
        stored = value.tolist() if isinstance(value, np.ndarray) else value
        super().__init__(value=stored)
        self.value = value

    def _init_weight(self, name, data):
        try:
            values = np.broadcast_to(np.asarray(self.value), data.shape)
        except ValueError:
            raise ValueError(f"Constant: value of shape {np.shape(self.value)} cannot fill {name!r} of "
                             f"shape {data.shape}") from None
        _fill(data, values)


@alias("zeros")
class Zero(Initializer):
    """Fill with zeros (also ``'zeros'``)."""

    def _init_weight(self, name, data):
        data[:] = 0


@alias("ones")
class One(Initializer):
    """Fill with ones (also ``'ones'``)."""

    def _init_weight(self, name, data):
        data[:] = 1


def _fans(shape):
    """``(fan_in, fan_out)`` of a weight laid out ``(out, in, *kernel)`` (at least 2-D)."""
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _gluon_fans(name, shape, who):
    """Fans of a weight laid out ``(out, in, *kernel)``, as Xavier defines them."""
    if len(shape) < 2:
        raise ValueError(f"{who} cannot initialize {name!r} of shape {shape}: it needs at least 2 "
                         "dimensions (out, in, ...). Give this parameter its own init, e.g. "
                         "init='zeros' for a bias")
    return _fans(shape)


@register
class Xavier(Initializer):
    """Glorot initialization: variance scaled by the weight's fans.

    With ``fan_in = shape[1] * k`` and ``fan_out = shape[0] * k`` (``k`` the product of the trailing
    kernel dimensions), ``factor`` is ``(fan_in + fan_out) / 2`` ('avg'), ``fan_in`` ('in') or
    ``fan_out`` ('out') and ``scale = sqrt(magnitude / factor)``; values are uniform in
    ``[-scale, scale]`` or normal with standard deviation ``scale`` ('gaussian'). The defaults give
    the bound ``sqrt(6 / (fan_in + fan_out))``.

    Parameters
    ----------
    rnd_type : {'uniform', 'gaussian'}
    factor_type : {'avg', 'in', 'out'}
    magnitude : float
    """

    def __init__(self, rnd_type="uniform", factor_type="avg", magnitude=3):
        if rnd_type not in ("uniform", "gaussian"):
            raise ValueError(f"Xavier: rnd_type must be 'uniform' or 'gaussian', got {rnd_type!r}")
        if factor_type not in ("avg", "in", "out"):
            raise ValueError(f"Xavier: factor_type must be 'avg', 'in' or 'out', got {factor_type!r}")
        if not magnitude > 0:
            raise ValueError(f"Xavier: magnitude must be positive, got {magnitude}")
        super().__init__(rnd_type=rnd_type, factor_type=factor_type, magnitude=magnitude)
        self.rnd_type = rnd_type
        self.factor_type = factor_type
        self.magnitude = float(magnitude)

    def _init_weight(self, name, data):
        fan_in, fan_out = _gluon_fans(name, data.shape, type(self).__name__)
        factor = {"avg": (fan_in + fan_out) / 2.0, "in": fan_in, "out": fan_out}[self.factor_type]
        scale = math.sqrt(self.magnitude / factor)
        if self.rnd_type == "uniform":
            _fill(data, _draw_uniform(-scale, scale, data.shape))
        else:
            _fill(data, _draw_normal(0.0, scale, data.shape))


@register
class MSRAPrelu(Xavier):
    """He (MSRA) initialization for PReLU nets: Gaussian Xavier with ``magnitude = 2 / (1 + slope²)``.

    Parameters
    ----------
    factor_type : {'avg', 'in', 'out'}
    slope : float
        The negative slope of the PReLU (0 for ReLU).
    """

    def __init__(self, factor_type="avg", slope=0.25):
        super().__init__("gaussian", factor_type, 2.0 / (1 + slope ** 2))
        self._kwargs = {"factor_type": factor_type, "slope": slope}
        self.slope = slope


# ------------------------------------------------------------------- PyTorch-style in-place functions
_LINEAR_GAIN_NAMES = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                      "conv_transpose2d", "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (PyTorch's table).

    ``linear``/``conv*``/``sigmoid``: 1; ``tanh``: 5/3; ``relu``: √2;
    ``leaky_relu``: √(2 / (1 + slope²)) with ``param`` the negative slope (default 0.01);
    ``selu``: 3/4.

    Raises
    ------
    ValueError
        For another nonlinearity, or a slope that is not a number.
    """
    if nonlinearity in _LINEAR_GAIN_NAMES:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of "
                     f"{', '.join(_LINEAR_GAIN_NAMES)}, tanh, relu, leaky_relu, selu")


def _target_shape(tensor, fn_name):
    """Shape of the NDArray or the (initialized) Parameter that ``fn_name`` is about to fill."""
    if isinstance(tensor, NDArray):
        return tensor.shape
    from .parameter import Parameter
    if isinstance(tensor, Parameter):
        tensor.list_data()  # raises the right error (not initialized / deferred) naming the parameter
        return tensor.shape
    raise TypeError(f"{fn_name} fills a Parameter or an NDArray, got {type(tensor).__name__}")


def _write(tensor, values):
    if isinstance(tensor, NDArray):
        _fill(tensor, values)
    else:
        tensor.set_data(np.asarray(values).astype(tensor.dtype, copy=False))
    return tensor


def _torch_fans(shape, fn_name):
    if len(shape) < 2:
        raise ValueError(f"{fn_name}: fan in and fan out need at least 2 dimensions, got shape {shape}")
    return _fans(shape)


def uniform_(tensor, a=0.0, b=1.0):
    """Fill ``tensor`` (Parameter or NDArray) in place with samples of U(a, b); returns it."""
    if b < a:
        raise ValueError(f"uniform_: b={b} is below a={a}")
    shape = _target_shape(tensor, "uniform_")
    return _write(tensor, _draw_uniform(a, b, shape))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill ``tensor`` in place with samples of N(mean, std²); returns it."""
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    shape = _target_shape(tensor, "normal_")
    return _write(tensor, _draw_normal(mean, std, shape))


def constant_(tensor, val):
    """Fill ``tensor`` in place with ``val``; returns it."""
    shape = _target_shape(tensor, "constant_")
    return _write(tensor, np.full(shape, val))


def zeros_(tensor):
    """Fill ``tensor`` in place with zeros; returns it."""
    return constant_(tensor, 0.0)


def ones_(tensor):
    """Fill ``tensor`` in place with ones; returns it."""
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0):
    """Glorot uniform: U(-a, a) with ``a = gain·√(6 / (fan_in + fan_out))``; returns ``tensor``.

    Fans follow the ``(out, in, *kernel)`` layout of a Dense weight ``(units, in_units)``.
    """
    shape = _target_shape(tensor, "xavier_uniform_")
    fan_in, fan_out = _torch_fans(shape, "xavier_uniform_")
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _write(tensor, _draw_uniform(-bound, bound, shape))


def xavier_normal_(tensor, gain=1.0):
    """Glorot normal: N(0, std²) with ``std = gain·√(2 / (fan_in + fan_out))``; returns ``tensor``."""
    shape = _target_shape(tensor, "xavier_normal_")
    fan_in, fan_out = _torch_fans(shape, "xavier_normal_")
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _write(tensor, _draw_normal(0.0, std, shape))


def _kaiming_std(shape, a, mode, nonlinearity, fn_name):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{fn_name}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _torch_fans(shape, fn_name)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """He uniform: U(-b, b) with ``b = gain·√(3 / fan)``; returns ``tensor``.

    Parameters
    ----------
    tensor : Parameter or NDArray
    a : float
        Negative slope of the rectifier after this layer (used with ``'leaky_relu'``).
    mode : {'fan_in', 'fan_out'}
        Preserve the variance of the forward ('fan_in') or backward ('fan_out') pass.
    nonlinearity : str
        A name :func:`calculate_gain` knows; ``gain = calculate_gain(nonlinearity, a)``.
    """
    shape = _target_shape(tensor, "kaiming_uniform_")
    bound = math.sqrt(3.0) * _kaiming_std(shape, a, mode, nonlinearity, "kaiming_uniform_")
    return _write(tensor, _draw_uniform(-bound, bound, shape))


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """He normal: N(0, std²) with ``std = gain / √fan`` (arguments as :func:`kaiming_uniform_`)."""
    shape = _target_shape(tensor, "kaiming_normal_")
    std = _kaiming_std(shape, a, mode, nonlinearity, "kaiming_normal_")
    return _write(tensor, _draw_normal(0.0, std, shape))

# A name MXNet has and gpuparams lacks (init.Bilinear ...) says "not supported yet".
from ._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(globals(), "init")
