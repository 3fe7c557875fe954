"""Cases of the NumPy interface whose results were recorded with MXNet 1.9.1's ``mxnet.np``
(tests/data/mxnet_1_9_1_np_reference.json): the very same functions run with ``gpuparams.np`` in
tests/test_np_mxnet_reference.py.

Each case is ``fn(np, npx, autograd)`` returning an array, a list of arrays, or a number; a case that
raises is recorded by the builtin exception classes its error derives from. Re-record with
``/work/mxvenv/bin/python tests/data/mxnet_np_cases.py``.
"""
import json
import os
import sys

A = [[1.5, -2.0, 3.0], [0.5, 4.0, -1.0]]
B = [[2.0, 1.0, -0.5], [3.0, -1.5, 2.5]]
V = [1.0, -2.0, 3.0]


def _grad(np, autograd, fn, *values):
    xs = [np.array(v) for v in values]
    for x in xs:
        x.attach_grad()
    with autograd.record():
        y = fn(*xs)
    y.backward()
    return [x.grad for x in xs]


def _meta(x):
    return f"{tuple(x.shape)} {x.dtype}"


CASES = {
    # creation
    "array_list": lambda np, npx, ag: np.array([1, 2, 3]),
    "array_int32": lambda np, npx, ag: np.array([1, 2, 3], dtype="int32"),
    "array_scalar": lambda np, npx, ag: np.array(3),
    "zeros": lambda np, npx, ag: np.zeros((2, 3)),
    "ones_int": lambda np, npx, ag: np.ones((2,), dtype="int32"),
    "full": lambda np, npx, ag: np.full((2, 2), 7),
    "full_float": lambda np, npx, ag: np.full((2,), 2.5),
    "empty_shape": lambda np, npx, ag: np.empty((3, 1)).shape,
    "arange": lambda np, npx, ag: np.arange(5),
    "arange_step": lambda np, npx, ag: np.arange(1, 2, 0.25),
    "linspace": lambda np, npx, ag: np.linspace(0, 1, 5),
    "linspace_open": lambda np, npx, ag: np.linspace(0, 1, 4, endpoint=False),
    "eye": lambda np, npx, ag: np.eye(3, 4, k=1),
    "identity": lambda np, npx, ag: np.identity(2),
    "zeros_like": lambda np, npx, ag: np.zeros_like(np.array(A)),
    "ones_like_int": lambda np, npx, ag: np.ones_like(np.array([1, 2], dtype="int32")),
    "full_like": lambda np, npx, ag: np.full_like(np.array(A), 3),
    # elementwise
    "add": lambda np, npx, ag: np.array(A) + np.array(B),
    "subtract_scalar": lambda np, npx, ag: 2 - np.array(A),
    "multiply_broadcast": lambda np, npx, ag: np.array(A) * np.array(V),
    "divide": lambda np, npx, ag: np.array(A) / np.array(B),
    "power": lambda np, npx, ag: np.array([[1.0, 2.0], [3.0, 4.0]]) ** 2,
    "exp": lambda np, npx, ag: np.exp(np.array(A)),
    "log": lambda np, npx, ag: np.log(np.array([1.0, 2.0, 10.0])),
    "sqrt": lambda np, npx, ag: np.sqrt(np.array([1.0, 4.0, 2.0])),
    "abs": lambda np, npx, ag: np.abs(np.array(A)),
    "sign": lambda np, npx, ag: np.sign(np.array(A)),
    "tanh": lambda np, npx, ag: np.tanh(np.array(A)),
    "sin": lambda np, npx, ag: np.sin(np.array(A)),
    "cos": lambda np, npx, ag: np.cos(np.array(A)),
    "square": lambda np, npx, ag: np.square(np.array(A)),
    "maximum": lambda np, npx, ag: np.maximum(np.array(A), np.array(B)),
    "minimum_scalar": lambda np, npx, ag: np.minimum(np.array(A), 1.0),
    "clip": lambda np, npx, ag: np.clip(np.array(A), -1, 2),
    "negative": lambda np, npx, ag: -np.array(A),
    "exp_int": lambda np, npx, ag: np.exp(np.array([0, 1], dtype="int32")),
    # comparisons
    "greater": lambda np, npx, ag: np.array(A) > np.array(B),
    "equal_scalar": lambda np, npx, ag: np.array(A) == 3.0,
    "less_equal": lambda np, npx, ag: np.less_equal(np.array(A), np.array(B)),
    "not_equal": lambda np, npx, ag: np.array(A) != np.array(A),
    # promotion
    "int32_plus_float32": lambda np, npx, ag: np.ones((2,), dtype="int32") + np.ones((2,)),
    "int32_plus_int64": lambda np, npx, ag: np.ones((2,), dtype="int32") + np.ones((2,), dtype="int64"),
    "float16_plus_float32": lambda np, npx, ag: np.ones((2,), dtype="float16") + np.ones((2,)),
    "float64_plus_float32": lambda np, npx, ag: np.ones((2,), dtype="float64") + np.ones((2,)),
    "uint8_plus_int8": lambda np, npx, ag: np.ones((2,), dtype="uint8") + np.ones((2,), dtype="int8"),
    "int64_plus_float16": lambda np, npx, ag: np.ones((2,), dtype="int64") + np.ones((2,), dtype="float16"),
    "int32_plus_float": lambda np, npx, ag: np.array([1, 2, 3], dtype="int32") + 1.5,
    "int32_div_int": lambda np, npx, ag: np.array([1, 2, 3], dtype="int32") / 2,
    "int32_plus_int": lambda np, npx, ag: np.array([1, 2, 3], dtype="int32") + 1,
    "float16_times_float": lambda np, npx, ag: np.ones((2,), dtype="float16") * 2.5,
    "bool_plus_int": lambda np, npx, ag: (np.array(V) > 0) + 1,
    # reductions
    "sum": lambda np, npx, ag: np.sum(np.array(A)),
    "sum_axis": lambda np, npx, ag: np.array(A).sum(axis=0),
    "sum_keepdims": lambda np, npx, ag: np.sum(np.array(A), axis=1, keepdims=True),
    "sum_int": lambda np, npx, ag: np.sum(np.array([1, 2, 3], dtype="int64")),
    "mean": lambda np, npx, ag: np.mean(np.array(A)),
    "mean_axis": lambda np, npx, ag: np.array(A).mean(axis=1),
    "mean_int": lambda np, npx, ag: np.mean(np.array([1, 2], dtype="int32")),
    "max": lambda np, npx, ag: np.max(np.array(A)),
    "min_axis": lambda np, npx, ag: np.array(A).min(axis=0),
    "max_keepdims": lambda np, npx, ag: np.array(A).max(axis=1, keepdims=True),
    "argmax": lambda np, npx, ag: np.argmax(np.array(A)),
    "argmax_axis": lambda np, npx, ag: np.argmax(np.array(A), axis=1),
    "argmin_axis": lambda np, npx, ag: np.array(A).argmin(axis=0),
    "var": lambda np, npx, ag: np.var(np.array(A)),
    "std_axis": lambda np, npx, ag: np.array(A).std(axis=0),
    "norm": lambda np, npx, ag: np.linalg.norm(np.array(A)),
    "norm_axis": lambda np, npx, ag: np.linalg.norm(np.array(A), axis=1),
    "norm_keepdims": lambda np, npx, ag: np.linalg.norm(np.array(A), axis=0, keepdims=True),
    "norm_ord1": lambda np, npx, ag: np.linalg.norm(np.array(V), ord=1),
    "item": lambda np, npx, ag: np.array(A).sum().item(),
    "float": lambda np, npx, ag: float(np.array(A).max()),
    # products
    "dot_vv": lambda np, npx, ag: np.dot(np.array(V), np.array(V)),
    "dot_mv": lambda np, npx, ag: np.dot(np.array(A), np.array(V)),
    "dot_mm": lambda np, npx, ag: np.dot(np.array(A), np.array(B).T),
    "matmul": lambda np, npx, ag: np.matmul(np.array(A), np.array(B).T),
    "matmul_op": lambda np, npx, ag: np.array(A) @ np.array(V),
    "tensordot": lambda np, npx, ag: np.tensordot(np.array(A), np.array(B), axes=([1], [1])),
    "tensordot_0": lambda np, npx, ag: np.tensordot(np.array(V), np.array(V), axes=0),
    "einsum_mm": lambda np, npx, ag: np.einsum("ij,kj->ik", np.array(A), np.array(B)),
    "einsum_sum": lambda np, npx, ag: np.einsum("ij->j", np.array(A)),
    # shapes
    "reshape": lambda np, npx, ag: np.array(A).reshape(3, 2),
    "reshape_tuple": lambda np, npx, ag: np.reshape(np.array(A), (-1,)),
    "transpose": lambda np, npx, ag: np.transpose(np.array(A)),
    "T": lambda np, npx, ag: np.array(A).T,
    "swapaxes": lambda np, npx, ag: np.swapaxes(np.array(A), 0, 1),
    "concatenate": lambda np, npx, ag: np.concatenate([np.array(A), np.array(B)]),
    "concatenate_axis1": lambda np, npx, ag: np.concatenate([np.array(A), np.array(B)], axis=1),
    "stack": lambda np, npx, ag: np.stack([np.array(V), np.array(V)], axis=1),
    "split": lambda np, npx, ag: np.split(np.array(A), 3, axis=1),
    "split_indices": lambda np, npx, ag: np.split(np.array(A), [1], axis=1),
    "squeeze": lambda np, npx, ag: np.squeeze(np.ones((1, 3, 1))),
    "squeeze_all": lambda np, npx, ag: np.squeeze(np.ones((1, 1))),
    "expand_dims": lambda np, npx, ag: np.expand_dims(np.array(V), 0),
    "broadcast_to": lambda np, npx, ag: np.broadcast_to(np.array(V), (2, 3)),
    "where": lambda np, npx, ag: np.where(np.array(A) > 0, np.array(A), np.array(B)),
    # indexing
    "index_int": lambda np, npx, ag: np.array(A)[1],
    "index_element": lambda np, npx, ag: np.array(A)[1, 2],
    "index_slice": lambda np, npx, ag: np.array(A)[:, 1:],
    "index_mask": lambda np, npx, ag: np.array(A)[np.array(A) > 0],
    "index_int_array": lambda np, npx, ag: np.array(A)[np.array([1, 0, 1], dtype="int64")],
    "index_int_array_axis1": lambda np, npx, ag: np.array(A)[:, np.array([2, 0], dtype="int64")],
    # npx
    "npx_relu": lambda np, npx, ag: npx.relu(np.array(A)),
    "npx_sigmoid": lambda np, npx, ag: npx.sigmoid(np.array(A)),
    "npx_softmax": lambda np, npx, ag: npx.softmax(np.array(A)),
    "npx_log_softmax": lambda np, npx, ag: npx.log_softmax(np.array(A), axis=0),
    "npx_pick": lambda np, npx, ag: npx.pick(np.array(A), np.array([2, 0])),
    "npx_one_hot": lambda np, npx, ag: npx.one_hot(np.array([1, 0, 2]), 3),
    "npx_topk": lambda np, npx, ag: npx.topk(np.array(A), k=2),
    "npx_topk_value": lambda np, npx, ag: npx.topk(np.array(A), k=2, ret_typ="value"),
    "npx_batch_dot": lambda np, npx, ag: npx.batch_dot(np.ones((2, 2, 3)), np.ones((2, 3, 1))),
    "npx_fully_connected": lambda np, npx, ag: npx.fully_connected(np.array(A), np.array(B),
                                                                   np.array([1.0, 2.0]), num_hidden=2),
    "npx_activation": lambda np, npx, ag: npx.activation(np.array(A), act_type="tanh"),
    "npx_dropout_predict": lambda np, npx, ag: npx.dropout(np.array(A), p=0.5),
    # gradients
    "grad_sum_square": lambda np, npx, ag: _grad(np, ag, lambda x: (x * x).sum(), A),
    "grad_mean_exp": lambda np, npx, ag: _grad(np, ag, lambda x: np.exp(x).mean(), A),
    "grad_dot": lambda np, npx, ag: _grad(np, ag, lambda x, y: np.dot(x, y.T).sum(), A, B),
    "grad_norm": lambda np, npx, ag: _grad(np, ag, lambda x: np.linalg.norm(x), A),
    "grad_mask": lambda np, npx, ag: _grad(np, ag, lambda x: (x[x > 0] * 3).sum(), A),
    "grad_int_index": lambda np, npx, ag: _grad(np, ag, lambda x: x[np.array([0, 0], dtype="int64")].sum(),
                                                A),
    "grad_max": lambda np, npx, ag: _grad(np, ag, lambda x: x.max(axis=1).sum(), A),
    "grad_broadcast": lambda np, npx, ag: _grad(np, ag, lambda x, v: (x * v).sum(), A, V),
    "grad_concat": lambda np, npx, ag: _grad(np, ag, lambda x, y: (np.concatenate([x, y]) ** 2).sum(), A, B),
    "grad_split": lambda np, npx, ag: _grad(np, ag, lambda x: np.split(x, 3, axis=1)[1].sum(), A),
    "grad_einsum": lambda np, npx, ag: _grad(np, ag, lambda x, y: np.einsum("ij,kj->ik", x, y).sum(), A, B),
    "grad_softmax": lambda np, npx, ag: _grad(np, ag, lambda x: (npx.softmax(x) * np.array(B)).sum(), A),
    "grad_tanh_reshape": lambda np, npx, ag: _grad(np, ag, lambda x: np.tanh(x.reshape(3, 2)).sum(), A),
    # random (the generators differ from MXNet's: shapes and dtypes only)
    "random_uniform": lambda np, npx, ag: _meta(np.random.uniform(-1, 1, size=(2, 3))),
    "random_uniform_scalar": lambda np, npx, ag: _meta(np.random.uniform()),
    "random_normal": lambda np, npx, ag: _meta(np.random.normal(0, 1, size=4)),
    "random_randint": lambda np, npx, ag: _meta(np.random.randint(0, 5, size=(3,))),
    "random_choice": lambda np, npx, ag: _meta(np.random.choice(5, size=(2,))),
    "random_multinomial": lambda np, npx, ag: _meta(np.random.multinomial(10, [0.5, 0.5], size=3)),
    # errors
    "err_reshape": lambda np, npx, ag: np.array(A).reshape(4, 2),
    "err_add_shapes": lambda np, npx, ag: np.array(A) + np.array([1.0, 2.0]),
    "err_dot_shapes": lambda np, npx, ag: np.dot(np.array(A), np.array(B)),
    "err_sum_axis": lambda np, npx, ag: np.sum(np.array(A), axis=2),
    "err_split_uneven": lambda np, npx, ag: np.split(np.array(A), 2, axis=1),
    "err_index": lambda np, npx, ag: np.array(A)[5],
    "err_item": lambda np, npx, ag: np.array(A).item(),
    "err_concat_shapes": lambda np, npx, ag: np.concatenate([np.array(A), np.ones((2, 2))]),
    "err_broadcast_to": lambda np, npx, ag: np.broadcast_to(np.array(V), (2, 4)),
    "err_squeeze_axis": lambda np, npx, ag: np.squeeze(np.array(A), axis=0),
}

_BUILTIN_BASES = ("ValueError", "TypeError", "IndexError", "KeyError", "RuntimeError", "NotImplementedError",
                  "AttributeError")


def encode(value):
    """A JSON form of a case's result."""
    if isinstance(value, (list, tuple)):
        return {"list": [encode(v) for v in value]}
    if isinstance(value, str):
        return {"text": value}
    if isinstance(value, (bool, int, float)):
        return {"scalar": value, "type": type(value).__name__}
    host = value.asnumpy()
    return {"shape": list(host.shape), "dtype": host.dtype.name,
            "value": host.astype("float64").tolist() if host.dtype.kind != "b" else host.tolist()}


def run_case(name, np, npx, autograd):
    try:
        return encode(CASES[name](np, npx, autograd))
    except Exception as exc:  # recording what is raised is the point
        bases = [c.__name__ for c in type(exc).__mro__ if c.__name__ in _BUILTIN_BASES]
        return {"error": type(exc).__name__, "bases": bases}


if __name__ == "__main__":
    from mxnet import autograd, np, npx
    import mxnet
    npx.set_np()
    out = {"mxnet": mxnet.__version__, "python": sys.version.split()[0],
           "cases": {name: run_case(name, np, npx, autograd) for name in CASES}}
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "mxnet_1_9_1_np_reference.json"), "w") as f:
        json.dump(out, f, indent=0, sort_keys=True)
        f.write("\n")
