"""NDArray: a backend array (NumPy or CuPy) bound to a context, with autograd bookkeeping.

The operators themselves live in :mod:`gpuparams.ops`; this module holds the class, its Python
protocol methods, transfers between contexts, and dtype rules.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .context import Context, current_context

__all__ = ["NDArray", "SUPPORTED_DTYPES", "normalize_dtype", "from_data"]

#: dtypes an NDArray may hold (MXNet 1.x's set).
SUPPORTED_DTYPES = tuple(np.dtype(t) for t in
                         ("float16", "float32", "float64", "uint8", "int8", "int32", "int64"))
_SUPPORTED = frozenset(SUPPORTED_DTYPES)


def normalize_dtype(dtype, what="dtype"):
    """Return ``np.dtype(dtype)`` if gpuparams supports it, else raise a TypeError listing the choices."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{what} {dtype!r} is not a dtype: use one of "
                        f"{', '.join(d.name for d in SUPPORTED_DTYPES)}") from exc
    if dt not in _SUPPORTED:
        raise TypeError(f"{what} {dt.name} is not supported: use one of "
                        f"{', '.join(d.name for d in SUPPORTED_DTYPES)} (e.g. .astype('float32'))")
    return dt


def _new(data, ctx):
    """Fast constructor used by every operator: no checks, 0-d data becomes shape (1,) as in MXNet."""
    if data.ndim == 0:
        data = data.reshape(1)
    out = object.__new__(NDArray)
    out._data = data
    out._ctx = ctx
    out._grad = None
    out._grad_req = "null"
    out._node = None
    out._version = [0]
    out._fresh_grad = False
    return out


def _view(data, base):
    """An NDArray over a view of ``base``'s buffer; it shares ``base``'s version counter so that an
    in-place write through either one is seen by autograd's saved-array check."""
    out = _new(data, base._ctx)
    out._version = base._version
    return out


def _to_context(data, src, dst):
    """Copy backend ``data`` living on ``src`` to context ``dst`` (always a new buffer)."""
    dst_xp = backend.array_module(dst)
    if dst_xp is np:
        if backend.is_cupy_array(data):
            return data.get()
        return np.array(data, copy=True)
    with backend.device_scope(dst):
        return dst_xp.array(data, copy=True)


def from_data(source, ctx=None, dtype=None):
    """Build an NDArray from a list, NumPy array, scalar or NDArray (always a copy).

    Lists and scalars become float32 unless ``dtype`` says otherwise; NumPy arrays and NDArrays keep
    their dtype (MXNet's rule).
    """
    ctx = Context(ctx) if ctx is not None else current_context()
    if isinstance(source, NDArray):
        data, src_ctx = source._data, source._ctx
        if dtype is None:
            dtype = data.dtype
    else:
        src_ctx = None
        if isinstance(source, np.ndarray):
            data = source
        elif backend.is_cupy_array(source):
            data, src_ctx = source, Context("gpu", source.device.id)
        else:
            try:
                data = np.asarray(source)
            except (ValueError, TypeError) as exc:
                raise TypeError(f"cannot build an NDArray from {type(source).__name__}: {exc}") from exc
            if dtype is None:
                dtype = np.float32
        if dtype is None:
            dtype = data.dtype
    dtype = normalize_dtype(dtype)
    if src_ctx is not None and src_ctx is not ctx:
        data = _to_context(data, src_ctx, ctx)
    xp = backend.array_module(ctx)
    with backend.device_scope(ctx):
        data = xp.array(data, dtype=dtype, copy=True)
    return _new(data, ctx)


class NDArray:
    """An n-dimensional array on a context, recorded by :mod:`gpuparams.autograd`.

    Create arrays with :mod:`gpuparams.nd` (``nd.array``, ``nd.zeros``, ``nd.random.uniform`` ...);
    operators (``+ - * / ** @``, comparisons), indexing, in-place slice assignment and the methods
    below follow MXNet 1.x. Comparisons return 0./1. arrays of the operands' dtype.
    """

    __slots__ = ("_data", "_ctx", "_grad", "_grad_req", "_node", "_version", "_fresh_grad",
                 "__weakref__")
    # NumPy must hand mixed expressions (np.float32(2) * x) to our reflected operators.
    __array_priority__ = 1000.0
    __array_ufunc__ = None

    def __init__(self, data, ctx=None, dtype=None):
        other = from_data(data, ctx=ctx, dtype=dtype)
        for slot in ("_data", "_ctx", "_grad", "_grad_req", "_node", "_version", "_fresh_grad"):
            setattr(self, slot, getattr(other, slot))

    # ----------------------------------------------------------------- properties
    @property
    def shape(self):
        """Tuple of dimensions."""
        return tuple(self._data.shape)

    @property
    def dtype(self):
        """NumPy dtype of the elements."""
        return self._data.dtype

    @property
    def size(self):
        """Number of elements."""
        return int(self._data.size)

    @property
    def ndim(self):
        """Number of dimensions."""
        return self._data.ndim

    @property
    def context(self):
        """The :class:`~gpuparams.context.Context` holding the data."""
        return self._ctx

    ctx = context

    @property
    def grad(self):
        """The gradient buffer attached by :meth:`attach_grad` (``None`` if none)."""
        return self._grad

    @property
    def T(self):
        """Transpose (reverses the axes)."""
        return self.transpose()

    # ----------------------------------------------------------------- conversion
    def asnumpy(self):
        """Return a NumPy copy of the data (copied to the host from a GPU)."""
        if backend.is_cupy_array(self._data):
            return self._data.get()
        return np.array(self._data, copy=True)

    def asscalar(self):
        """Return the only element as a NumPy scalar; raises ValueError unless ``size == 1``."""
        if self.size != 1:
            raise ValueError(f"asscalar() needs an array with exactly one element, got shape {self.shape}; "
                             "reduce it first (e.g. .sum() or .mean())")
        return self.asnumpy().reshape(-1)[0]

    def item(self):
        """Python scalar of a one-element array (like ``asscalar`` but a Python number)."""
        return self.asscalar().item()

    def __array__(self, dtype=None, copy=None):
        if self._ctx.device_type != "cpu":
            raise TypeError(f"np.asarray() needs a cpu array, this one is on {self._ctx}; "
                            "use x.asnumpy() to copy it to the host")
        data = self._data
        if dtype is not None and np.dtype(dtype) != data.dtype:
            return data.astype(dtype)
        return data.copy() if copy else data

    def __float__(self):
        return float(self.asscalar())

    def __int__(self):
        return int(self.asscalar())

    def __bool__(self):
        if self.size != 1:
            raise ValueError(f"the truth value of an NDArray of shape {self.shape} is ambiguous; "
                             "use (x == y).sum() or x.asnumpy().any()")
        return bool(self.asscalar())

    def __index__(self):
        if self.size != 1 or self.dtype.kind not in "iu":
            raise TypeError("only one-element integer NDArrays can be used as an index")
        return int(self.asscalar())

    def __len__(self):
        return self.shape[0]

    def __iter__(self):
        for i in range(self.shape[0]):
            yield self[i]

    __hash__ = object.__hash__

    def __repr__(self):
        shape = "x".join(str(n) for n in self.shape)
        return f"\n{self.asnumpy()}\n<NDArray {shape} @{self._ctx}>"

    __str__ = __repr__

    def __reduce__(self):
        # Pickling is not how gpuparams stores arrays (files are .npz, loaded without pickle), but
        # copy.deepcopy and multiprocessing use this protocol.
        return (from_data, (self.asnumpy(), self._ctx))

    # ----------------------------------------------------------------- contexts
    def as_in_context(self, context):
        """Return this array on ``context`` (``self`` when it is already there)."""
        context = Context(context)
        if context is self._ctx:
            return self
        from .ops import shape as _shape_ops
        return _shape_ops.to_context(self, context)

    def copyto(self, other):
        """Copy into ``other``: a Context (returns a new array there) or an NDArray of the same shape
        (written in place; returns it)."""
        if isinstance(other, Context):
            from .ops import shape as _shape_ops
            return _shape_ops.to_context(self, other) if other is not self._ctx else self.copy()
        if not isinstance(other, NDArray):
            raise TypeError(f"copyto() takes a Context or an NDArray, got {type(other).__name__}")
        if other.shape != self.shape:
            raise ValueError(f"copyto: shapes differ, {self.shape} -> {other.shape}")
        data = self._data if other._ctx is self._ctx else _to_context(self._data, self._ctx, other._ctx)
        other._assign(data)
        return other

    def copy(self):
        """A new array with the same data on the same context (recorded, so it is differentiable)."""
        from .ops import shape as _shape_ops
        return _shape_ops.copy(self)

    def zeros_like(self):
        """Zeros with this array's shape, dtype and context (MXNet's ``x.zeros_like()``).

        Returns
        -------
        NDArray
            A new array, not recorded by autograd (like ``nd.zeros_like(x)``).
        """
        return _new(self._zeros_like_data(), self._ctx)

    def ones_like(self):
        """Ones with this array's shape, dtype and context (MXNet's ``x.ones_like()``).

        Returns
        -------
        NDArray
            A new array, not recorded by autograd (like ``nd.ones_like(x)``).
        """
        return _new(self._ones_like_data(), self._ctx)

    def wait_to_read(self):
        """Block until pending device work that writes this array is done (MXNet's name).

        CPU arrays are always ready; on a GPU this synchronizes the array's device, which is what
        timing code needs before reading a clock.
        """
        if backend.is_cupy_array(self._data):
            self._data.device.synchronize()

    # ----------------------------------------------------------------- autograd
    def attach_grad(self, grad_req="write", stype=None):
        """Allocate a zero gradient buffer and mark this array as a leaf to differentiate.

        Parameters
        ----------
        grad_req : {'write', 'add', 'null'}
            'write' overwrites the gradient at each backward, 'add' accumulates, 'null' detaches.
        """
        if grad_req not in ("write", "add", "null"):
            raise ValueError(f"grad_req must be 'write', 'add' or 'null', got {grad_req!r}")
        self._node = None  # attaching a gradient makes the array a new leaf (detaches it)
        self._grad_req = grad_req
        if grad_req == "null":
            self._grad = None
        else:
            self._grad = _new(self._zeros_like_data(), self._ctx)
        self._fresh_grad = False

    def detach(self):
        """A new array sharing this data but cut from the recorded graph."""
        return _view(self._data, self)

    def backward(self, out_grad=None, retain_graph=False, train_mode=True, *, head=None):
        """Backpropagate from this array (a head gradient of ones when ``out_grad`` is None)."""
        from . import autograd
        if head is not None:
            out_grad = head
        autograd.backward([self], [out_grad], retain_graph=retain_graph, train_mode=train_mode)

    def _write_grad(self, g):
        """Store a computed gradient according to ``grad_req`` (called by autograd.backward)."""
        if self._grad_req == "null" or self._grad is None:
            return
        if g.dtype != self._grad._data.dtype:
            g = g.astype(self._grad._data.dtype)
        if self._grad_req == "add":
            self._grad._data += g
        else:
            self._grad._data[...] = g
        self._grad._version[0] += 1
        self._fresh_grad = True

    def _zeros_like_data(self):
        xp = backend.array_module(self._ctx)
        with backend.device_scope(self._ctx):
            return xp.zeros(self._data.shape, dtype=self._data.dtype)

    def _ones_like_data(self):
        xp = backend.array_module(self._ctx)
        with backend.device_scope(self._ctx):
            return xp.ones(self._data.shape, dtype=self._data.dtype)

    # ----------------------------------------------------------------- in-place writes
    def _check_writable(self):
        node = self._node
        if node is not None and not node.freed:
            raise RuntimeError(
                f"in-place write to an array of shape {self.shape} that is the recorded result of "
                f"'{node.name}': its gradient would be wrong. Use an out-of-place expression "
                "(y = y + 1), or call backward() first")

    def _assign(self, data, key=Ellipsis):
        """Write backend data (or a scalar) into ``self[key]`` and bump the version."""
        self._check_writable()
        if getattr(data, "ndim", 0) > 0 and data.size == 1:
            # A one-element array (MXNet has no 0-d arrays, so x.sum() has shape (1,)) broadcasts to
            # any target, including a single element: Y[i, j] = (X[i:i+h, j:j+w] * K).sum()
            data = data.reshape(())
        try:
            self._data[key] = data
        except ValueError as exc:
            raise ValueError(f"cannot assign a value of shape {getattr(data, 'shape', ())} to "
                             f"x[{_key_repr(key)}] of an array of shape {self.shape}: {exc}") from None
        self._version[0] += 1

    def __setitem__(self, key, value):
        from .ops import shape as _shape_ops
        key = _shape_ops.backend_key(key, self._ctx)
        if isinstance(value, NDArray):
            if value._ctx is not self._ctx:
                raise ValueError(f"cannot assign an array on {value._ctx} into an array on {self._ctx}; "
                                 f"use value.as_in_context({self._ctx})")
            value = value._data
        elif isinstance(value, np.ndarray) and self._ctx.device_type != "cpu":
            value = _to_context(value, Context("cpu", 0), self._ctx)
        self._assign(value, key)

    def _inplace(self, other, op_name, apply):
        self._check_writable()
        from .ops._core import operand
        if isinstance(other, NDArray) and other._ctx is not self._ctx:
            raise ValueError(f"{op_name}: operands are on different contexts, {self._ctx} and "
                             f"{other._ctx}; use x.as_in_context({self._ctx})")
        try:
            apply(self._data, operand(other, self._ctx))
        except ValueError as exc:
            other_shape = other.shape if isinstance(other, NDArray) else ()
            raise ValueError(f"{op_name}: cannot update an array of shape {self.shape} in place with "
                             f"shape {other_shape}: {exc}") from None
        self._version[0] += 1
        return self

    def __iadd__(self, other):
        return self._inplace(other, "+=", _iadd)

    def __isub__(self, other):
        return self._inplace(other, "-=", _isub)

    def __imul__(self, other):
        return self._inplace(other, "*=", _imul)

    def __itruediv__(self, other):
        return self._inplace(other, "/=", _idiv)


def _iadd(a, b):
    a += b


def _isub(a, b):
    a -= b


def _imul(a, b):
    a *= b


def _idiv(a, b):
    a /= b


def _key_repr(key):
    if key is Ellipsis:
        return ":"
    return repr(key)


from . import ops as _ops  # noqa: E402  (the operators attach themselves to NDArray)
