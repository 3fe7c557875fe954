"""Parameters: named, device-aware arrays that Blocks own and Trainers update.

A :class:`Parameter` holds one copy of its value per context (``ctx=[cpu(0), cpu(1)]`` keeps two),
each an NDArray with an attached gradient buffer (none for ``grad_req='null'``). Its shape may be
partly unknown (0 dimensions) until a layer sees its first input: ``initialize`` then only records
*how* to initialize, and the layer's shape inference finishes the job (deferred initialization).

A :class:`ParameterDict` maps full names (``dense0_weight``) to Parameters; ``get`` creates or
returns one, which is how blocks built with ``params=other.params`` end up sharing the *same*
Parameter objects.

Values are always initialized on the host from the seeded generator and then copied to every
context, so copies are identical and a seed reproduces them on any device.
"""
from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any

import numpy as np

from . import autograd
from . import initializer as _initializer
from ._front import _state as _front_state, adopt
from ._placement import ContextArg, context_list, host_to_context
from ._shapes import merge_partial_shapes, shape_is_known
from ._text import indent_continuation
from .context import Context, cpu, current_context
from .errors import DeferredInitializationError
from ._ndarray import NDArray, copy_to_context, from_data, normalize_dtype
from .serialization import load_arrays, load_checked_into, save_arrays

__all__ = ["Parameter", "Constant", "ParameterDict", "DeferredInitializationError"]

_GRAD_REQS = ("write", "add", "null")

# Placement versions: every change of where a Parameter lives (new arrays, new contexts, initialization
# recorded or finished, grad_req) takes a fresh number, so that a Trainer re-checks the contexts of its
# parameters only when one of these numbers moved. ``next`` on a count is atomic in CPython.
_PLACEMENT_VERSIONS = itertools.count(1)


def _normalize_shape(shape, name):
    """``shape`` as a tuple of non-negative ints (0 = not known yet), or None."""
    if shape is None:
        return None
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"Parameter {name!r}: shape must be an int or a tuple of ints, "
                        f"got {shape!r}") from None
    out = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"Parameter {name!r}: shape must hold ints, got {shape!r}")
        d = int(d)
        if d == -1:  # MXNet's numpy-shape spelling of an unknown dimension
            d = 0
        elif d < 0:
            raise ValueError(f"Parameter {name!r}: negative dimension in shape {shape!r} "
                             "(use 0 for a dimension that is not known yet)")
        out.append(d)
    if not out:
        raise ValueError(f"Parameter {name!r}: shape must have at least one dimension, got ()")
    return tuple(out)


class _Pending:
    """What ``initialize`` asked for, kept until the shape is known."""

    __slots__ = ("init", "ctx", "data", "verbose")

    def __init__(self, init, ctx, data=None, verbose=False):
        self.init = init
        self.ctx = ctx
        self.data = data
        self.verbose = verbose


class Parameter:
    """A named array with one copy (and gradient buffer) per context.

    Parameters
    ----------
    name : str
        Full name (``dense0_weight``); blocks make it ``prefix + local name``.
    grad_req : {'write', 'add', 'null'}
        'write' overwrites the gradient at each backward, 'add' accumulates until :meth:`zero_grad`,
        'null' keeps no gradient.
    shape : int or tuple of int, optional
        0 marks a dimension that is not known yet (inferred at the first forward pass).
    dtype : str or numpy dtype
        Element type (default float32).
    lr_mult, wd_mult : float
        Multipliers of the learning rate and weight decay that a Trainer applies to this parameter.
    init : Initializer or str, optional
        This parameter's own initializer; it beats the one given to ``Block.initialize`` but loses to
        ``param.initialize(init=...)``.
    allow_deferred_init : bool
        Whether ``initialize`` may wait for unknown dimensions instead of raising.
    differentiable : bool
        False forces ``grad_req='null'``.

    Notes
    -----
    Each context's data is an NDArray with ``attach_grad(grad_req)``; autograd marks it with
    ``_fresh_grad = True`` when a backward writes its gradient, which is how a Trainer detects stale
    gradients.

    Examples
    --------
    >>> import gpuparams as gp
    >>> p = gp.Parameter("w", shape=(2, 3))
    >>> p
    Parameter w (shape=(2, 3), dtype=float32)
    >>> p.initialize(init=gp.init.One(), ctx=[gp.cpu(0), gp.cpu(1)])
    >>> float(p.data(gp.cpu(1)).sum().asscalar())
    6.0
    """

    def __init__(self, name: str, grad_req: str = "write",
                 shape: int | tuple[int, ...] | None = None, dtype: Any = "float32",
                 lr_mult: float = 1.0, wd_mult: float = 1.0,
                 init: _initializer.Initializer | str | None = None,
                 allow_deferred_init: bool = False, differentiable: bool = True):
        if not isinstance(name, str) or not name:
            raise TypeError(f"a Parameter needs a non-empty str name, got {name!r}")
        self._name = name
        self._shape = _normalize_shape(shape, name)
        self._dtype = normalize_dtype(dtype, what=f"Parameter {name!r}: dtype")
        self.lr_mult = lr_mult
        self.wd_mult = wd_mult
        self.init = init
        self.allow_deferred_init = bool(allow_deferred_init)
        self._differentiable = bool(differentiable)
        self._data = None          # list of NDArray, one per context, once initialized
        self._ctx_list = None
        self._ctx_index = None     # Context -> position in _data
        self._pending = None       # _Pending while initialization waits for the shape
        self._init_used = None     # the initializer that drew the current values
        self._grad_req = None
        self._placement_version = next(_PLACEMENT_VERSIONS)
        self.grad_req = grad_req

    # ------------------------------------------------------------------ attributes
    @property
    def name(self) -> str:
        """The full name (read-only: ParameterDicts and files are keyed by it)."""
        return self._name

    @property
    def shape(self) -> tuple[int, ...] | None:
        """Tuple of dimensions, 0 for those not known yet (None when nothing is known)."""
        return self._shape

    @shape.setter
    def shape(self, new_shape: int | tuple[int, ...]) -> None:
        new_shape = _normalize_shape(new_shape, self._name)
        merged = merge_partial_shapes(self._shape, new_shape)
        if self._shape is not None and (merged is None or merged != new_shape):
            raise ValueError(f"Parameter {self._name!r}: cannot change shape {self._shape} to "
                             f"{new_shape}; only unknown (0) dimensions can be filled in")
        self._shape = new_shape

    @property
    def dtype(self) -> np.dtype:
        """NumPy dtype of the values."""
        return self._dtype

    @property
    def init(self) -> _initializer.Initializer | str | None:
        """This parameter's own initializer (None: use the one given to ``initialize``)."""
        return self._init

    @init.setter
    def init(self, value: _initializer.Initializer | str | None) -> None:
        if value is not None:
            _initializer.create(value)  # fail now on an unknown name, not at initialize time
        self._init = value

    @property
    def grad_req(self) -> str:
        """'write', 'add' or 'null'; changing it re-attaches (zeroed) gradient buffers."""
        return self._grad_req

    @grad_req.setter
    def grad_req(self, req: str) -> None:
        if req not in _GRAD_REQS:
            raise ValueError(f"Parameter {self._name!r}: grad_req must be 'write', 'add' or 'null', "
                             f"got {req!r}")
        if not self._differentiable:
            req = "null"
        if req == self._grad_req:
            return
        self._grad_req = req
        self._placement_version = next(_PLACEMENT_VERSIONS)  # 'null' leaves the trained set
        if self._data is not None:
            for arr in self._data:
                arr.attach_grad(req)

    def __repr__(self):
        return f"{type(self).__name__} {self._name} (shape={self._shape}, dtype={self._dtype.name})"

    # ------------------------------------------------------------------ initialization
    def initialize(self, init: _initializer.Initializer | str | None = None, ctx: ContextArg = None,
                   default_init: _initializer.Initializer | str = _initializer.Uniform(),  # noqa: B008 (as MXNet)
                   force_reinit: bool = False) -> None:
        """Initialize the value on each context in ``ctx`` (default: the current context).

        Parameters
        ----------
        init : Initializer or str, optional
            Wins over everything else.
        ctx : Context or list of Context, optional
            Where to keep copies; every copy gets the same values.
        default_init : Initializer or str
            Used when neither ``init`` nor the parameter's own ``init`` is set
            (``Block.initialize`` passes its ``init`` here).
        force_reinit : bool
            Draw again even if already initialized (written into the existing arrays when the
            contexts are unchanged). Otherwise an initialized parameter warns and keeps its values.

        Raises
        ------
        ValueError
            When the shape has unknown dimensions and ``allow_deferred_init`` is False.
        """
        self._initialize(init, ctx, default_init, force_reinit)

    def _initialize(self, init, ctx, default_init, force_reinit, verbose=False, stacklevel=3):
        if self._data is not None and not force_reinit:
            warnings.warn(f"Parameter {self._name!r} is already initialized, ignoring; pass "
                          "force_reinit=True to initialize it again", stacklevel=stacklevel)
            return
        contexts = context_list(ctx, f"initialize Parameter {self._name!r}")
        chosen = init if init is not None else (self._init if self._init is not None else default_init)
        previous = self._pending
        self._pending = _Pending(_initializer.create(chosen), contexts, verbose=verbose)
        self._placement_version = next(_PLACEMENT_VERSIONS)
        if shape_is_known(self._shape):
            try:
                self._finish_deferred_init()
            except BaseException:  # e.g. Xavier on a vector: leave the parameter as it was
                self._pending = previous
                raise
        elif not self.allow_deferred_init:
            self._pending = previous
            raise ValueError(f"cannot initialize Parameter {self._name!r}: its shape {self._shape} is "
                             "not fully known. Give the full shape, or create it with "
                             "allow_deferred_init=True and let a layer infer it")

    def _finish_deferred_init(self):
        """Draw (or take the stored) values now that the shape is known, and place them."""
        pending = self._pending
        if not shape_is_known(self._shape):
            raise DeferredInitializationError(self._deferred_message())
        host = pending.data if pending.data is not None else self._draw(pending.init, pending.verbose)
        self._place(host, pending.ctx)
        self._pending = None
        self._init_used = pending.init

    def _draw(self, init, verbose=False):
        """Run ``init`` on a host array of this parameter's shape; returns the NumPy values."""
        with autograd.pause(), cpu(0):
            arr = from_data(np.zeros(self._shape, dtype=self._dtype), ctx=cpu(0))
            init(_initializer.InitDesc(self._name, global_init=init), arr, verbose=verbose or None)
        return arr._data

    def _place(self, host, contexts):
        """Put host values on ``contexts``: in place when the arrays exist there already (so anything
        holding them, e.g. a Trainer, keeps seeing them), else as new arrays with fresh gradients."""
        if (self._data is not None and list(contexts) == self._ctx_list
                and self._data[0].shape == self._shape and self._data[0].dtype == self._dtype):
            for arr in self._data:
                arr._assign(host_to_context(host, arr._ctx))
                if arr._grad is not None:
                    arr._grad._data.fill(0)
                    arr._grad._version[0] += 1
                arr._fresh_grad = False
            return
        arrays = []
        for c in contexts:
            arr = from_data(host, ctx=c, dtype=self._dtype)
            arr.attach_grad(self._grad_req)
            arrays.append(arr)
        self._data = arrays
        self._ctx_list = list(contexts)
        self._ctx_index = {c: i for i, c in enumerate(contexts)}
        self._placement_version = next(_PLACEMENT_VERSIONS)

    def _deferred_message(self):
        return (f"Parameter {self._name!r} (shape={self._shape}) is not initialized yet: its "
                "initialization was deferred until its shape is known. Run one batch through the "
                "network first (net(x)), or give the layer its input size (e.g. "
                "nn.Dense(units, in_units=...)) so it is initialized at once. A custom HybridBlock "
                "infers unknown (0) dimensions from the operators of its hybrid_forward; a plain "
                "Block must define infer_shape(self, *inputs) to set them.")

    def _require_data(self):
        if self._data is not None:
            return self._data
        if self._pending is not None:
            if shape_is_known(self._shape):  # the shape became known another way (e.g. a tied layer)
                self._finish_deferred_init()
                return self._data
            raise DeferredInitializationError(self._deferred_message())
        raise RuntimeError(f"Parameter {self._name!r} has not been initialized. Call "
                           "net.initialize() (or param.initialize()) first; initialize through "
                           "net.collect_params(), since net.params leaves out child blocks")

    def _position(self, ctx):
        data = self._require_data()
        if ctx is None:
            if len(data) == 1:
                return 0
            ctx = current_context()
        if not isinstance(ctx, Context):
            raise TypeError(f"Parameter {self._name!r}: ctx must be a Context, got {ctx!r}")
        i = self._ctx_index.get(ctx)
        if i is None:
            raise RuntimeError(
                f"Parameter {self._name!r} is not initialized on {ctx}; it lives on {self._ctx_list}. "
                f"Copy the input there (x.as_in_context({self._ctx_list[0]})), or move the parameters "
                f"with net.reset_ctx({ctx}) / initialize(ctx={ctx}, force_reinit=True)")
        return i

    # ------------------------------------------------------------------ access
    def data(self, ctx: Context | None = None) -> NDArray:
        """The value on ``ctx`` (the only copy, or the current context's, when None).

        Raises
        ------
        RuntimeError
            Before ``initialize``, or when there is no copy on ``ctx``.
        DeferredInitializationError
            After ``initialize`` while the shape is still unknown.
        """
        i = self._position(ctx)  # first: it may finish a deferred initialization
        arr = self._data[i]
        # The hot path (every forward): the class test inline, adopt() only after a front-end switch.
        return arr if type(arr) is _front_state["cls"] else adopt(arr)

    def list_data(self) -> list[NDArray]:
        """The values on every context, in the order of :meth:`list_ctx`."""
        return [adopt(arr) for arr in self._require_data()]

    def _require_grad(self):
        data = self._require_data()
        if self._grad_req == "null":
            raise RuntimeError(f"Parameter {self._name!r} has no gradient because grad_req='null'; "
                               "set param.grad_req = 'write' to compute one")
        return data

    def grad(self, ctx: Context | None = None) -> NDArray:
        """The gradient buffer on ``ctx`` (as :meth:`data`); RuntimeError when grad_req is 'null'."""
        self._require_grad()
        i = self._position(ctx)
        return adopt(self._data[i])._grad

    def list_grad(self) -> list[NDArray]:
        """The gradient buffers on every context."""
        return [adopt(arr)._grad for arr in self._require_grad()]

    def list_ctx(self) -> list[Context]:
        """The contexts holding copies (those it will hold, while initialization is deferred)."""
        if self._data is not None:
            return list(self._ctx_list)
        if self._pending is not None:
            return list(self._pending.ctx)
        raise RuntimeError(f"Parameter {self._name!r} has not been initialized; call initialize() first")

    def is_initialized(self) -> bool:
        """Whether values exist (False while initialization is deferred)."""
        return self._data is not None

    # ------------------------------------------------------------------ changes
    def set_data(self, data: Any) -> None:
        """Write ``data`` into every copy (also inside ``autograd.record()``; the write is not recorded).

        On a parameter whose initialization is deferred, ``data`` fixes the shape and initializes it.

        Parameters
        ----------
        data : NDArray, numpy.ndarray, list or number
            The new value, of the parameter's shape (a number fills every element).
        """
        if isinstance(data, NDArray):
            shape = data.shape
        elif isinstance(data, (int, float, np.number)) and not isinstance(data, bool):
            if not shape_is_known(self._shape):
                raise ValueError(f"Parameter {self._name!r}: a number cannot set_data while the shape "
                                 f"{self._shape} is not known; pass an array")
            shape = self._shape
        else:
            data = np.asarray(data)
            shape = data.shape
        if self._data is None:
            if self._pending is None:
                raise RuntimeError(f"Parameter {self._name!r} has not been initialized; call "
                                   "initialize() before set_data()")
            if merge_partial_shapes(self._shape, shape) != tuple(shape):
                raise ValueError(f"Parameter {self._name!r}: set_data got shape {shape}, which does not "
                                 f"fit the parameter's shape {self._shape}")
            self._shape = tuple(shape)
            self._pending.data = _host_values(data, self._dtype, shape)
            self._finish_deferred_init()
            return
        if tuple(shape) != self._shape:
            raise ValueError(f"Parameter {self._name!r}: set_data got shape {tuple(shape)}, expected "
                             f"{self._shape}")
        for arr in self._data:
            if isinstance(data, NDArray):
                src = (data._data if data._ctx is arr._ctx
                       else copy_to_context(data._data, data._ctx, arr._ctx))
            else:
                src = host_to_context(np.asarray(data).astype(self._dtype, copy=False), arr._ctx)
            arr._assign(src)

    def zero_grad(self) -> None:
        """Set every gradient buffer to zero, in place (nothing to do for grad_req='null')."""
        if self._data is None or self._grad_req == "null":
            return
        for arr in self._data:
            arr._grad._data.fill(0)
            arr._grad._version[0] += 1

    def reset_ctx(self, ctx: ContextArg) -> None:
        """Move the copies to ``ctx`` (a Context or a list); values are kept, gradients start at zero."""
        contexts = context_list(ctx, f"reset_ctx of Parameter {self._name!r}")
        if self._data is not None:
            host = self._reduce()
            self._place(host, contexts)
        elif self._pending is not None:
            self._pending.ctx = contexts
            self._placement_version = next(_PLACEMENT_VERSIONS)
        else:
            raise RuntimeError(f"cannot reset the context of Parameter {self._name!r}: it has not been "
                               "initialized; pass ctx to initialize() instead")

    def cast(self, dtype: Any) -> None:
        """Convert values (and gradients) to ``dtype``."""
        dtype = normalize_dtype(dtype, what=f"Parameter {self._name!r}: dtype")
        if dtype == self._dtype:
            return
        self._dtype = dtype
        if self._data is None:
            return
        with autograd.pause():
            arrays = []
            for arr in self._data:
                new = from_data(arr, ctx=arr._ctx, dtype=dtype)  # cast where it lives
                new.attach_grad(self._grad_req)
                arrays.append(new)
        self._data = arrays

    def _reinitialize(self):
        """Draw new values with the initializer used last (``reset_parameters``)."""
        self._require_data()
        init = self._init_used
        if init is None:
            init = _initializer.create(self._init) if self._init is not None else _initializer.Uniform()
        self._place(self._draw(init), self._ctx_list)
        self._init_used = init

    def _reduce(self):
        """One host copy of the value (the mean of the copies if they ever differ)."""
        copies = [arr.asnumpy() for arr in self._require_data()]
        first = copies[0]
        if all(np.array_equal(first, c) for c in copies[1:]):
            return first
        return np.mean(np.stack(copies).astype(np.float64), axis=0).astype(self._dtype)

    def _load_init(self, value, ctx):
        """Take a loaded host array (validated): fill unknown dims, then copy it in.

        The value has this parameter's dtype, or (``dtype_source='saved'``) the file's, which the
        parameter then takes, as MXNet does."""
        if value.dtype != self._dtype:
            self.cast(value.dtype)
        self._shape = tuple(value.shape)
        if self._data is not None:
            if ctx is None or set(ctx) == set(self._ctx_list):
                self.set_data(value)
            else:
                self._place(value, ctx)
            self._pending = None
            return
        if ctx is None:
            ctx = self._pending.ctx if self._pending is not None else [current_context()]
        init = self._pending.init if self._pending is not None else None
        self._place(value, ctx)
        self._pending = None
        self._init_used = init


def _host_values(data, dtype, shape):
    if isinstance(data, NDArray):
        return data.asnumpy().astype(dtype, copy=False)
    return np.broadcast_to(np.asarray(data), shape).astype(dtype)


class _CopyValue(_initializer.Initializer):
    """Initializer of a :class:`Constant`: copies the stored value."""

    def __init__(self, value):
        super().__init__()
        self._value = value

    def _init_weight(self, name, data):
        data[:] = self._value

    def __repr__(self):
        return f"Constant value of shape {self._value.shape}"


class Constant(Parameter):
    """A parameter that holds a fixed value and never gets a gradient (``grad_req='null'``).

    Parameters
    ----------
    name : str
    value : NDArray, numpy.ndarray, list or number
        The value; lists and numbers become float32, arrays keep their dtype.
    """

    def __init__(self, name: str, value: Any):
        if isinstance(value, NDArray):
            host = value.asnumpy()
        elif isinstance(value, np.ndarray):
            host = value.copy()
        else:
            host = np.asarray(value, dtype=np.float32)
        host = host.reshape(host.shape or (1,))
        self.value = from_data(host, ctx=cpu(0))
        super().__init__(name, grad_req="null", shape=host.shape, dtype=host.dtype,
                         init=_CopyValue(host))

    @property
    def grad_req(self) -> str:
        """Always 'null'; setting anything else warns and is ignored."""
        return "null"

    @grad_req.setter
    def grad_req(self, req: str) -> None:
        if req != "null":
            warnings.warn(f"Constant {self._name!r} keeps grad_req='null'; {req!r} is ignored",
                          stacklevel=2)
        self._grad_req = "null"


_MERGEABLE = ("grad_req", "lr_mult", "wd_mult", "init", "differentiable")


def _same_setting(a, b):
    """Equal settings; two initializers count as equal when they are configured alike, so that tied
    layers may each be given ``weight_initializer=init.Xavier()``."""
    if isinstance(a, _initializer.Initializer) and isinstance(b, _initializer.Initializer):
        return a is b or (type(a) is type(b) and a.dumps() == b.dumps())
    return a == b


class ParameterDict:
    """An ordered mapping from full names to :class:`Parameter` objects, with a name prefix.

    Parameters
    ----------
    prefix : str
        Prepended to every name given to :meth:`get`.
    shared : ParameterDict, optional
        Looked up by :meth:`get` before creating a parameter: this is how blocks built with
        ``params=other.params`` share Parameter objects.

    Examples
    --------
    >>> import gpuparams as gp
    >>> params = gp.ParameterDict("block0_")
    >>> w = params.get("weight", shape=(2, 3))
    >>> params
    block0_ (
      Parameter block0_weight (shape=(2, 3), dtype=float32)
    )
    """

    def __init__(self, prefix: str = "", shared: ParameterDict | None = None):
        if not isinstance(prefix, str):
            raise TypeError(f"ParameterDict prefix must be a str, got {prefix!r}")
        if shared is not None and not isinstance(shared, ParameterDict):
            raise TypeError(f"shared must be a ParameterDict (e.g. other_block.params), got "
                            f"{type(shared).__name__}")
        self._prefix = prefix
        self._params = {}
        self._shared = shared

    @property
    def prefix(self) -> str:
        """The prefix of the names this dict creates."""
        return self._prefix

    # ------------------------------------------------------------------ mapping API
    def __getitem__(self, key: str) -> Parameter:
        try:
            return self._params[key]
        except KeyError:
            raise KeyError(f"no parameter named {key!r} in this ParameterDict (names are full "
                           f"names, e.g. {self._prefix + 'weight'!r}); it holds "
                           f"{list(self._params)}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._params

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def keys(self) -> KeysView[str]:
        """Full names, in insertion order."""
        return self._params.keys()

    def values(self) -> ValuesView[Parameter]:
        """Parameters, in insertion order."""
        return self._params.values()

    def items(self) -> ItemsView[str, Parameter]:
        """(full name, Parameter) pairs."""
        return self._params.items()

    def __repr__(self):
        head = self._prefix + " " if self._prefix else ""
        body = "\n".join("  " + indent_continuation(repr(p), 2) for p in self._params.values())
        return f"{head}(\n{body}\n)"

    def update(self, other: ParameterDict | Mapping[str, Parameter]) -> None:
        """Add the parameters of another ParameterDict (or mapping); a name may only map to one object."""
        for name, param in other.items():
            mine = self._params.get(name)
            if mine is not None and mine is not param:
                raise ValueError(f"two different Parameters are both named {name!r}; give one of their "
                                 "blocks another prefix (prefix=...) or share it with params=...")
        for name, param in other.items():
            self._params[name] = param

    # ------------------------------------------------------------------ creation
    def _lookup(self, name):
        param = self._params.get(name)
        if param is None and self._shared is not None:
            param = self._shared._params.get(name)
            if param is not None:
                self._params[name] = param
        return param

    def get(self, name: str, **kwargs: Any) -> Parameter:
        """Return the parameter ``prefix + name``, creating it with ``kwargs`` if it does not exist.

        For an existing one, ``kwargs`` must agree with it: a shape may fill in its unknown (0)
        dimensions (and vice versa), ``init`` is taken if it had none, anything else must be equal.

        Raises
        ------
        ValueError
            When ``kwargs`` conflict with the stored parameter (e.g. another shape).
        """
        full = self._prefix + name
        param = self._lookup(full)
        if param is None:
            param = Parameter(full, **kwargs)
            self._params[full] = param
            return param
        for key, value in kwargs.items():
            if key == "shape":
                wanted = _normalize_shape(value, full)
                merged = merge_partial_shapes(param.shape, wanted)
                if merged is None:
                    raise ValueError(f"Parameter {full!r} already exists with shape {param.shape}, which "
                                     f"conflicts with the requested shape {wanted}")
                if merged != param.shape:
                    param.shape = merged
            elif key == "dtype":
                if normalize_dtype(value) != param.dtype:
                    raise ValueError(f"Parameter {full!r} already exists with dtype {param.dtype.name}, "
                                     f"not {np.dtype(value).name}")
            elif key == "allow_deferred_init":
                param.allow_deferred_init = param.allow_deferred_init or bool(value)
            elif key in _MERGEABLE:
                current = getattr(param, key)
                if value is None or _same_setting(value, current):
                    continue
                if current is None:
                    setattr(param, key, value)
                    continue
                raise ValueError(f"Parameter {full!r} already exists with {key}={current!r}, which "
                                 f"conflicts with the requested {key}={value!r}")
            else:
                raise TypeError(f"ParameterDict.get: unknown Parameter argument {key!r}")
        return param

    def get_constant(self, name: str, value: Any = None) -> Constant:
        """Return the :class:`Constant` ``prefix + name``, creating it from ``value`` if needed."""
        full = self._prefix + name
        param = self._lookup(full)
        if param is None:
            if value is None:
                raise KeyError(f"no constant named {full!r}; pass value=... to create it")
            param = Constant(full, value)
            self._params[full] = param
            return param
        if not isinstance(param, Constant):
            raise ValueError(f"{full!r} is a Parameter, not a Constant")
        if value is not None:
            host = value.asnumpy() if isinstance(value, NDArray) else np.asarray(value)
            if host.shape != param.shape or not np.array_equal(host, param.value.asnumpy()):
                raise ValueError(f"Constant {full!r} already exists with another value")
        return param

    # ------------------------------------------------------------------ bulk operations
    def initialize(self, init: _initializer.Initializer | str = _initializer.Uniform(),  # noqa: B008 (as MXNet)
                   ctx: ContextArg = None, verbose: bool = False, force_reinit: bool = False) -> None:
        """Initialize every parameter; ``init`` is the default for those without their own.

        Parameters
        ----------
        init : Initializer or str
            Default initializer (a parameter's own ``init`` wins over it).
        ctx : Context or list of Context, optional
            Where to keep copies (default: the current context).
        verbose : bool
            Print a line per initialized parameter.
        force_reinit : bool
            Re-draw parameters that are already initialized (otherwise each warns once and is kept).
        """
        init = _initializer.create(init)
        for param in self._params.values():
            param._initialize(None, ctx, init, force_reinit, verbose=verbose, stacklevel=4)

    def zero_grad(self) -> None:
        """Zero every gradient buffer in place."""
        for param in self._params.values():
            param.zero_grad()

    def reset_ctx(self, ctx: ContextArg) -> None:
        """Move every parameter to ``ctx``."""
        for param in self._params.values():
            param.reset_ctx(ctx)

    def list_ctx(self) -> list[Context]:
        """Every context some parameter lives on."""
        seen = []
        for param in self._params.values():
            for c in param.list_ctx():
                if c not in seen:
                    seen.append(c)
        return seen

    def setattr(self, name: str, value: Any) -> None:
        """Set attribute ``name`` (e.g. ``'grad_req'``, ``'lr_mult'``) on every parameter."""
        for param in self._params.values():
            setattr(param, name, value)

    def save(self, filename: str | os.PathLike, strip_prefix: str = "") -> None:
        """Write every parameter to an ``.npz`` file keyed by full name (minus ``strip_prefix``).

        The file is written atomically (a crash leaves any previous file intact).
        """
        arrays = {}
        for param in self._params.values():
            if not param.name.startswith(strip_prefix):
                raise ValueError(f"cannot strip prefix {strip_prefix!r} from Parameter {param.name!r}; "
                                 "use a prefix every name starts with (or none)")
            arrays[param.name[len(strip_prefix):]] = param._reduce()
        save_arrays(filename, arrays)

    def load(self, filename: str | os.PathLike, ctx: ContextArg = None, allow_missing: bool = False,
             ignore_extra: bool = False, restore_prefix: str = "", cast_dtype: bool = False,
             dtype_source: str = "current") -> None:
        """Load a file written by :meth:`save` (keys are ``restore_prefix`` + stored name).

        Everything is validated (and, with ``cast_dtype``, converted) before anything changes: a
        missing, extra, shape- or dtype-mismatched entry, or one that cannot be converted without
        changing its values, raises a ValueError listing all of them and leaves the parameters as
        they were. Values are copied into the existing arrays (or initialize parameters that had
        none, on ``ctx``).

        Parameters
        ----------
        filename : str or os.PathLike
        ctx : Context or list of Context, optional
            Where to place parameters (default: where they are, or where ``initialize`` said).
        allow_missing : bool
            Keep parameters the file lacks instead of raising.
        ignore_extra : bool
            Skip file entries matching no parameter instead of raising.
        restore_prefix : str
            Prepended to every stored name.
        cast_dtype : bool
            Accept a stored dtype that differs from the parameter's instead of raising; converting
            a stored value in a way that would change it (text, complex to real, NaN or fractions to
            an integer type, numbers outside the target's range) is refused.
        dtype_source : {'current', 'saved'}
            With ``cast_dtype``: convert the stored value to the parameter's dtype (``'current'``,
            default) or the parameter to the stored dtype (``'saved'``).
        """
        for name in self._params:
            if not name.startswith(restore_prefix):
                raise ValueError(f"restore_prefix {restore_prefix!r} does not start Parameter name "
                                 f"{name!r}; every name must start with it")
        loaded = load_arrays(filename, kind="gpuparams parameter file")
        entries = [(name, param, [name[len(restore_prefix):]]) for name, param in self._params.items()]
        load_checked_into(entries, loaded, filename, ctx, allow_missing, ignore_extra, cast_dtype,
                          dtype_source)

