"""The operator registry: one declaration per operator, one place where every operator is dispatched.

An operator is a plain function over NDArrays (and Python values) that computes on the backend arrays
and wraps its result with :func:`gpuparams.ops._core.result`. Declaring it with :func:`register`

* records it in :data:`REGISTRY` under its name (and aliases), from which the ``nd`` namespace is
  built and against which the explicit :class:`~gpuparams.NDArray` methods are tested;
* wraps it in the **dispatcher**: the device of its first NDArray argument is looked up once and, on a
  GPU, made current for the whole call (CuPy launches on the current device), exactly once per call;
* optionally names a **kernel path**: a second implementation with the same signature that runs our
  CUDA kernels, chosen when that device runs custom kernels (a real GPU or the emulated ``gpu(0)``)
  and the first NDArray argument is float32.

Why a decorator over plain functions rather than ``Op`` subclasses: an operator's forward and backward
are one closure (the backward reads what the forward computed), which a function keeps together with
no ceremony, and the decorated function is still what ``nd.<name>`` is, so tracebacks and docs point at
the operator's own code.

What a backward reads is declared at each :func:`~gpuparams.ops._core.result` call (``saved=`` is a
required keyword, so it cannot be forgotten silently). With :data:`strict` checking on (the test
suite turns it on), ``result`` also inspects the backward closure and raises when it captures an
input's or the output's buffer that the declaration does not list — which would otherwise lose the
in-place-write detection for that array.

**Second derivatives.** An operator's ordinary ``backward`` computes on backend arrays, so nothing it
does is recorded. ``register(higher_order=True)`` declares that the operator also passes
``graph_backward=`` to ``result``: the same backward written with *registered operators on NDArrays*
(``multiply(g, out)`` for ``exp``), reading its inputs as the NDArrays it received. ``autograd.grad(...,
create_graph=True)`` runs the backward pass with those closures while recording, so the gradients it
returns are recorded results that ``backward`` can differentiate again; it stops with an error naming
the first operator on the path without one. The set is closed under itself: every operator a
``graph_backward`` uses (``reshape``, ``broadcast_to``, ``sum`` for un-broadcasting, ``sign`` for
relu's mask) is higher-order too, and strict checking verifies each declaration at ``result``.

>>> from gpuparams.ops import REGISTRY
>>> REGISTRY["relu"].method, REGISTRY["relu"].kernel is not None
('relu', True)
"""
from __future__ import annotations

import functools
import threading
from typing import Callable, NamedTuple, Optional

import numpy as np

from .. import backend
from .._tracing import state as _trace

__all__ = ["Op", "REGISTRY", "register", "public_ops", "method_ops", "higher_order_ops", "set_strict",
           "is_strict", "choose", "run_plan_on"]


class Op(NamedTuple):
    """One registered operator.

    Attributes
    ----------
    name : str
        The registered (``nd``) name.
    impl : callable
        The implementation for every device (NumPy or CuPy arrays).
    kernel : callable or None
        The custom-kernel implementation, used on devices that run our kernels for float32 data.
    method : str or None
        The :class:`~gpuparams.NDArray` method that calls this operator, if any.
    differentiable : bool
        Whether its result records a backward (False for comparisons, ``argmax``, optimizer updates).
    public : bool
        Whether ``nd.<name>`` exposes it (False for internal operators such as ``to_context``).
    aliases : tuple of str
        Other ``nd`` names of the same operator (MXNet's ``broadcast_plus`` for ``broadcast_add``).
    dispatch : callable
        The dispatching wrapper: what ``nd.<name>`` and the NDArray method call.
    higher_order : bool
        Whether its backward is also written with recorded operations (``graph_backward=`` at its
        :func:`~gpuparams.ops._core.result` call), so that ``autograd.grad(..., create_graph=True)``
        can differentiate through it again.
    """

    name: str
    impl: Callable
    kernel: Optional[Callable]
    method: Optional[str]
    differentiable: bool
    public: bool
    aliases: tuple
    dispatch: Callable
    higher_order: bool = False


#: Every operator, by name and by alias.
REGISTRY: dict = {}

_NDArray = None  # gpuparams.NDArray, bound on first dispatch (the class module imports this package)
_NP_ARRAY = [None]  # gpuparams.np.ndarray, bound when gpuparams.np is imported
_strict = [False]


def set_strict(enabled):
    """Turn the backward-closure audit of :func:`~gpuparams.ops._core.result` on or off.

    Off by default (it costs a few microseconds per recorded operator); the test suite turns it on.
    Returns the previous setting.
    """
    previous = _strict[0]
    _strict[0] = bool(enabled)
    return previous


def is_strict():
    """Whether the backward-closure audit is on."""
    return _strict[0]


def _first_array(args, kwargs):
    # Exact-type tests for the two front ends' classes (the hot path); any other NDArray subclass
    # is found by the isinstance pass, which runs only when those found nothing.
    cls, np_cls = _NDArray, _NP_ARRAY[0]
    for arg in args:
        t = type(arg)
        if t is cls or t is np_cls:
            return arg
    for value in kwargs.values():
        t = type(value)
        if t is cls or t is np_cls:
            return value
    for value in (*args, *kwargs.values()):
        if isinstance(value, cls):
            return value
    return None


class _Dispatching(threading.local):
    device = None  # the device whose scope an enclosing dispatch of this thread holds


_dispatching = _Dispatching()
_FLOAT32 = np.dtype(np.float32)


def _run_on(device, fn, args, kwargs):
    """Call ``fn`` with ``device`` current; a nested operator call (a composite operator, an
    operator used inside another's implementation) finds it current already and enters nothing."""
    if _dispatching.device is device:
        return fn(*args, **kwargs)
    previous = _dispatching.device
    _dispatching.device = device
    try:
        with device.scope():
            return fn(*args, **kwargs)
    finally:
        _dispatching.device = previous


def _on_numbers(name, scalar):
    """What an operator with a ``scalar`` form does when no argument is an NDArray."""
    import numbers

    def numbers_only(*args, **kwargs):
        values = list(args) + list(kwargs.values())
        if not all(isinstance(v, numbers.Number) for v in values):
            kinds = ", ".join(type(v).__name__ for v in values)
            raise TypeError(f"{name}: needs an NDArray or numbers, got ({kinds}); wrap arrays with "
                            "nd.array(...)")
        return scalar(*args, **kwargs)
    return numbers_only


def choose(op_name, args, kwargs):
    """``(device or None, function)``: what the dispatcher runs for this call of ``op_name`` (the
    tracer records it so that a replay calls the same implementation without dispatching)."""
    op = REGISTRY[op_name]
    first = _first_array(args, kwargs)
    if first is None or first._ctx.device_type != "gpu":
        return None, op.impl
    device = backend.device_of(first)
    use_kernel = op.kernel is not None and device.custom_kernels and first._data.dtype == _FLOAT32
    return device, (op.kernel if use_kernel else op.impl)


def run_plan_on(device, body):
    """Run ``body()`` (a plan replay) with ``device`` current, entered once for all its operators."""
    if device is None:
        return body()
    return _run_on(device, lambda: body(), (), {})


#: MXNet's keyword names for operands that our implementations call otherwise, by operator.
_MXNET_NAMES = {"negative": {"data": "a"}, "power": {"base": "a", "exp": "b"}}


def mxnet_keywords(op_name, impl):
    """``{MXNet keyword: our parameter}`` for the operands of ``impl`` that MXNet names differently:
    ``data=`` for an operand we call ``x``, ``lhs=``/``rhs=`` for ``a``/``b`` (``nd.relu(data=x)``,
    ``nd.dot(lhs=a, rhs=b)``, as MXNet code written against its generated signatures passes them)."""
    import inspect
    try:
        params = [p.name for p in inspect.signature(impl).parameters.values()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    except (TypeError, ValueError):
        return {}
    names = dict(_MXNET_NAMES.get(op_name, {}))
    if params[:2] == ["a", "b"]:
        names.setdefault("lhs", "a")
        names.setdefault("rhs", "b")
    elif params[:1] == ["x"]:
        names["data"] = "x"
    return {k: v for k, v in names.items() if k not in params and v in params}


def _renamed(op_name, names, kwargs):
    """``kwargs`` with MXNet's keyword names replaced by ours (see :func:`mxnet_keywords`)."""
    kwargs = dict(kwargs)
    for theirs, ours in names.items():
        if theirs in kwargs:
            if ours in kwargs:
                raise TypeError(f"{op_name}: got both {theirs}= (MXNet's name) and {ours}= for one operand; "
                                "pass it once")
            kwargs[ours] = kwargs.pop(theirs)
    return kwargs


def _make_dispatch(impl, kernel, numbers_only=None, op_name=None, keywords=None, impl_out=None,
                   kernel_out=None):
    # The trace hook: while a hybrid_forward is traced, every operator call goes to the tracer,
    # which runs it through this same dispatcher (with the hook cleared) and records it. MXNet's
    # keyword names (data=, lhs=, rhs=) are translated first, so the tracer records our names.
    # ``impl_out`` / ``kernel_out`` (see _writing_out) run only for calls that pass out=, so the
    # others pay no extra call.
    theirs = frozenset(keywords or ())
    if kernel is None:
        @functools.wraps(impl)
        def dispatch(*args, **kwargs):
            run = impl
            if kwargs:
                if theirs and not theirs.isdisjoint(kwargs):
                    kwargs = _renamed(op_name, keywords, kwargs)
                if impl_out is not None and "out" in kwargs:
                    run = impl_out
            if _trace.hook is not None:
                return _trace.hook(dispatch, args, kwargs)
            # The common case, an NDArray first, costs no extra call (this runs for every operator).
            first = args[0] if args and type(args[0]) is _NDArray else _first_array(args, kwargs)
            if first is not None and first._ctx.device_type == "gpu":
                return _run_on(backend.device_of(first), run, args, kwargs)
            if first is None and numbers_only is not None:
                return numbers_only(*args, **kwargs)
            return run(*args, **kwargs)
    else:
        @functools.wraps(impl)
        def dispatch(*args, **kwargs):
            run, run_kernel = impl, kernel
            if kwargs:
                if theirs and not theirs.isdisjoint(kwargs):
                    kwargs = _renamed(op_name, keywords, kwargs)
                if impl_out is not None and "out" in kwargs:
                    run, run_kernel = impl_out, kernel_out
            if _trace.hook is not None:
                return _trace.hook(dispatch, args, kwargs)
            # The common case, an NDArray first, costs no extra call (this runs for every operator).
            first = args[0] if args and type(args[0]) is _NDArray else _first_array(args, kwargs)
            if first is not None and first._ctx.device_type == "gpu":
                device = backend.device_of(first)
                use_kernel = device.custom_kernels and first._data.dtype == _FLOAT32
                return _run_on(device, run_kernel if use_kernel else run, args, kwargs)
            return run(*args, **kwargs)
    return dispatch


def _writing_out(op_name, fn):
    """``fn`` with MXNet's ``out=`` keyword: the result is written into ``out`` (same shape and
    context; cast to its dtype), which is returned and, while recording, becomes the recorded result."""
    @functools.wraps(fn)
    def with_out(*args, out=None, **kwargs):
        res = fn(*args, **kwargs)
        if out is None:
            return res
        if not isinstance(res, _NDArray):
            raise TypeError(f"{op_name}: out= takes one array, but {op_name} returns "
                            f"{type(res).__name__}; use the returned arrays")
        if type(out) is not _NDArray:
            raise TypeError(f"{op_name}: out must be an NDArray, got {type(out).__name__}")
        if out._ctx is not res._ctx:
            raise ValueError(f"{op_name}: out is on {out._ctx} but the result is on {res._ctx}; pass an "
                             f"out array on {res._ctx}")
        if out.shape != res.shape:
            raise ValueError(f"{op_name}: out has shape {out.shape} but the result has shape {res.shape}; "
                             "pass an out array of the result's shape")
        out._assign(res._data)
        if res._node is not None:
            out._node = res._node
        return out
    return with_out


def register(name=None, *, method=None, kernel=None, differentiable=True, public=True, aliases=(),
             scalar=None, out=None, higher_order=False):
    """Declare an operator (use as a decorator on its implementation).

    Parameters
    ----------
    name : str, optional
        Its ``nd`` name (default: the function's name).
    method : str or bool, optional
        The :class:`~gpuparams.NDArray` method name that calls it (``True``: the same name).
        The method itself is written out in ``_ndarray.py`` (so editors and type checkers see it);
        ``tests/test_registry.py`` checks that each declared method exists and calls this operator.
    kernel : callable, optional
        Implementation that runs our CUDA kernels, with the same signature; used on a device with
        custom kernels when the first NDArray argument is float32.
    differentiable : bool
        False for operators whose results never record a backward.
    public : bool
        False keeps it out of the ``nd`` namespace.
    aliases : sequence of str
        More ``nd`` names for it.
    scalar : callable, optional
        What the operator computes when every argument is a Python number (``nd.add(2, 3)`` is 5,
        as in MXNet); without it such a call reaches the implementation.
    out : bool, optional
        Accept MXNet's ``out=`` keyword (write the result into a given array and return it); by
        default every public operator does, as every MXNet ``nd`` operator does.
    higher_order : bool
        The operator passes ``graph_backward=`` to ``result`` (on every implementation, kernel path
        included): its backward expressed with recorded operators, so second derivatives through it
        work. With strict checking on, ``result`` verifies the declaration.

    Returns
    -------
    callable
        A decorator returning the dispatching function (what ``nd.<name>`` is).
    """
    def decorate(impl):
        op_name = name or impl.__name__
        if op_name in REGISTRY:
            raise ValueError(f"operator {op_name!r} is registered twice")
        method_name = op_name if method is True else (method or None)
        impl_out = kernel_out = None
        if out or (out is None and public):  # written inside the dispatcher's device scope, where
            # CuPy copies must run
            impl_out = _writing_out(op_name, impl)
            kernel_out = kernel and _writing_out(op_name, kernel)
        dispatch = _make_dispatch(impl, kernel, scalar and _on_numbers(op_name, scalar), op_name,
                                  mxnet_keywords(op_name, impl), impl_out, kernel_out)
        dispatch.op_name = op_name
        op = Op(op_name, impl, kernel, method_name, differentiable, public, tuple(aliases), dispatch,
                bool(higher_order))
        REGISTRY[op_name] = op
        for alias in op.aliases:
            if alias in REGISTRY:
                raise ValueError(f"operator alias {alias!r} is registered twice")
            REGISTRY[alias] = op
        return dispatch
    return decorate


def public_ops():
    """``{nd name: dispatching function}`` for every public operator and alias."""
    return {key: op.dispatch for key, op in REGISTRY.items() if op.public}


def higher_order_ops():
    """Sorted names of the operators whose backward can be recorded (``create_graph=True``)."""
    return sorted({op.name for op in REGISTRY.values() if op.higher_order})


def method_ops():
    """``{method name: Op}`` for every operator that declares an NDArray method."""
    return {op.method: op for op in REGISTRY.values() if op.method}


def _bind_ndarray(cls):
    global _NDArray
    _NDArray = cls
