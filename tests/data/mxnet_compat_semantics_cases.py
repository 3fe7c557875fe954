"""Record MXNet 1.9.1's behaviour for the compatibility cases of issue 15 (import names, NDArray
semantics, NumPy formatting, autograd.Function, mark_variables, second derivatives).

Run with the MXNet side venv (outside the repository):
    /work/mxvenv/bin/python tests/data/mxnet_compat_semantics_cases.py
It writes tests/data/mxnet_compat_semantics.json (atomically), which tests/test_compat_semantics.py
and tests/test_autograd_higher.py read.
"""
import json
import os
import tempfile

import mxnet as mx
import numpy as np
from mxnet import autograd, nd

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mxnet_compat_semantics.json")


def values(x):
    return {"shape": list(x.shape), "dtype": np.dtype(x.dtype).name, "values": x.asnumpy().tolist()}


def raises(fn):
    try:
        fn()
    except Exception as exc:  # record the class name only; messages differ by design
        return type(exc).__name__
    return None


def int_division():
    i = lambda v, d="int32": nd.array(v, dtype=d)  # noqa: E731
    return {
        "uint8 5/3": values(i([5], "uint8") / i([3], "uint8")),
        "int32 [-7,7]/[2,-2]": values(i([-7, 7]) / i([2, -2])),
        "int32 [7,-7]/2": values(i([7, -7]) / 2),
        "int32 [7,-7]/2.5": values(i([7, -7]) / 2.5),
        "int32 [7,-7]/1.5": values(i([7, -7]) / 1.5),
        "7.9/int32 [2,-2]": values(7.9 / i([2, -2])),
        "int64 7/2": values(i([7], "int64") / i([2], "int64")),
        "int8 -7/2": values(i([-7], "int8") / i([2], "int8")),
        "uint8 5 /= 3": values((lambda a: (a.__itruediv__(i([3], "uint8")), a)[1])(i([5], "uint8"))),
    }


def int_scalars():
    """An integer array with a Python float: MXNet casts the number to the array's dtype."""
    i = lambda v, d="int32": nd.array(v, dtype=d)  # noqa: E731
    return {
        "int32 [5,7]+2.5": values(i([5, 7]) + 2.5),
        "int32 [5,-7]*2.5": values(i([5, -7]) * 2.5),
        "int32 [5,7]-0.5": values(i([5, 7]) - 0.5),
        "7.9-int32 [5,7]": values(7.9 - i([5, 7])),
        "int32 [5,7]**0.5": values(i([5, 7]) ** 0.5),
        "maximum(int32 [5,7],5.5)": values(nd.maximum(i([5, 7]), 5.5)),
        "int32 [5,7]>6.5": values(i([5, 7]) > 6.5),
        "int32 [5,7]==5.5": values(i([5, 7]) == 5.5),
        "uint8 [5,7]+2.9": values(i([5, 7], "uint8") + 2.9),
        "int32 [-5,7]+(-2.5)": values(i([-5, 7]) + (-2.5)),
    }


def modulo():
    """Python's ``%`` on NDArrays (``__mod__``, ``__rmod__``, ``__imod__``) and ``nd.modulo``."""
    i = lambda v, d="int32": nd.array(v, dtype=d)  # noqa: E731
    f = lambda v: nd.array(v)  # noqa: E731
    return {
        "float [5.5,-7,3]%[2,3,-2]": values(f([5.5, -7, 3]) % f([2, 3, -2])),
        "float [5.5,-7,3]%2": values(f([5.5, -7, 3]) % 2),
        "float [5.5,-7,3]%-2.5": values(f([5.5, -7, 3]) % -2.5),
        "7%float [2,3,-2]": values(7 % f([2, 3, -2])),
        "float [[5.5],[-7]]%[2,3]": values(f([[5.5], [-7]]) % f([2, 3])),
        "int32 [5,-7]%3": values(i([5, -7]) % 3),
        "int32 [-5,7]%[3,-2]": values(i([-5, 7]) % i([3, -2])),
        "int32 [5,7]%2.5": values(i([5, 7]) % 2.5),
        "7.5%int32 [5,7]": values(7.5 % i([5, 7])),
        "float [5.5,-7]%=2": values((lambda a: (a.__imod__(2), a)[1])(f([5.5, -7]))),
        "int32 [5,-7]%=[3,3]": values((lambda a: (a.__imod__(i([3, 3])), a)[1])(i([5, -7]))),
        "modulo(float [5.5,-7],[2,3])": values(nd.modulo(f([5.5, -7]), f([2, 3]))),
        "modulo(float [5.5,-7],2)": values(nd.modulo(f([5.5, -7]), 2)),
        "float [5.5,-7]%0": values(f([5.5, -7]) % 0),
        "grad a%b": _mod_grads(),
    }


def _mod_grads():
    a, b = nd.array([5.5, -7.0, 3.0]), nd.array([2.0, 3.0, -2.0])
    a.attach_grad()
    b.attach_grad()
    with autograd.record():
        y = (a % b) * nd.array([1.0, 2.0, 3.0]) + (a % 2.5) + (9.0 % b)
    y.backward()
    return {"a": a.grad.asnumpy().tolist(), "b": b.grad.asnumpy().tolist()}


def semantics():
    out = {}
    out["array of 0-d numpy"] = values(nd.array(np.array(3.0)))
    out["array of 0-d NDArray"] = values(nd.array(nd.array(np.array(3.0))))
    out["array of python scalar shape"] = list(nd.array(3.0).shape)
    out["bool empty"] = bool(nd.array([]))
    out["bool [0] / [2]"] = [bool(nd.array([0])), bool(nd.array([2]))]
    out["bool two raises"] = raises(lambda: bool(nd.array([1, 2])))
    a = nd.array([float("nan"), -1.0, 2.0, 0.0])
    a.attach_grad()
    with autograd.record():
        y = nd.relu(a)
    y.backward()
    out["relu nan forward"] = [str(v) for v in y.asnumpy().tolist()]
    out["relu nan grad"] = [str(v) for v in a.grad.asnumpy().tolist()]
    x = nd.zeros((3, 4))
    x[1, 2] = [5]
    out["x[1,2]=[5]"] = x.asnumpy().tolist()
    x = nd.zeros((3, 4))
    x[1] = [5]
    out["x[1]=[5]"] = x.asnumpy().tolist()
    out["x[1,2]=[5,6] raises"] = raises(lambda: nd.zeros((3, 4)).__setitem__((1, 2), [5, 6]))

    def write_recorded():
        w = nd.array([1.0, 2.0, 3.0])
        w.attach_grad()
        with autograd.record():
            r = w * 2
            r[0] = 5
    out["setitem on recorded result in record raises"] = raises(write_recorded)

    def iadd_recorded():
        w = nd.array([1.0, 2.0, 3.0])
        w.attach_grad()
        with autograd.record():
            r = w * 2
            r += 1
    out["+= on recorded result in record raises"] = raises(iadd_recorded)
    obj = np.array([[1, True], [2.5, False]], dtype=object)
    out["object array"] = values(nd.array(obj))
    out["object bool array"] = values(nd.array(np.array([True, False], dtype=object)))
    out["object str array raises"] = raises(lambda: nd.array(np.array(["a", 1], dtype=object)))
    w = nd.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    w.attach_grad()
    with autograd.record():
        y = w * w
    y.backward(nd.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    out["backward head of shape (3,2) for (2,3)"] = w.grad.asnumpy().tolist()
    loss = nd.array([1.0, 2.0]).mean()
    out["mean shape"] = list(loss.shape)
    out["'%f' % mean"] = "%f" % loss.asnumpy()
    return out


def names():
    return {
        "mx.nd is mx.ndarray": mx.nd is mx.ndarray,
        "legacy samplers": {n: hasattr(nd, n)
                            for n in ("uniform", "normal", "random_uniform", "random_normal")},
        "mx.random.uniform is nd.random.uniform": mx.random.uniform is nd.random.uniform,
        "mx.random.normal is nd.random.normal": mx.random.normal is nd.random.normal,
        "nd.random_normal(shape=(2,)).shape": list(nd.random_normal(shape=(2,)).shape),
        "MXNetError is an Exception": issubclass(mx.base.MXNetError, Exception),
    }


class Sigmoid(autograd.Function):
    def forward(self, x):
        y = 1 / (1 + nd.exp(-x))
        self.save_for_backward(y)
        return y

    def backward(self, dy):
        y, = self.saved_tensors
        return dy * y * (1 - y)


class ProductAndSum(autograd.Function):
    def forward(self, a, b):
        return a * b, a + b

    def backward(self, dp, ds):
        return dp * 0 + ds * 2, dp * 3


def functions():
    out = {}
    x = nd.array([-1.0, 0.0, 2.0])
    x.attach_grad()
    with autograd.record():
        y = Sigmoid()(x)
        z = (y * y).sum()
    z.backward()
    out["sigmoid forward"] = y.asnumpy().tolist()
    out["sigmoid grad of sum(y*y)"] = x.grad.asnumpy().tolist()
    a, b = nd.array([1.0, 2.0]), nd.array([3.0, 4.0])
    a.attach_grad()
    b.attach_grad()
    with autograd.record():
        p, s = ProductAndSum()(a, b)
        loss = (p + 10 * s).sum()
    loss.backward()
    out["two outputs grads"] = [a.grad.asnumpy().tolist(), b.grad.asnumpy().tolist()]
    f = Sigmoid()
    f(x)
    out["second call raises"] = raises(lambda: f(x))
    v, g = nd.array([1.0, 2.0]), nd.zeros((2,))
    autograd.mark_variables([v], [g])
    with autograd.record():
        w = (v * v * v).sum()
    w.backward()
    out["mark_variables write"] = g.asnumpy().tolist()
    v, g = nd.array([1.0, 2.0]), nd.ones((2,))
    autograd.mark_variables(v, g, grad_reqs="add")
    with autograd.record():
        w = (v * 3).sum()
    w.backward()
    out["mark_variables add"] = g.asnumpy().tolist()
    return out


def second_derivatives():
    out = {}
    cases = {"exp": nd.exp, "log": nd.log, "sigmoid": nd.sigmoid, "tanh": nd.tanh, "relu": nd.relu,
             "x*x*x": lambda t: t * t * t}
    for name, fn in cases.items():
        x = nd.array([0.5, 1.5, 2.0])
        x.attach_grad()
        try:
            with autograd.record():
                y = fn(x)
                dx = autograd.grad(y, [x], create_graph=True, retain_graph=True)[0]
                z = dx.sum()
            z.backward()
            out[name] = {"grad": dx.asnumpy().tolist(), "second": x.grad.asnumpy().tolist()}
        except mx.base.MXNetError:
            out[name] = "MXNetError"  # MXNet 1.9.1 has no second derivative for it
    return out


def main():
    reference = {"mxnet": mx.__version__, "numpy": np.__version__, "int_division": int_division(),
                 "int_scalars": int_scalars(), "modulo": modulo(),
                 "semantics": semantics(), "names": names(), "functions": functions(),
                 "second_derivatives": second_derivatives()}
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(OUT), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(reference, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, OUT)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
