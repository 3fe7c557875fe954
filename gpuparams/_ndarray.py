"""NDArray: a backend array (NumPy or CuPy) bound to a context, with autograd bookkeeping.

The operators themselves live in :mod:`gpuparams.ops`; this module holds the class, its Python
protocol methods, transfers between contexts, and dtype rules.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Optional, Sequence, Union

import numpy as np

from . import backend
from ._hostarray import host_array
from ._unsupported import missing_name
from .errors import ArrayConversionError
from ._tracing import refuse as _refuse_in_trace
from ._tracing import refuse_in_capture as _refuse_in_capture
from ._tracing import state as _trace
from .context import Context, current_context

#: What the public API accepts where it takes a context, an axis or a dtype.
ContextLike = Union[Context, str]
Axis = Optional[Union[int, Sequence[int]]]
DTypeLike = Any  # a NumPy dtype, its name ('float32') or a type (np.float32); None for the default

__all__ = ["NDArray", "SUPPORTED_DTYPES", "normalize_dtype", "from_data", "from_backend", "copy_to_context",
           "check_integer_range", "check_fill_value", "python_values", "numbers_of_objects"]

#: dtypes an NDArray may hold (MXNet 1.x's set).
SUPPORTED_DTYPES = tuple(np.dtype(t) for t in
                         ("float16", "float32", "float64", "uint8", "int8", "int32", "int64"))
_SUPPORTED = frozenset(SUPPORTED_DTYPES)


_BOOL = np.dtype(bool)
_NUMPY_SCALARS = frozenset(t for t in np.sctypeDict.values() if issubclass(t, np.generic))


def normalize_dtype(dtype, what="dtype", allow_bool=False):
    """Return ``np.dtype(dtype)`` if gpuparams supports it, else raise a TypeError listing the choices.

    ``allow_bool`` admits ``bool`` too (the NumPy front end's comparison results and masks).
    """
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{what} {dtype!r} is not a dtype: use one of "
                        f"{', '.join(d.name for d in SUPPORTED_DTYPES)}") from exc
    if dt not in _SUPPORTED and not (allow_bool and dt == _BOOL):
        raise TypeError(f"{what} {dt.name} is not supported: use one of "
                        f"{', '.join(d.name for d in SUPPORTED_DTYPES)} (e.g. .astype('float32'))")
    return dt


def from_backend(data, ctx, cls=None, keep_0d=False):
    """Wrap backend ``data`` (a NumPy or CuPy array, not copied) as an NDArray on ``ctx``.

    The constructor every operator uses: no checks. ``cls`` is the front end's array class (NDArray by
    default, ``gpuparams.np.ndarray`` for the NumPy interface); for a class without NumPy semantics,
    0-d data becomes shape ``(1,)`` as MXNet's ``nd`` operators give (``x.sum()`` has shape ``(1,)``)
    unless ``keep_0d`` (``nd.array`` of a 0-d array).
    """
    if cls is None:
        cls = NDArray
    if data.ndim == 0:
        if not cls._numpy_semantics:
            if not keep_0d:
                data = data.reshape(1)
        elif type(data) in _NUMPY_SCALARS:  # NumPy reductions give scalars; the np front end keeps 0-d
            data = np.asarray(data)
    out = object.__new__(cls)
    out._data = data
    out._ctx = ctx
    out._grad = None
    out._grad_req = "null"
    out._node = None
    out._version = [0]
    out._fresh_grad = False
    return out


def front_of(arrays):
    """The array class a result of ``arrays`` gets: ``np.ndarray`` when any of them is one (so the
    NumPy front end's semantics win in mixed expressions), else NDArray."""
    for x in arrays:
        if x is not None and type(x) is not NDArray:
            return type(x)
    return NDArray


def _view(data, base):
    """An NDArray over a view of ``base``'s buffer; it shares ``base``'s version counter so that an
    in-place write through either one is seen by autograd's saved-array check."""
    out = from_backend(data, base._ctx, type(base))
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


def from_data(source, ctx=None, dtype=None, keep_0d=False, what="nd.array"):
    """Build an NDArray from a list, NumPy array, scalar or NDArray (always a copy).

    Lists and scalars become float32 unless ``dtype`` says otherwise; NumPy arrays and NDArrays keep
    their dtype (MXNet's rule). A NumPy object array (what pandas 2 gives for dummy columns) holding
    numbers or bools becomes float32 (or ``dtype``), as in MXNet. A 0-d source gives shape ``(1,)``
    unless ``keep_0d``. ``what`` names the caller in error messages (``'nd.arange'``).

    Nothing is converted into a wrong value: ``None``, strings and other objects raise an
    :class:`~gpuparams.errors.ArrayConversionError` naming their position, and values an integer
    ``dtype`` cannot hold an ``OverflowError`` (see :func:`check_integer_range`).
    """
    ctx = Context(ctx) if ctx is not None else current_context()
    if isinstance(source, np.ndarray) and source.dtype.kind == "O":
        source = numbers_of_objects(source, dtype, what)
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
            data = python_values(source, what)
            if data.dtype.kind == "O":  # numbers NumPy keeps as objects (ints beyond int64)
                data = numbers_of_objects(data, dtype, what)
            if dtype is None:
                dtype = np.float32
        if dtype is None:
            dtype = data.dtype
    if data.dtype.kind not in "biuf":
        # Strings (NumPy would parse '2'), complex numbers (it would drop the imaginary part), dates.
        normalize_dtype(data.dtype, what=f"{what}: source dtype")
    dtype = normalize_dtype(dtype)
    if src_ctx is not None and src_ctx is not ctx:
        data = copy_to_context(data, src_ctx, ctx)
    xp = backend.array_module(ctx)
    with backend.device_scope(ctx):
        check_integer_range(data, dtype, what)
        data = xp.array(data, dtype=dtype, copy=True)
    return from_backend(data, ctx, keep_0d=keep_0d)


def element_name(index):
    """``'element [1, 0]'`` for a position in an array, ``'the value'`` for a scalar's ``()``."""
    return "element [" + ", ".join(map(str, index)) + "]" if index else "the value"


_NUMBER_TYPES = (bool, int, float, np.integer, np.floating, np.bool_)


def _is_number(value):
    # Real numbers only: an NDArray holds no complex values, strings ('2' too) are not numbers.
    return isinstance(value, _NUMBER_TYPES)


def _not_a_number(what, index, item, in_object_array):
    """The ArrayConversionError for ``item``, found at ``index`` of a list or of an object array."""
    where = element_name(index)
    if in_object_array:
        head = (f"{what}: {where} of the object array holds {_shown(item)} ({type(item).__name__}), "
                "not a number")
        if item is None:
            fix = "fill the missing values first (e.g. df.fillna(0), or float('nan') where NaN is meant)"
        elif isinstance(item, (str, bytes)):
            fix = ("strings are not numbers, even numeric ones: convert the column first, e.g. "
                   "pd.to_numeric(df[col]) or df.astype('float32')")
        else:
            fix = "convert the column first, e.g. df.astype('float32') or pd.get_dummies(..., dtype=float)"
        return ArrayConversionError(f"{head}; {fix}")
    if item is None:
        return ArrayConversionError(f"{what}: {where} is None, not a number; fill missing values "
                                    "explicitly (e.g. float('nan'))")
    if isinstance(item, (str, bytes)):
        return ArrayConversionError(f"{what}: {where} is the string {item!r}; strings are not numbers "
                                    "(convert them with float() first)")
    return ArrayConversionError(f"{what}: {where} is {_shown(item)} (a {type(item).__name__}), not a number")


def _shown(item):
    """``repr(item)``, cut short: an error names the value, it does not print a whole object."""
    text = repr(item)
    return text if len(text) <= 80 else text[:77] + "..."


def _refuse_non_numbers(values, what, in_object_array):
    """Raise for the first element of the object array ``values`` that is not a real number."""
    # One pass over the element types first: a large object array of numbers (a pandas column)
    # costs no Python-level loop over positions.
    if all(issubclass(t, _NUMBER_TYPES) for t in set(map(type, values.flat))):
        return
    for index in np.ndindex(values.shape):
        item = values[index]
        if not _is_number(item):
            raise _not_a_number(what, index, item, in_object_array)


def python_values(source, what="nd.array"):
    """Lists, tuples and scalars as a NumPy array, refusing what would silently become NaN or
    garbage (``None``, strings, other objects) with an
    :class:`~gpuparams.errors.ArrayConversionError` naming the position of the first such element.

    The result is numeric, or an object array of numbers (Python ints beyond int64).
    """
    try:
        values = np.asarray(source)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{what}: cannot build an array from {type(source).__name__}: {exc}") from None
    if values.dtype.kind in "US":
        # NumPy turned every element into a string ([1, 'x'] -> ['1', 'x']); find the element that was
        # one, looking at the original objects.
        try:
            originals = np.array(source, dtype=object)
        except (ValueError, TypeError):
            originals = values
        values = originals if originals.shape == values.shape else values.astype(object)
    if values.dtype.kind == "O":
        _refuse_non_numbers(values, what, in_object_array=False)
    return values


def numbers_of_objects(source, dtype, what="nd.array"):
    """A NumPy object array of numbers/bools as numbers (float32 unless ``dtype``), or an
    :class:`~gpuparams.errors.ArrayConversionError` naming the first element that is not a real
    number: ``None`` (NumPy would make it NaN) and strings, numeric ones too (NumPy would parse
    '2'), are refused. MXNet converts through float the same way."""
    _refuse_non_numbers(source, what, in_object_array=True)
    target = normalize_dtype("float32" if dtype is None else dtype)
    if target.kind == "f":
        return source.astype(np.float64)
    check_integer_range(source, target, what)  # exact, on the Python numbers themselves
    return source.astype(target)


def check_fill_value(value, dtypes, what):
    """Refuse a fill value (``nd.full``, ``np.full``) that would fill wrong numbers: ``None`` and
    strings (an :class:`~gpuparams.errors.ArrayConversionError`, as :func:`python_values`), and a
    number one of the integer ``dtypes`` cannot hold (an ``OverflowError``, as
    :func:`check_integer_range`). Other objects are left to the fill itself."""
    if isinstance(value, (numbers.Number, np.generic)):
        for dtype in dtypes:
            check_integer_range(np.asarray(value), dtype, what)
    elif value is None or isinstance(value, (str, bytes)):
        python_values(value, what)  # raises: NumPy would fill NaN for None, or parse '2'


def check_integer_range(values, dtype, what="nd.array"):
    """Refuse values an integer ``dtype`` cannot hold, with an ``OverflowError`` naming the first one,
    its position, the dtype and its range.

    NumPy's cast would wrap integers around (200 -> -56 in int8) and turn NaN, infinities and
    out-of-range floats into garbage (float32 ``2**31`` -> -2147483648 in int32). Floats are truncated
    toward zero by the cast, so 127.9 fits in int8 and 128.0 does not. ``values`` is a NumPy or CuPy
    array (a GPU array is checked where it lives, under its device's scope; only the answer comes to
    the host) or a NumPy object array of numbers. Nothing is looked at when every value of the source
    dtype fits.

    This is the check of array creation (``nd.array``, ``nd.full``, ``nd.arange``, the ``NDArray``
    constructor, ``gpuparams.np``'s creation functions); ``astype`` keeps NumPy's and MXNet's
    wrapping cast.
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu" or values.size == 0 or values.dtype.kind not in "biufO":
        return
    kind = values.dtype.kind
    if kind != "O" and np.can_cast(values.dtype, dtype, casting="safe"):
        return  # every value of the source type fits: nothing to look at
    info = np.iinfo(dtype)
    if kind == "O":
        found = next(((i, v) for i, v in zip(np.ndindex(values.shape), values.flat)
                      if not _object_fits(v, info)), None)
        if found is None:
            return
        index, value = found
    else:
        mask = _outside(values, info)
        if not bool(mask.any()):
            return
        xp = np if isinstance(values, np.ndarray) else backend.cupy_module_of(values)
        first = xp.argwhere(mask)[0] if values.ndim else ()
        index = tuple(int(i) for i in first)
        value = values[index]
    value = value.item() if hasattr(value, "item") else value
    raise OverflowError(f"{what}: {element_name(index)}, {value}, does not fit in {dtype.name} "
                        f"({info.min}..{info.max}); use a wider dtype or bring the values into range")


def _object_fits(value, info):
    """Whether one Python/NumPy number of an object array fits once cast (floats truncate)."""
    if isinstance(value, (bool, int, np.integer, np.bool_)):
        return info.min <= int(value) <= info.max
    value = float(value)
    return math.isfinite(value) and info.min <= math.trunc(value) <= info.max


def _outside(values, info):
    """Mask of the elements of the numeric array ``values`` outside ``info``'s range after the cast.

    Every bound is a value of ``values``' own dtype, so no comparison depends on NumPy's (or CuPy's)
    promotion rules for scalars.
    """
    kind = values.dtype.kind
    if kind == "b":
        return values != values  # 0 and 1 fit every integer dtype (never reached: a safe cast)
    if kind in "iu":
        src, scalar = np.iinfo(values.dtype), values.dtype.type
        mask = values != values  # all False, on the array's device
        if src.min < info.min:
            mask |= values < scalar(info.min)
        if src.max > info.max:
            mask |= values > scalar(info.max)
        return mask
    if values.dtype.itemsize < 4:
        values = values.astype(np.float32)  # float16 cannot hold the bounds of int32 and int64
    scalar = values.dtype.type
    # The cast truncates toward zero: v fits when min - 1 < v < max + 1. max + 1 is a power of two,
    # exact in float32 and float64; min - 1 is exact where it matters (int8, uint8, int32 from
    # float64), and where it is not, every float that near min is a whole number, so v >= min says
    # the same. NaN fails both comparisons.
    below = scalar(info.min - 1)
    low_ok = values > below if int(below) == info.min - 1 else values >= scalar(info.min)
    return ~(low_ok & (values < scalar(info.max + 1)))


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
    # The front end's rules, read by the engine: MXNet nd keeps no 0-d arrays and compares to 0./1.
    # of the operands' dtype; gpuparams.np.ndarray (a subclass with no slots of its own) sets True.
    _numpy_semantics = False
    # NumPy must hand mixed expressions (np.float32(2) * x) to our reflected operators.
    __array_priority__ = 1000.0
    __array_ufunc__ = None

    def __init__(self, data: Any, ctx: Optional[ContextLike] = None, dtype: DTypeLike = None) -> None:
        other = from_data(data, ctx=ctx, dtype=dtype, what="NDArray")
        for slot in ("_data", "_ctx", "_grad", "_grad_req", "_node", "_version", "_fresh_grad"):
            setattr(self, slot, getattr(other, slot))

    # ----------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, ...]:
        """Tuple of dimensions."""
        return tuple(self._data.shape)

    @property
    def dtype(self) -> np.dtype:
        """NumPy dtype of the elements."""
        return self._data.dtype

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(self._data.size)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self._data.ndim

    @property
    def context(self) -> Context:
        """The :class:`~gpuparams.context.Context` holding the data."""
        return self._ctx

    ctx = context

    @property
    def grad(self) -> Optional[NDArray]:
        """The gradient buffer attached by :meth:`attach_grad` (``None`` if none)."""
        return self._grad

    @property
    def T(self) -> NDArray:
        """Transpose (reverses the axes)."""
        return self.transpose()

    # ----------------------------------------------------------------- conversion
    def asnumpy(self) -> np.ndarray:
        """Return a NumPy copy of the data (copied to the host from a GPU).

        For a one-element array the copy is a :class:`~gpuparams._hostarray.OneElementArray`, an
        ``ndarray`` that ``float()`` accepts on every NumPy, so ``'%f' % loss.mean().asnumpy()``
        works on NumPy 2.4 too (which refuses ``float()`` of a 1-d NumPy array).
        """
        if _trace.hook is not None:
            _refuse_in_trace("asnumpy() reads the array's values on the host", _HOST_READ_FIX)
        if _trace.capture is not None:  # asscalar, float(), int() and bool() come through here too
            _refuse_in_capture("asnumpy() reads the array's values on the host")
        if backend.is_cupy_array(self._data):
            return host_array(self._data.get())
        return host_array(np.array(self._data, copy=True))

    def asscalar(self) -> np.generic:
        """Return the only element as a NumPy scalar; raises ValueError unless ``size == 1``."""
        if _trace.hook is not None:
            _refuse_in_trace("asscalar() reads the array's value on the host", _HOST_READ_FIX)
        if self.size != 1:
            raise ValueError(f"asscalar() needs an array with exactly one element, got shape {self.shape}; "
                             "reduce it first (e.g. .sum() or .mean())")
        return self.asnumpy().reshape(-1)[0]

    def item(self) -> Union[int, float, bool]:
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

    def __array_function__(self, func, types, args, kwargs):
        # NumPy's functions (np.all, np.sum, np.concatenate ...) see a CPU NDArray as the NumPy array
        # it holds and return NumPy results. A GPU array must be copied explicitly (as __array__ says).
        return func(*_as_host(args), **_as_host(kwargs))

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
        if self.size == 0:  # as in MXNet (and NumPy before 2.2): an empty array is False
            return False
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

    def __getattr__(self, name):
        # Called only when normal lookup fails: an MXNet NDArray method we lack says so (with close
        # matches) instead of a bare AttributeError; private and dunder names fail as usual.
        if name.startswith("_"):
            raise AttributeError(f"'NDArray' object has no attribute {name!r}")
        raise missing_name("NDArray", name, [n for n in dir(type(self)) if not n.startswith("_")])

    def __repr__(self):
        shape = "x".join(str(n) for n in self.shape)
        return f"\n{self.asnumpy()}\n<NDArray {shape} @{self._ctx}>"

    __str__ = __repr__

    def __reduce__(self):
        # Pickling is not how gpuparams stores arrays (files are .npz, loaded without pickle), but
        # copy.deepcopy and multiprocessing use this protocol.
        return (from_data, (self.asnumpy(), self._ctx))

    # ----------------------------------------------------------------- front ends
    def as_nd_ndarray(self):
        """This array as a legacy ``nd`` NDArray, sharing its buffer, gradient and recorded graph
        (no copy; a 0-d array becomes a shape-(1,) view)."""
        return _convert(self, NDArray)

    def as_np_ndarray(self):
        """This array as a ``gpuparams.np.ndarray``, sharing its buffer, gradient and recorded graph
        (no copy)."""
        from .np._array import ndarray
        return _convert(self, ndarray)

    # ----------------------------------------------------------------- contexts
    def as_in_context(self, context: ContextLike) -> NDArray:
        """Return this array on ``context`` (``self`` when it is already there)."""
        context = Context(context)
        if context is self._ctx:
            return self
        return _ops.to_context(self, context)

    def copyto(self, other: Union[Context, NDArray]) -> NDArray:
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

    def copy(self) -> NDArray:
        """A new array with the same data on the same context (recorded, so it is differentiable)."""
        return _ops.copy(self)

    def zeros_like(self) -> NDArray:
        """Zeros with this array's shape, dtype and context (MXNet's ``x.zeros_like()``).

        Returns
        -------
        NDArray
            A new array, not recorded by autograd (like ``nd.zeros_like(x)``).
        """
        return from_backend(self._zeros_like_data(), self._ctx, type(self))

    def ones_like(self) -> NDArray:
        """Ones with this array's shape, dtype and context (MXNet's ``x.ones_like()``).

        Returns
        -------
        NDArray
            A new array, not recorded by autograd (like ``nd.ones_like(x)``).
        """
        return from_backend(self._ones_like_data(), self._ctx, type(self))

    def wait_to_read(self) -> None:
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

    def __mod__(self, other):
        return _ops.modulo(self, other)

    def __rmod__(self, other):
        return _ops.modulo(other, self)

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
    def exp(self) -> NDArray:
        """Elementwise ``e**x``: ``nd.exp``."""
        return _ops.exp(self)

    def log(self) -> NDArray:
        """Elementwise natural logarithm: ``nd.log``."""
        return _ops.log(self)

    def sqrt(self) -> NDArray:
        """Elementwise square root: ``nd.sqrt``."""
        return _ops.sqrt(self)

    def square(self) -> NDArray:
        """Elementwise ``x*x``: ``nd.square``."""
        return _ops.square(self)

    def abs(self) -> NDArray:
        """Elementwise absolute value (gradient 0 at 0): ``nd.abs``."""
        return _ops.abs(self)

    def sign(self) -> NDArray:
        """Elementwise sign (not differentiable: gradient 0): ``nd.sign``."""
        return _ops.sign(self)

    def clip(self, a_min: float, a_max: float) -> NDArray:
        """Limit values to ``[a_min, a_max]``; the gradient passes where the value was inside:
        ``nd.clip``.
        """
        return _ops.clip(self, a_min, a_max)

    def relu(self) -> NDArray:
        """``max(x, 0)``; the gradient passes where the output is positive: ``nd.relu``."""
        return _ops.relu(self)

    def sigmoid(self) -> NDArray:
        """Logistic function ``1 / (1 + exp(-x))``, computed without overflow for large ``|x|``:
        ``nd.sigmoid``.
        """
        return _ops.sigmoid(self)

    def tanh(self) -> NDArray:
        """Hyperbolic tangent: ``nd.tanh``."""
        return _ops.tanh(self)

    def softmax(self, axis: int = -1, temperature: Optional[float] = None,
                dtype: DTypeLike = None) -> NDArray:
        """Softmax of ``x / temperature`` along ``axis`` (in ``dtype`` if given): ``nd.softmax``."""
        return _ops.softmax(self, axis, temperature, dtype)

    def log_softmax(self, axis: int = -1, temperature: Optional[float] = None,
                    dtype: DTypeLike = None) -> NDArray:
        """``log(softmax(x / temperature))`` along ``axis`` (in ``dtype`` if given): ``nd.log_softmax``."""
        return _ops.log_softmax(self, axis, temperature, dtype)

    def sum(self, axis: Axis = None, keepdims: bool = False, exclude: bool = False) -> NDArray:
        """Sum over ``axis`` (all axes by default; ``exclude=True`` reduces all *but* ``axis``):
        ``nd.sum``.
        """
        return _ops.sum(self, axis, keepdims, exclude)

    def mean(self, axis: Axis = None, keepdims: bool = False, exclude: bool = False) -> NDArray:
        """Mean over ``axis`` (all axes by default): ``nd.mean``."""
        return _ops.mean(self, axis, keepdims, exclude)

    def max(self, axis: Axis = None, keepdims: bool = False, exclude: bool = False) -> NDArray:
        """Maximum over ``axis``; ties share the gradient equally: ``nd.max``."""
        return _ops.max(self, axis, keepdims, exclude)

    def min(self, axis: Axis = None, keepdims: bool = False, exclude: bool = False) -> NDArray:
        """Minimum over ``axis``; ties share the gradient equally: ``nd.min``."""
        return _ops.min(self, axis, keepdims, exclude)

    def norm(self, ord: int = 2, axis: Axis = None, out_dtype: DTypeLike = None,
             keepdims: bool = False) -> NDArray:
        """The L1 or L2 norm over ``axis`` (all elements by default): ``nd.norm``."""
        return _ops.norm(self, ord, axis, out_dtype, keepdims)

    def prod(self, axis: Axis = None, keepdims: bool = False, exclude: bool = False) -> NDArray:
        """Product over ``axis``: ``nd.prod``."""
        return _ops.prod(self, axis, keepdims, exclude)

    def nansum(self, axis: Axis = None, keepdims: bool = False, exclude: bool = False) -> NDArray:
        """Sum over ``axis`` treating NaN as 0: ``nd.nansum``."""
        return _ops.nansum(self, axis, keepdims, exclude)

    def nanprod(self, axis: Axis = None, keepdims: bool = False, exclude: bool = False) -> NDArray:
        """Product over ``axis`` treating NaN as 1: ``nd.nanprod``."""
        return _ops.nanprod(self, axis, keepdims, exclude)

    def dot(self, b: NDArray, transpose_a: bool = False, transpose_b: bool = False) -> NDArray:
        """Matrix product. 1-D·1-D is the inner product; N-D arrays contract ``a``'s last axis with:
        ``nd.dot``.
        """
        return _ops.dot(self, b, transpose_a, transpose_b)

    def reshape(self, *shape: Any, **kwargs: Any) -> NDArray:
        """Return ``x`` with a new shape (a view when possible); one dim may be -1: ``nd.reshape``."""
        return _ops.reshape(self, *shape, **kwargs)

    def transpose(self, axes: Optional[Sequence[int]] = None) -> NDArray:
        """Permute the axes (reverse them by default): ``nd.transpose``."""
        return _ops.transpose(self, axes)

    def expand_dims(self, axis: int, inplace: bool = False) -> NDArray:
        """Insert a dimension of size 1 at ``axis`` (a view sharing memory if ``inplace``):
        ``nd.expand_dims``."""
        return _ops.expand_dims(self, axis, inplace)

    def squeeze(self, axis: Axis = None, inplace: bool = False) -> NDArray:
        """Remove dimensions of size 1 (a view sharing memory if ``inplace``): ``nd.squeeze``."""
        return _ops.squeeze(self, axis, inplace)

    def flatten(self, inplace: bool = False) -> NDArray:
        """Collapse all axes but the first (a view sharing memory if ``inplace``): ``nd.flatten``."""
        return _ops.flatten(self, inplace)

    def swapaxes(self, dim1: int, dim2: int) -> NDArray:
        """Swap two axes: ``nd.swapaxes``."""
        return _ops.swapaxes(self, dim1, dim2)

    def astype(self, dtype: DTypeLike, copy: bool = True) -> NDArray:
        """Cast to ``dtype`` (the gradient is cast back to the input's dtype):
        ``gpuparams.ops.astype``.

        This is MXNet's and NumPy's cast, with no range check: integers wrap around (int32 200 is
        int8 -56) and out-of-range floats, NaN and infinities give whatever the hardware gives. To
        have such values refused, create the array with ``nd.array(x, dtype=...)``, which raises an
        ``OverflowError`` naming the value.
        """
        return _ops.astype(self, dtype, copy)

    def take(self, indices: NDArray, axis: int = 0, mode: str = 'clip') -> NDArray:
        """Gather slices of ``a`` along ``axis`` at ``indices`` (MXNet's ``take``): ``nd.take``."""
        return _ops.take(self, indices, axis, mode)

    def pick(self, index: NDArray, axis: int = -1, keepdims: bool = False, mode: str = 'clip') -> NDArray:
        """Pick one element along ``axis`` for every position of the other axes (MXNet's ``pick``):
        ``nd.pick``.
        """
        return _ops.pick(self, index, axis, keepdims, mode)

    def one_hot(self, depth: int, on_value: float = 1.0, off_value: float = 0.0,
                dtype: DTypeLike = 'float32') -> NDArray:
        """One-hot encoding: ``out[..., k]`` is ``on_value`` where ``indices == k``, else
        ``off_value``: ``nd.one_hot``.
        """
        return _ops.one_hot(self, depth, on_value, off_value, dtype)

    def argmax(self, axis: Optional[int] = None, keepdims: bool = False) -> NDArray:
        """Index of the maximum along ``axis`` (of the flattened array if ``axis`` is None):
        ``nd.argmax``.
        """
        return _ops.argmax(self, axis, keepdims)

    def argmin(self, axis: Optional[int] = None, keepdims: bool = False) -> NDArray:
        """Index of the minimum along ``axis`` (of the flattened array if ``axis`` is None):
        ``nd.argmin``.
        """
        return _ops.argmin(self, axis, keepdims)

    def split(self, num_outputs: int, axis: int = 1, squeeze_axis: bool = False) -> Union[NDArray, list]:
        """Split an array into ``num_outputs`` equal parts along ``axis`` (MXNet's ``split``):
        ``nd.split``.
        """
        return _ops.split(self, num_outputs, axis, squeeze_axis)

    def slice_axis(self, axis: int, begin: Optional[int], end: Optional[int]) -> NDArray:
        """The slice ``begin:end`` of ``data`` along one axis (MXNet's ``slice_axis``):
        ``nd.slice_axis``.
        """
        return _ops.slice_axis(self, axis, begin, end)

    def broadcast_to(self, shape: Sequence[int]) -> NDArray:
        """Broadcast ``data`` to ``shape`` by repeating its size-1 dimensions (MXNet's
        ``broadcast_to``): ``nd.broadcast_to``.
        """
        return _ops.broadcast_to(self, shape)

    def broadcast_axes(self, axis: Axis = (), size: Union[int, Sequence[int]] = ()) -> NDArray:
        """Broadcast the size-1 ``axis`` (or axes) of ``data`` to ``size`` (MXNet's
        ``broadcast_axis``): ``nd.broadcast_axis``.
        """
        return _ops.broadcast_axis(self, axis, size)

    def tile(self, reps: Union[int, Sequence[int]]) -> NDArray:
        """Repeat the whole array ``reps[i]`` times along each axis (MXNet's ``tile``, NumPy's
        rules): ``nd.tile``.
        """
        return _ops.tile(self, reps)

    def repeat(self, repeats: int, axis: Optional[int] = None) -> NDArray:
        """Repeat each element ``repeats`` times along ``axis`` (MXNet's ``repeat``): ``nd.repeat``."""
        return _ops.repeat(self, repeats, axis)

    def flip(self, axis: Union[int, Sequence[int]]) -> NDArray:
        """Reverse the order of the elements along ``axis`` (MXNet's ``flip``, alias ``reverse``):
        ``nd.flip``.
        """
        return _ops.flip(self, axis)

    def sort(self, axis: Optional[int] = -1, is_ascend: bool = True) -> NDArray:
        """Sort along ``axis`` (MXNet's ``sort``): ``nd.sort``."""
        return _ops.sort(self, axis, is_ascend)

    def argsort(self, axis: Optional[int] = -1, is_ascend: bool = True,
                dtype: DTypeLike = 'float32') -> NDArray:
        """Indices that sort ``data`` along ``axis`` (MXNet's ``argsort``): ``nd.argsort``."""
        return _ops.argsort(self, axis, is_ascend, dtype)

    def topk(self, axis: Optional[int] = -1, k: int = 1, ret_typ: str = 'indices', is_ascend: bool = False,
             dtype: DTypeLike = 'float32') -> Union[NDArray, list]:
        """The ``k`` largest (or smallest) elements along ``axis`` (MXNet's ``topk``): ``nd.topk``."""
        return _ops.topk(self, axis, k, ret_typ, is_ascend, dtype)

    # elementwise math of gpuparams.ops.math (MXNet's fluent methods)
    def round(self) -> NDArray:
        """Elementwise ``round``: ``nd.round``."""
        return _ops.round(self)

    def rint(self) -> NDArray:
        """Elementwise ``rint``: ``nd.rint``."""
        return _ops.rint(self)

    def floor(self) -> NDArray:
        """Elementwise ``floor``: ``nd.floor``."""
        return _ops.floor(self)

    def ceil(self) -> NDArray:
        """Elementwise ``ceil``: ``nd.ceil``."""
        return _ops.ceil(self)

    def trunc(self) -> NDArray:
        """Elementwise ``trunc``: ``nd.trunc``."""
        return _ops.trunc(self)

    def fix(self) -> NDArray:
        """Elementwise ``fix``: ``nd.fix``."""
        return _ops.fix(self)

    def sin(self) -> NDArray:
        """Elementwise ``sin``: ``nd.sin``."""
        return _ops.sin(self)

    def cos(self) -> NDArray:
        """Elementwise ``cos``: ``nd.cos``."""
        return _ops.cos(self)

    def tan(self) -> NDArray:
        """Elementwise ``tan``: ``nd.tan``."""
        return _ops.tan(self)

    def arcsin(self) -> NDArray:
        """Elementwise ``arcsin``: ``nd.arcsin``."""
        return _ops.arcsin(self)

    def arccos(self) -> NDArray:
        """Elementwise ``arccos``: ``nd.arccos``."""
        return _ops.arccos(self)

    def arctan(self) -> NDArray:
        """Elementwise ``arctan``: ``nd.arctan``."""
        return _ops.arctan(self)

    def sinh(self) -> NDArray:
        """Elementwise ``sinh``: ``nd.sinh``."""
        return _ops.sinh(self)

    def cosh(self) -> NDArray:
        """Elementwise ``cosh``: ``nd.cosh``."""
        return _ops.cosh(self)

    def arcsinh(self) -> NDArray:
        """Elementwise ``arcsinh``: ``nd.arcsinh``."""
        return _ops.arcsinh(self)

    def arccosh(self) -> NDArray:
        """Elementwise ``arccosh``: ``nd.arccosh``."""
        return _ops.arccosh(self)

    def arctanh(self) -> NDArray:
        """Elementwise ``arctanh``: ``nd.arctanh``."""
        return _ops.arctanh(self)

    def degrees(self) -> NDArray:
        """Elementwise ``degrees``: ``nd.degrees``."""
        return _ops.degrees(self)

    def radians(self) -> NDArray:
        """Elementwise ``radians``: ``nd.radians``."""
        return _ops.radians(self)

    def log1p(self) -> NDArray:
        """Elementwise ``log1p``: ``nd.log1p``."""
        return _ops.log1p(self)

    def expm1(self) -> NDArray:
        """Elementwise ``expm1``: ``nd.expm1``."""
        return _ops.expm1(self)

    def log2(self) -> NDArray:
        """Elementwise ``log2``: ``nd.log2``."""
        return _ops.log2(self)

    def log10(self) -> NDArray:
        """Elementwise ``log10``: ``nd.log10``."""
        return _ops.log10(self)

    def rsqrt(self) -> NDArray:
        """Elementwise ``rsqrt``: ``nd.rsqrt``."""
        return _ops.rsqrt(self)

    def cbrt(self) -> NDArray:
        """Elementwise ``cbrt``: ``nd.cbrt``."""
        return _ops.cbrt(self)

    def rcbrt(self) -> NDArray:
        """Elementwise ``rcbrt``: ``nd.rcbrt``."""
        return _ops.rcbrt(self)

    def reciprocal(self) -> NDArray:
        """Elementwise ``reciprocal``: ``nd.reciprocal``."""
        return _ops.reciprocal(self)

    def slice(self, begin: Sequence[Optional[int]], end: Sequence[Optional[int]],
              step: Sequence[Optional[int]] = ()) -> NDArray:
        """The slice ``begin[i]:end[i]:step[i]`` of each leading axis (a new array): ``nd.slice``."""
        return _ops.slice(self, begin, end, step)

    def slice_like(self, shape_like: NDArray, axes: Sequence[int] = ()) -> NDArray:
        """This array sliced to the shape of ``shape_like`` (along ``axes``): ``nd.slice_like``."""
        return _ops.slice_like(self, shape_like, axes)

    def pad(self, mode: str = "constant", pad_width: Sequence[int] = (),
            constant_value: float = 0.0) -> NDArray:
        """Padded along its axes (``constant``, ``edge``, ``reflect``): ``nd.pad``."""
        return _ops.pad(self, mode, pad_width, constant_value)

    def reshape_like(self, rhs: NDArray, lhs_begin: Optional[int] = None, lhs_end: Optional[int] = None,
                     rhs_begin: Optional[int] = None, rhs_end: Optional[int] = None) -> NDArray:
        """Reshaped to (part of) the shape of ``rhs``: ``nd.reshape_like``."""
        return _ops.reshape_like(self, rhs, lhs_begin, lhs_end, rhs_begin, rhs_end)

    def broadcast_like(self, other: NDArray, lhs_axes: Axis = None, rhs_axes: Axis = None) -> NDArray:
        """Broadcast to the shape of ``other``: ``nd.broadcast_like``."""
        return _ops.broadcast_like(self, other, lhs_axes, rhs_axes)

    # ----------------------------------------------------------------- autograd
    def attach_grad(self, grad_req: str = "write", stype: Optional[str] = None) -> None:
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
            self._grad = from_backend(self._zeros_like_data(), self._ctx, type(self))
        self._fresh_grad = False

    def detach(self) -> NDArray:
        """A new array sharing this data but cut from the recorded graph."""
        return _view(self._data, self)

    def backward(self, out_grad: Optional[NDArray] = None, retain_graph: bool = False,
                 train_mode: bool = True, *, head: Optional[NDArray] = None) -> None:
        """Backpropagate from this array (a head gradient of ones when ``out_grad`` is None).

        ``out_grad`` may have another shape with the same number of elements (MXNet reads it as a
        flat buffer); it is reshaped to this array's shape. A different size is an error.
        """
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
        # An AutogradError (a RuntimeError and a GpuparamsError, i.e. gpuparams.base.MXNetError), the
        # class MXNet code catches when it assigns to an array in the graph inside record().
        node = self._node
        if node is not None and not node.freed:
            raise _autograd.AutogradError(
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
        given_key = key
        key = _ops.shape.backend_key(key, self._ctx)
        if isinstance(value, NDArray):
            if value._ctx is not self._ctx:
                raise ValueError(f"cannot assign an array on {value._ctx} into an array on {self._ctx}; "
                                 f"use value.as_in_context({self._ctx})")
            value = value._data
        else:
            if value is None or isinstance(value, (str, bytes, list, tuple)):
                # x[1, 2] = [5]: a sequence is an array value. As in nd.array, None (NumPy: NaN, or
                # int()'s TypeError) and strings (NumPy parses '2') are refused naming the position,
                # and integers the dtype cannot hold are an OverflowError, not a wrapped value.
                what = f"x[{_key_repr(given_key)}] = ..."
                value = python_values(value, what)
                check_integer_range(value, self.dtype, what)
                value = np.asarray(value, dtype=self.dtype)
            if isinstance(value, np.ndarray) and self._ctx.device_type != "cpu":
                value = copy_to_context(value, Context("cpu", 0), self._ctx)
        self._assign(value, key)

    def _inplace(self, other, op_name, apply):
        if _trace.hook is not None:
            _refuse_in_trace(f"an in-place update (x {op_name} v)", _INPLACE_FIX)
        self._check_writable()
        if isinstance(other, NDArray) and other._ctx is not self._ctx:
            raise ValueError(f"{op_name}: operands are on different contexts, {self._ctx} and "
                             f"{other._ctx}; use x.as_in_context({self._ctx})")
        # A float next to integer data is cast to the dtype first, as MXNet does.
        value = _ops.elementwise.scalar_for(op_name, _ops._core.operand(other, self._ctx), self._data.dtype)
        try:
            apply(self._data, value)
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

    def __imod__(self, other):
        return self._inplace(other, "%=", _imod)


def _convert(x, cls):
    """``x`` as an array of class ``cls`` over the same buffer, gradient, node and version counter.

    A recorded result, and a leaf with a gradient converted while recording, get an identity node
    instead of sharing ``x``'s: autograd keys gradients by object, so two objects on one node would
    run its backward twice, and a second object sharing a leaf's buffer would be a second leaf whose
    ``grad_req='write'`` contribution overwrites the first's.
    """
    if type(x) is cls:
        return x
    data = x._data
    if data.ndim == 0 and not cls._numpy_semantics:
        data = data.reshape(1)
    if x._node is not None or x._grad_req != "null":
        from .autograd import Node, is_recording
        if x._node is not None or is_recording():
            shape = x._data.shape

            def backward(g, needs):
                return (g.reshape(shape),)
            out = from_backend(data, x._ctx, cls)
            out._version = x._version
            name = "as_np_ndarray" if cls._numpy_semantics else "as_nd_ndarray"
            out._node = Node(name, (x,), backward, ())
            return out
    out = object.__new__(cls)
    out._data = data
    out._ctx = x._ctx
    out._grad = x._grad
    out._grad_req = x._grad_req
    out._node = x._node
    out._version = x._version
    out._fresh_grad = x._fresh_grad
    return out


def _iadd(a, b):
    a += b


def _isub(a, b):
    a -= b


def _imul(a, b):
    a *= b


def _idiv(a, b):
    if a.dtype.kind in "iu":  # integer arrays stay integer: MXNet's truncating division
        a[...] = _ops.elementwise.integer_divide(a, b)
    else:
        a /= b


def _imod(a, b):
    a[...] = _ops.binary.mod_data(a, b)


def _as_host(value):
    """``value`` with every CPU NDArray inside (lists, tuples, dicts) replaced by its NumPy array."""
    if isinstance(value, NDArray):
        if value._ctx.device_type != "cpu":
            raise TypeError(f"a NumPy function got an NDArray on {value._ctx}; NumPy computes on the "
                            "host, so copy it first with x.asnumpy()")
        return value._data
    if isinstance(value, (list, tuple)):
        return type(value)(_as_host(v) for v in value)
    if isinstance(value, dict):
        return {k: _as_host(v) for k, v in value.items()}
    return value


def _key_repr(key):
    """``key`` for a message, slices as written (``(1, 2:4)`` rather than ``(1, slice(2, 4, None))``)."""
    if key is Ellipsis:
        return ":"
    if isinstance(key, slice):
        parts = ["" if v is None else repr(v) for v in (key.start, key.stop)]
        return ":".join(parts) + ("" if key.step is None else f":{key.step!r}")
    if isinstance(key, tuple) and key:
        return "(" + ", ".join("..." if k is Ellipsis else _key_repr(k) for k in key) + ")"
    return repr(key)


# The operators import this module (they build NDArrays), so the package is bound at the end; the
# methods above look ``_ops`` up when they run.
from . import autograd as _autograd  # noqa: E402
from . import ops as _ops  # noqa: E402
