"""Results that must not depend on the installed NumPy (1.x or 2.x); .ci/run runs this file in a
NumPy 1 virtualenv too. NumPy 1 promotes by value where every operand is 0-d (a 0-d float32 array
times a Python number is float64 there), NumPy 2 (NEP 50) keeps the array's dtype: we give NEP 50's
dtype on both. References: float64 NumPy values, and the dtype NEP 50 prescribes."""
import numpy as onp
import pytest

from gpuparams import autograd
from gpuparams import np

# (id, expression on a 0-d array x = 2, its float64 value)
SCALAR_CASES = [
    ("add", lambda x: x + 1, 3.0),
    ("radd", lambda x: 1 + x, 3.0),
    ("rsub", lambda x: 1.5 - x, -0.5),
    ("mul", lambda x: x * 2.5, 5.0),
    ("div", lambda x: x / 3, 2 / 3),
    ("rdiv", lambda x: 3 / x, 1.5),
    ("pow", lambda x: x ** 2, 4.0),
    ("rpow", lambda x: 2 ** x, 4.0),
    ("maximum", lambda x: np.maximum(x, 1), 2.0),
    ("minimum", lambda x: np.minimum(x, 10.5), 2.0),
    ("clip", lambda x: np.clip(x, 0, 1), 1.0),
    ("sum_plus", lambda x: np.sum(x.reshape(1)) + 1, 3.0),
]


@pytest.mark.parametrize("case", SCALAR_CASES, ids=[c[0] for c in SCALAR_CASES])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_a_0d_array_with_a_python_number_keeps_its_dtype(ctx, case, dtype):
    _, fn, want = case
    x = np.array(2.0, dtype=dtype, ctx=ctx)
    out = fn(x)
    assert out.shape == () and out.dtype == onp.dtype(dtype), (out.dtype, onp.__version__)
    onp.testing.assert_allclose(out.asnumpy(), want, rtol=1e-3 if dtype == "float16" else 1e-6)


def test_a_0d_integer_array_with_a_python_int_keeps_its_dtype(ctx):
    i = np.array(3, dtype="int8", ctx=ctx)
    for out, want in ((i + 1, 4), (i * 2, 6), (2 - i, -1)):
        assert out.dtype == onp.int8 and out.asnumpy() == want
    assert (i == 300).asnumpy().item() is False  # out of range: compared exactly, no wrap to 44


@pytest.mark.parametrize("axis, ddof", [(None, 0), (None, 1), (0, 0), (1, 1)], ids=str)
def test_var_and_std_of_float32_stay_float32(ctx, axis, ddof):
    # Was float64 on NumPy 1.26: var divides a 0-d sum by the Python int N - ddof.
    a = onp.array([[1.0, 2.5, -3.0], [0.5, 4.0, 2.0]], onp.float32)
    x = np.array(a, ctx=ctx)
    for fn, ref in ((np.var, onp.var), (np.std, onp.std)):
        out = fn(x, axis=axis, ddof=ddof)
        assert out.dtype == onp.float32, (fn.__name__, out.dtype, onp.__version__)
        onp.testing.assert_allclose(out.asnumpy(), ref(a.astype(onp.float64), axis=axis, ddof=ddof),
                                    rtol=1e-6)


def test_gradient_through_a_0d_array_and_python_numbers_is_float32(ctx):
    # d/dx (x * 2.5 / 4 + 1)**2 = 2 * (x * 0.625 + 1) * 0.625, in the parameter's dtype.
    x = np.array(2.0, dtype="float32", ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = (x * 2.5 / 4 + 1) ** 2
    y.backward()
    assert y.dtype == onp.float32 and x.grad.dtype == onp.float32
    onp.testing.assert_allclose(x.grad.asnumpy(), 2 * (2.0 * 0.625 + 1) * 0.625, rtol=1e-6)
