"""One leaf that is both the input and the weight of a dense call (``dense(w, w)``).

The kernel path writes parameter gradients straight into their buffers and reads every accumulate
flag before it launches, so a leaf used twice by one call must get its two gradient contributions
summed, not the second written over the first. Checked against float64 NumPy on every context.
"""
import numpy as np
import pytest

from gpuparams import autograd, nd


@pytest.mark.parametrize("grad_req", ["write", "add"])
@pytest.mark.parametrize("with_bias", [False, True])
def test_a_leaf_used_as_input_and_weight_gets_both_gradients(ctx, grad_req, with_bias):
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((6, 6)).astype(np.float32)
    b0 = rng.standard_normal(6).astype(np.float32)
    head = rng.standard_normal((6, 6)).astype(np.float32)
    w = nd.array(w0, ctx=ctx)
    w.attach_grad(grad_req=grad_req)
    bias = nd.array(b0, ctx=ctx) if with_bias else None
    rounds = 2 if grad_req == "add" else 1
    for _ in range(rounds):
        with autograd.record():
            y = nd.dense(w, w, bias, activation="relu")
        y.backward(nd.array(head, ctx=ctx))
    # y = relu(w·wᵀ + b): with dz = head·mask, dL/dw = dz·w (as input) + dzᵀ·w (as weight).
    w64 = w0.astype(np.float64)
    z = w64 @ w64.T + (b0.astype(np.float64) if with_bias else 0.0)
    dz = head.astype(np.float64) * (z > 0)
    expected = rounds * (dz @ w64 + dz.T @ w64)
    np.testing.assert_allclose(w.grad.asnumpy(), expected, rtol=1e-5, atol=1e-5)
