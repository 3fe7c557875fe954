"""NDArray: a backend array (NumPy or CuPy) bound to a context, with autograd bookkeeping.

The operators themselves live in :mod:`gpuparams.ops`; this module holds the class, its Python
protocol methods, transfers between contexts, and dtype rules.
"""
from __future__ import annotations

import numpy as np

from . import backend
from ._tracing import refuse as _refuse_in_trace
from ._tracing import state as _trace
from .context import Context, current_context

__all__ = ["NDArray", "SUPPORTED_DTYPES", "normalize_dtype", "from_data", "from_backend", "copy_to_context"]

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


def from_backend(data, ctx):
    """Wrap backend ``data`` (a NumPy or CuPy array, not copied) as an NDArray on ``ctx``.

    The constructor every operator uses: no checks; 0-d data becomes shape ``(1,)`` as in MXNet.
    """
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
    out = from_backend(data, base._ctx)
    out._version = base._version
    return out


def copy_to_context(data, src, dst):
    """Copy backend ``data`` living on context ``src`` to context ``dst`` (always a new buffer)."""
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
        data = copy_to_context(data, src_ctx, ctx)
    xp = backend.array_module(ctx)
    with backend.device_scope(ctx):
        data = xp.array(data, dtype=dtype, copy=True)
    return from_backend(data, ctx)


_HOST_READ_FIX = ("a hybridized graph cannot depend on values read at trace time; keep the "
                  "computation in F.* operators, or do the host read outside the block")
_INPLACE_FIX = "write it out of place (y = y + v, F.where(mask, v, y)); a replay would skip the write"


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
        if _trace.hook is not None:
            _refuse_in_trace("asnumpy() reads the array's values on the host", _HOST_READ_FIX)
        if backend.is_cupy_array(self._data):
            return self._data.get()
        return np.array(self._data, copy=True)

    def asscalar(self):
        """Return the only element as a NumPy scalar; raises ValueError unless ``size == 1``."""
        if _trace.hook is not None:
            _refuse_in_trace("asscalar() reads the array's value on the host", _HOST_READ_FIX)
        if self.size != 1:
            raise ValueError(f"asscalar() needs an array with exactly one element, got shape {self.shape}; "
                             "reduce it first (e.g. .sum() or .mean())")
        return self.asnumpy().reshape(-1)[0]

    def item(self):
        """Python scalar of a one-element array (like ``asscalar`` but a Python number)."""
        return self.asscalar().item()

    def __array__(self, dtype=None, copy=None):
        if _trace.hook is not None:
            _refuse_in_trace("np.asarray() reads the array's values on the host", _HOST_READ_FIX)
        if self._ctx.device_type != "cpu":
            raise TypeError(f"np.asarray() needs a cpu array, this one is on {self._ctx}; "
                            "use x.asnumpy() to copy it to the host")
        data = self._data
        if dtype is not None and np.dtype(dtype) != data.dtype:
            return data.astype(dtype)
        return data.copy() if copy else data

    def __float__(self):
        if _trace.hook is not None:
            _refuse_in_trace("float() reads the array's value on the host", _HOST_READ_FIX)
        return float(self.asscalar())

    def __int__(self):
        if _trace.hook is not None:
            _refuse_in_trace("int() reads the array's value on the host", _HOST_READ_FIX)
        return int(self.asscalar())

    def __bool__(self):
        if _trace.hook is not None:
            _refuse_in_trace("Python control flow on an array's value (if/while/and/or on an NDArray)",
                             "compute both branches and select with F.where(cond, a, b)")
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
        return _ops.to_context(self, context)

    def copyto(self, other):
        """Copy into ``other``: a Context (returns a new array there) or an NDArray of the same shape
        (written in place; returns it)."""
        if isinstance(other, Context):
            return _ops.to_context(self, other) if other is not self._ctx else self.copy()
        if not isinstance(other, NDArray):
            raise TypeError(f"copyto() takes a Context or an NDArray, got {type(other).__name__}")
        if other.shape != self.shape:
            raise ValueError(f"copyto: shapes differ, {self.shape} -> {other.shape}")
        data = self._data if other._ctx is self._ctx else copy_to_context(self._data, self._ctx, other._ctx)
        other._assign(data)
        return other

    def copy(self):
        """A new array with the same data on the same context (recorded, so it is differentiable)."""
        return _ops.copy(self)

    def zeros_like(self):
        """Zeros with this array's shape, dtype and context (MXNet's ``x.zeros_like()``).

        Returns
        -------
        NDArray
            A new array, not recorded by autograd (like ``nd.zeros_like(x)``).
        """
        return from_backend(self._zeros_like_data(), self._ctx)

    def ones_like(self):
        """Ones with this array's shape, dtype and context (MXNet's ``x.ones_like()``).

        Returns
        -------
        NDArray
            A new array, not recorded by autograd (like ``nd.ones_like(x)``).
        """
        return from_backend(self._ones_like_data(), self._ctx)

    def wait_to_read(self):
        """Block until pending device work that writes this array is done (MXNet's name).

        CPU arrays are always ready; on a GPU this synchronizes the array's device, which is what
        timing code needs before reading a clock.
        """
        if backend.is_cupy_array(self._data):
            self._data.device.synchronize()

    # ----------------------------------------------------------------- Python operators
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.subtract(self, other)

    def __rsub__(self, other):
        return _ops.subtract(other, self)

    def __mul__(self, other):
        return _ops.multiply(self, other)

    def __rmul__(self, other):
        return _ops.multiply(other, self)

    def __truediv__(self, other):
        return _ops.divide(self, other)

    def __rtruediv__(self, other):
        return _ops.divide(other, self)

    def __pow__(self, other):
        return _ops.power(self, other)

    def __rpow__(self, other):
        return _ops.power(other, self)

    def __matmul__(self, other):
        return _ops.dot(self, other)

    def __neg__(self):
        return _ops.negative(self)

    def __abs__(self):
        return _ops.abs(self)

    def __eq__(self, other):
        return _ops.equal(self, other)

    def __ne__(self, other):
        return _ops.not_equal(self, other)

    def __gt__(self, other):
        return _ops.greater(self, other)

    def __ge__(self, other):
        return _ops.greater_equal(self, other)

    def __lt__(self, other):
        return _ops.lesser(self, other)

    def __le__(self, other):
        return _ops.lesser_equal(self, other)

    def __getitem__(self, key):
        return _ops.getitem(self, key)

    # ----------------------------------------------------------------- operators as methods
    # Each calls its registered operator (gpuparams.ops); tests/test_registry.py checks that every
    # operator declaring a method has one here and that it calls that operator.
    def exp(self):
        """Elementwise ``e**x``: ``nd.exp``."""
        return _ops.exp(self)

    def log(self):
        """Elementwise natural logarithm: ``nd.log``."""
        return _ops.log(self)

    def sqrt(self):
        """Elementwise square root: ``nd.sqrt``."""
        return _ops.sqrt(self)

    def square(self):
        """Elementwise ``x*x``: ``nd.square``."""
        return _ops.square(self)

    def abs(self):
        """Elementwise absolute value (gradient 0 at 0): ``nd.abs``."""
        return _ops.abs(self)

    def sign(self):
        """Elementwise sign (not differentiable: gradient 0): ``nd.sign``."""
        return _ops.sign(self)

    def clip(self, a_min, a_max):
        """Limit values to ``[a_min, a_max]``; the gradient passes where the value was inside:
        ``nd.clip``.
        """
        return _ops.clip(self, a_min, a_max)

    def relu(self):
        """``max(x, 0)``; the gradient passes where the output is positive: ``nd.relu``."""
        return _ops.relu(self)

    def sigmoid(self):
        """Logistic function ``1 / (1 + exp(-x))``, computed without overflow for large ``|x|``:
        ``nd.sigmoid``.
        """
        return _ops.sigmoid(self)

    def tanh(self):
        """Hyperbolic tangent: ``nd.tanh``."""
        return _ops.tanh(self)

    def softmax(self, axis=-1):
        """Softmax along ``axis`` (max-subtracted, so large logits do not overflow): ``nd.softmax``."""
        return _ops.softmax(self, axis)

    def log_softmax(self, axis=-1):
        """``log(softmax(x))`` computed as ``x - logsumexp(x)`` for stability: ``nd.log_softmax``."""
        return _ops.log_softmax(self, axis)

    def sum(self, axis=None, keepdims=False, exclude=False):
        """Sum over ``axis`` (all axes by default; ``exclude=True`` reduces all *but* ``axis``):
        ``nd.sum``.
        """
        return _ops.sum(self, axis, keepdims, exclude)

    def mean(self, axis=None, keepdims=False, exclude=False):
        """Mean over ``axis`` (all axes by default): ``nd.mean``."""
        return _ops.mean(self, axis, keepdims, exclude)

    def max(self, axis=None, keepdims=False, exclude=False):
        """Maximum over ``axis``; ties share the gradient equally: ``nd.max``."""
        return _ops.max(self, axis, keepdims, exclude)

    def min(self, axis=None, keepdims=False, exclude=False):
        """Minimum over ``axis``; ties share the gradient equally: ``nd.min``."""
        return _ops.min(self, axis, keepdims, exclude)

    def norm(self):
        """The L2 (Frobenius) norm of all elements, shape ``(1,)`` (differentiable): ``nd.norm``."""
        return _ops.norm(self)

    def dot(self, b, transpose_a=False, transpose_b=False):
        """Matrix product. 1-D·1-D is the inner product; N-D arrays contract ``a``'s last axis with:
        ``nd.dot``.
        """
        return _ops.dot(self, b, transpose_a, transpose_b)

    def reshape(self, *shape, **kwargs):
        """Return ``x`` with a new shape (a view when possible); one dim may be -1: ``nd.reshape``."""
        return _ops.reshape(self, *shape, **kwargs)

    def transpose(self, axes=None):
        """Permute the axes (reverse them by default): ``nd.transpose``."""
        return _ops.transpose(self, axes)

    def expand_dims(self, axis):
        """Insert a dimension of size 1 at ``axis``: ``nd.expand_dims``."""
        return _ops.expand_dims(self, axis)

    def squeeze(self, axis=None):
        """Remove dimensions of size 1 (all of them, or those in ``axis``): ``nd.squeeze``."""
        return _ops.squeeze(self, axis)

    def flatten(self):
        """Collapse all axes but the first: ``(N, ...) -> (N, prod(...))``: ``nd.flatten``."""
        return _ops.flatten(self)

    def swapaxes(self, dim1, dim2):
        """Swap two axes: ``nd.swapaxes``."""
        return _ops.swapaxes(self, dim1, dim2)

    def astype(self, dtype, copy=True):
        """Cast to ``dtype`` (the gradient is cast back to the input's dtype):
        ``gpuparams.ops.astype``.
        """
        return _ops.astype(self, dtype, copy)

    def take(self, indices, axis=0, mode='clip'):
        """Gather slices of ``a`` along ``axis`` at ``indices`` (MXNet's ``take``): ``nd.take``."""
        return _ops.take(self, indices, axis, mode)

    def pick(self, index, axis=-1, keepdims=False, mode='clip'):
        """Pick one element along ``axis`` for every position of the other axes (MXNet's ``pick``):
        ``nd.pick``.
        """
        return _ops.pick(self, index, axis, keepdims, mode)

    def one_hot(self, depth, on_value=1.0, off_value=0.0, dtype='float32'):
        """One-hot encoding: ``out[..., k]`` is ``on_value`` where ``indices == k``, else
        ``off_value``: ``nd.one_hot``.
        """
        return _ops.one_hot(self, depth, on_value, off_value, dtype)

    def argmax(self, axis=None, keepdims=False):
        """Index of the maximum along ``axis`` (of the flattened array if ``axis`` is None):
        ``nd.argmax``.
        """
        return _ops.argmax(self, axis, keepdims)

    def argmin(self, axis=None, keepdims=False):
        """Index of the minimum along ``axis`` (of the flattened array if ``axis`` is None):
        ``nd.argmin``.
        """
        return _ops.argmin(self, axis, keepdims)

    def split(self, num_outputs, axis=1, squeeze_axis=False):
        """Split an array into ``num_outputs`` equal parts along ``axis`` (MXNet's ``split``):
        ``nd.split``.
        """
        return _ops.split(self, num_outputs, axis, squeeze_axis)

    def slice_axis(self, axis, begin, end):
        """The slice ``begin:end`` of ``data`` along one axis (MXNet's ``slice_axis``):
        ``nd.slice_axis``.
        """
        return _ops.slice_axis(self, axis, begin, end)

    def broadcast_to(self, shape):
        """Broadcast ``data`` to ``shape`` by repeating its size-1 dimensions (MXNet's
        ``broadcast_to``): ``nd.broadcast_to``.
        """
        return _ops.broadcast_to(self, shape)

    def broadcast_axes(self, axis=(), size=()):
        """Broadcast the size-1 ``axis`` (or axes) of ``data`` to ``size`` (MXNet's
        ``broadcast_axis``): ``nd.broadcast_axis``.
        """
        return _ops.broadcast_axis(self, axis, size)

    def tile(self, reps):
        """Repeat the whole array ``reps[i]`` times along each axis (MXNet's ``tile``, NumPy's
        rules): ``nd.tile``.
        """
        return _ops.tile(self, reps)

    def repeat(self, repeats, axis=None):
        """Repeat each element ``repeats`` times along ``axis`` (MXNet's ``repeat``): ``nd.repeat``."""
        return _ops.repeat(self, repeats, axis)

    def flip(self, axis):
        """Reverse the order of the elements along ``axis`` (MXNet's ``flip``, alias ``reverse``):
        ``nd.flip``.
        """
        return _ops.flip(self, axis)

    def sort(self, axis=-1, is_ascend=True):
        """Sort along ``axis`` (MXNet's ``sort``): ``nd.sort``."""
        return _ops.sort(self, axis, is_ascend)

    def argsort(self, axis=-1, is_ascend=True, dtype='float32'):
        """Indices that sort ``data`` along ``axis`` (MXNet's ``argsort``): ``nd.argsort``."""
        return _ops.argsort(self, axis, is_ascend, dtype)

    def topk(self, axis=-1, k=1, ret_typ='indices', is_ascend=False, dtype='float32'):
        """The ``k`` largest (or smallest) elements along ``axis`` (MXNet's ``topk``): ``nd.topk``."""
        return _ops.topk(self, axis, k, ret_typ, is_ascend, dtype)

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
            self._grad = from_backend(self._zeros_like_data(), self._ctx)
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
        # The device of this array's data (not of its context now): an array made on the emulated
        # gpu(0) keeps working after emulation is switched off.
        device = backend.device_of(self)
        with device.scope():
            return device.xp.zeros(self._data.shape, dtype=self._data.dtype)

    def _ones_like_data(self):
        device = backend.device_of(self)
        with device.scope():
            return device.xp.ones(self._data.shape, dtype=self._data.dtype)

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
        if _trace.hook is not None:
            _refuse_in_trace("an in-place write (x[...] = v)", _INPLACE_FIX)
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
        key = _ops.shape.backend_key(key, self._ctx)
        if isinstance(value, NDArray):
            if value._ctx is not self._ctx:
                raise ValueError(f"cannot assign an array on {value._ctx} into an array on {self._ctx}; "
                                 f"use value.as_in_context({self._ctx})")
            value = value._data
        elif isinstance(value, np.ndarray) and self._ctx.device_type != "cpu":
            value = copy_to_context(value, Context("cpu", 0), self._ctx)
        self._assign(value, key)

    def _inplace(self, other, op_name, apply):
        if _trace.hook is not None:
            _refuse_in_trace(f"an in-place update (x {op_name} v)", _INPLACE_FIX)
        self._check_writable()
        if isinstance(other, NDArray) and other._ctx is not self._ctx:
            raise ValueError(f"{op_name}: operands are on different contexts, {self._ctx} and "
                             f"{other._ctx}; use x.as_in_context({self._ctx})")
        try:
            apply(self._data, _ops._core.operand(other, self._ctx))
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


# The operators import this module (they build NDArrays), so the package is bound at the end; the
# methods above look ``_ops`` up when they run.
from . import ops as _ops  # noqa: E402
