"""Operator cases whose results were recorded with MXNet 1.9.1 (tests/data/mxnet_1_9_1_ops.json).

``run(nd, autograd)`` computes every case with the framework passed in, so the same code produced the
reference under MXNet and produces the values under test with gpuparams (``tests/test_nd_operators.py``).
Each case records the forward values, dtype and shape and, for differentiable cases, the gradient of
``sum(out * head)`` for every input (``head`` a fixed non-uniform array). Re-record with an MXNet 1.9.1
environment (``/work/mxvenv``, NumPy < 1.24)::

    cd tests/data && python -c "import json, mxnet_ops_cases as c; from mxnet import nd, autograd; \
json.dump(c.run(nd, autograd), open('mxnet_1_9_1_ops.json', 'w'), indent=0, sort_keys=True)"
"""
import numpy as np

_R = np.random.RandomState(15)
_X = np.array([[-2.7, -1.5, -0.5, 0.3], [0.5, 1.5, 2.5, 3.7]], dtype=np.float32)
_U = _R.uniform(-0.9, 0.9, size=(2, 3)).astype(np.float32)       # inside (-1, 1)
_POS = _R.uniform(0.3, 3.0, size=(2, 3)).astype(np.float32)      # positive
_BIG = _R.uniform(1.2, 4.0, size=(2, 3)).astype(np.float32)      # above 1
_A = _R.uniform(-2.0, 2.0, size=(2, 3)).astype(np.float32)
_B = _R.uniform(0.5, 2.0, size=(2, 3)).astype(np.float32)
_T = _R.uniform(-1.0, 1.0, size=(2, 3, 4)).astype(np.float32)
_IMG = _R.uniform(-1.0, 1.0, size=(1, 2, 3, 3)).astype(np.float32)
_NAN = np.array([[1.5, np.nan, -2.0], [np.nan, 0.5, 3.0]], dtype=np.float32)
_GAMMA_IN = np.array([[-2.5, -0.5, 0.2], [1.0, 2.5, 6.3]], dtype=np.float32)

UNARY = {
    "round": _X, "rint": _X, "floor": _X, "ceil": _X, "trunc": _X, "fix": _X, "sign": _X,
    "sin": _A, "cos": _A, "tan": _U, "arcsin": _U, "arccos": _U, "arctan": _A,
    "sinh": _A, "cosh": _A, "tanh": _A, "arcsinh": _A, "arccosh": _BIG, "arctanh": _U,
    "degrees": _A, "radians": _A,
    "log1p": _POS, "expm1": _A, "log2": _POS, "log10": _POS, "rsqrt": _POS, "cbrt": _A,
    "rcbrt": _POS, "reciprocal": _POS, "square": _A,
    "gamma": _GAMMA_IN, "gammaln": _GAMMA_IN, "erf": _A, "erfinv": _U,
}


def _head(shape):
    n = int(np.prod(shape)) if shape else 1
    return np.linspace(0.5, 1.5, n).reshape(shape)


def _case(nd, autograd, fn, *inputs, grad=True):
    arrays = [nd.array(a, dtype=a.dtype) for a in inputs]
    if grad:
        for a in arrays:
            a.attach_grad()
        with autograd.record():
            out = fn(*arrays)
        out.backward(nd.array(_head(out.shape), dtype=out.dtype))
    else:
        out = fn(*arrays)
    got = {"out": np.nan_to_num(out.asnumpy().astype(np.float64), nan=1e300).tolist(),
           "dtype": str(out.dtype), "shape": list(out.shape)}
    if grad:
        got["grads"] = [a.grad.asnumpy().astype(np.float64).tolist() for a in arrays]
    return got


def cases(nd):
    """``{name: (function of the input arrays, inputs, differentiable)}``."""
    c = {}
    for name, x in UNARY.items():
        c[name] = ((lambda name: lambda a: getattr(nd, name)(a))(name), [x], True)
        c[name + "_method"] = ((lambda name: lambda a: getattr(a, name)())(name), [x], False) \
            if name not in ("gamma", "gammaln", "erf", "erfinv") else None
    c = {k: v for k, v in c.items() if v is not None}
    ints = np.array([[-3, 2], [5, -7]], dtype=np.int32)
    for name in ("round", "floor", "sign", "square", "abs", "sin", "reciprocal"):
        c[name + "_int32"] = ((lambda name: lambda a: getattr(nd, name)(a))(name), [ints], False)
    # reductions
    c["prod"] = (lambda a: nd.prod(a, axis=1), [_A], True)
    c["prod_all"] = (lambda a: nd.prod(a), [_A], True)
    c["prod_keepdims_exclude"] = (lambda a: nd.prod(a, axis=1, keepdims=True, exclude=True), [_T], True)
    c["nansum"] = (lambda a: nd.nansum(a, axis=0), [_NAN], True)
    c["nansum_all"] = (lambda a: nd.nansum(a), [_NAN], True)
    c["nanprod"] = (lambda a: nd.nanprod(a, axis=1), [_NAN], True)
    c["prod_int32"] = (lambda a: nd.prod(a, axis=0), [ints], False)
    c["nansum_int32"] = (lambda a: nd.nansum(a), [ints], False)
    for ord_ in (1, 2):
        for axis in (None, 0, 1, (0, 1), -1):
            for keep in (False, True):
                c[f"norm_ord{ord_}_axis{axis}_keep{keep}"] = (
                    (lambda o, ax, k: lambda a: nd.norm(a, ord=o, axis=ax, keepdims=k))(ord_, axis, keep),
                    [_A], True)
    c["norm_3d_axis"] = (lambda a: nd.norm(a, axis=(0, 2)), [_T], True)
    c["norm_method"] = (lambda a: a.norm(ord=1, axis=1), [_A], True)
    c["norm_int32"] = (lambda a: nd.norm(a), [ints], False)
    # slicing and shapes
    c["slice"] = (lambda a: nd.slice(a, begin=(0, 1), end=(2, 4)), [_T], True)
    c["slice_step"] = (lambda a: nd.slice(a, begin=(None, 0, None), end=(None, 3, None), step=(1, 2, -1)),
                      [_T], True)
    c["slice_negative"] = (lambda a: nd.slice(a, begin=(-1,), end=(None,), step=(-1,)), [_T], True)
    c["slice_method"] = (lambda a: a.slice(begin=(1, 0), end=(2, 2)), [_T], True)
    c["slice_like"] = (lambda a, b: nd.slice_like(a, b), [_T, np.zeros((1, 2, 3), np.float32)], True)
    small = np.zeros((1, 2), np.float32)
    c["slice_like_axes"] = (lambda a, b: nd.slice_like(a, b, axes=(1,)), [_T, small], True)
    c["slice_like_method"] = (lambda a, b: a.slice_like(b, axes=(0, -2)), [_T, small], True)
    for mode in ("constant", "edge", "reflect"):
        c["pad_" + mode] = ((lambda m: lambda a: nd.pad(a, mode=m, pad_width=(0, 0, 0, 0, 1, 2, 2, 1),
                                                        constant_value=0.5))(mode), [_IMG], True)
    c["pad_method"] = (lambda a: a.pad(mode="constant", pad_width=(0, 0, 0, 0, 1, 1, 1, 1)), [_IMG], True)
    c["reshape_like"] = (lambda a, b: nd.reshape_like(a, b), [_A, _T[0, :, :2].T.copy()], True)
    c["reshape_like_ranges"] = (lambda a, b: nd.reshape_like(a, b, lhs_begin=1, lhs_end=3, rhs_begin=0,
                                                             rhs_end=2),
                                  [_T, np.zeros((4, 3, 5), np.float32)], True)
    c["reshape_like_method"] = (lambda a, b: a.reshape_like(b), [_A, np.zeros((3, 2), np.float32)], True)
    c["broadcast_like"] = (lambda a, b: nd.broadcast_like(a, b), [_A[:1], _A], True)
    c["broadcast_like_axes"] = (lambda a, b: nd.broadcast_like(a, b, lhs_axes=(1,), rhs_axes=(0,)),
                                [_A[:, :1], _T], True)
    c["broadcast_like_method"] = (lambda a, b: a.broadcast_like(b), [_A[:, :1], _A], True)
    c["moveaxis"] = (lambda a: nd.moveaxis(a, 0, 2), [_T], True)
    c["moveaxis_negative"] = (lambda a: nd.moveaxis(a, -1, 0), [_T], True)
    c["concatenate"] = (lambda a, b: nd.concatenate([a, b]), [_A, _B], False)
    c["concatenate_axis1"] = (lambda a, b: nd.concatenate([a, b], axis=1), [_A, _B], False)
    for name in ("elemwise_add", "elemwise_sub", "elemwise_mul", "elemwise_div", "broadcast_mod",
                 "broadcast_hypot"):
        c[name] = ((lambda name: lambda a, b: getattr(nd, name)(a, b))(name), [_A, _B], True)
    c["broadcast_mod_negative"] = (lambda a, b: nd.broadcast_mod(a, b), [_A, -_B], True)
    c["broadcast_mod_broadcast"] = (lambda a, b: nd.broadcast_mod(a, b), [_A, _B[:1]], True)
    c["broadcast_hypot_broadcast"] = (lambda a, b: nd.broadcast_hypot(a, b), [_A, _B[:, :1]], True)
    # softmax with temperature
    c["softmax_temperature"] = (lambda a: nd.softmax(a, temperature=2.5), [_A], True)
    c["softmax_temperature_axis0"] = (lambda a: nd.softmax(a, axis=0, temperature=0.5), [_A], True)
    c["log_softmax_temperature"] = (lambda a: nd.log_softmax(a, temperature=3.0), [_A], True)
    c["softmax_method_temperature"] = (lambda a: a.softmax(temperature=2.0), [_A], True)
    c["log_softmax_method_temperature"] = (lambda a: a.log_softmax(axis=0, temperature=2.0), [_A], True)
    # dtype=: computed and returned in that dtype, the gradient in the input's
    c["log_softmax_dtype_float64"] = (lambda a: nd.log_softmax(a, axis=0, dtype="float64", temperature=2.0),
                                      [_A], True)
    c["softmax_method_dtype"] = (lambda a: a.softmax(dtype="float64"), [_A], True)
    # Dropout outside training is the identity (mode='training'); p=0 'always' too
    c["Dropout_predict"] = (lambda a: nd.Dropout(a, p=0.5), [_A], False)
    c["Dropout_always_p0"] = (lambda a: nd.Dropout(a, p=0.0, mode="always"), [_A], True)
    c["FullyConnected"] = (lambda x, w, b: nd.FullyConnected(x, w, b, num_hidden=2),
                           [_A, _B[:, :3], _B[0, :2]], True)
    c["Activation_softrelu"] = (lambda a: nd.Activation(a, act_type="softrelu"), [_A], True)
    return c


def reshapes(nd):
    """MXNet's special reshape codes: ``{label: output shape}`` for an input of shape (2, 3, 4)."""
    codes = {
        "0_-1": (0, -1), "-2": (-2,), "0_0_-1": (0, 0, -1), "-3_4": (-3, 4), "-3_-2": (-3, -2),
        "-4_1_2_-2": (-4, 1, 2, -2), "-4_-1_1_-2": (-4, -1, 1, -2), "2_-4_3_-1_0": (2, -4, 3, -1, 0),
        "0_-4_-1_3_4": (0, -4, -1, 3, 4), "-1": (-1,), "6_-1": (6, -1), "0_1_-2": (0, 1, -2),
        "-3_-3": (-3, -3), "4_0_-1": (4, 0, -1),
    }
    out = {}
    x = nd.array(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    for label, code in codes.items():
        for prefix, reverse in (("reshape ", False), ("reshape reverse ", True)):
            try:
                out[prefix + label] = list(x.reshape(code, reverse=reverse).shape)
            except Exception:  # MXNet refuses it: the test expects an error too
                out[prefix + label] = "error"
    y = nd.array(np.zeros((10, 5, 4), np.float32))
    out["reshape reverse (10,5,4) -1_0"] = list(y.reshape((-1, 0), reverse=True).shape)
    out["reshape (10,5,4) -1_0"] = list(y.reshape((-1, 0)).shape)
    out["nd.reshape kw"] = list(nd.reshape(x, shape=(-3, 0), reverse=False).shape)
    return out


def creations(nd):
    """Creation functions: values, dtype and shape."""
    out = {}
    for label, arr in {
        "linspace": nd.linspace(0, 1, 5), "linspace_noend": nd.linspace(-1, 2, 4, endpoint=False),
        "linspace_int": nd.linspace(0, 10, 6, dtype="int32"),
        "eye": nd.eye(3), "eye_rect_k": nd.eye(3, 4, k=1), "eye_neg_k": nd.eye(4, 3, k=-2),
        "eye_int": nd.eye(2, dtype="int32"),
    }.items():
        out[label] = {"out": arr.asnumpy().astype(np.float64).tolist(), "dtype": str(arr.dtype),
                      "shape": list(arr.shape)}
    return out


def run(nd, autograd):
    out = {}
    for name, (fn, inputs, grad) in cases(nd).items():
        out[name] = _case(nd, autograd, fn, *inputs, grad=grad)
    out["reshapes"] = reshapes(nd)
    out["creations"] = creations(nd)
    return out
