"""Losses against float64 NumPy references and central finite differences; stability at +-1e4."""
import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, nd
from gpuparams.gluon import loss as gloss
from gpuparams.gluon import nn

# Every test here runs under both front ends (nd, and np after npx.set_np()) and both imperative and
# hybridized (losses are HybridBlocks; tests/conftest.py).
pytestmark = pytest.mark.usefixtures("front_end", "hybrid_mode")


# ----------------------------------------------------------------------------- helpers
def _value_and_grads(loss_fn, pred, label, head, ctx=None, **kwargs):
    """Loss values and d(sum(head * loss))/d(pred), d(...)/d(label) from autograd."""
    p = nd.array(pred, ctx=ctx, dtype=pred.dtype)
    y = nd.array(label, ctx=ctx, dtype=label.dtype)
    p.attach_grad()
    y.attach_grad()
    with autograd.record():
        out = loss_fn(p, y, **kwargs)
    out.backward(nd.array(head, ctx=ctx, dtype=out.dtype))
    return out.asnumpy(), p.grad.asnumpy(), y.grad.asnumpy()


def _numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f at float64 x."""
    x = x.astype(np.float64).copy()
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + eps
        up = f(x)
        flat[i] = keep - eps
        down = f(x)
        flat[i] = keep
        gflat[i] = (up - down) / (2 * eps)
    return grad


def _forward64(loss_fn, pred, label, **kwargs):
    out = loss_fn(nd.array(pred, dtype="float64"), nd.array(label, dtype=label.dtype), **kwargs)
    return out.asnumpy()


def _check_fd(loss_fn, pred, label, head, check_label=True, **kwargs):
    """Autograd gradients of sum(head * loss) against finite differences, in float64."""
    _, gp_, gy = _value_and_grads(loss_fn, pred, label, head, **kwargs)
    fd_p = _numeric_grad(lambda x: float((head * _forward64(loss_fn, x, label, **kwargs)).sum()), pred)
    np.testing.assert_allclose(gp_, fd_p, rtol=1e-5, atol=1e-7)
    if check_label:
        fd_y = _numeric_grad(lambda y: float((head * _forward64(loss_fn, pred, y, **kwargs)).sum()), label)
        np.testing.assert_allclose(gy, fd_y, rtol=1e-5, atol=1e-7)


def _mean_rest(x):
    return x.reshape(x.shape[0], -1).mean(axis=1)


def _log_softmax_ref(x, axis):
    return x - np.logaddexp.reduce(x, axis=axis, keepdims=True)


# ----------------------------------------------------------------------------- structure
def test_losses_are_blocks_and_namespace_aliases():
    assert gp.loss is gloss and gp.gluon.loss is gloss
    for cls in (gloss.L2Loss, gloss.L1Loss, gloss.HuberLoss, gloss.SoftmaxCrossEntropyLoss,
                gloss.SigmoidBinaryCrossEntropyLoss):
        assert isinstance(cls(), nn.Block)
    assert gloss.SoftmaxCELoss is gloss.SoftmaxCrossEntropyLoss
    assert gloss.SigmoidBCELoss is gloss.SigmoidBinaryCrossEntropyLoss
    assert repr(gloss.L2Loss()) == "L2Loss(batch_axis=0, w=1.0)"


# ----------------------------------------------------------------------------- L2 / L1 / Huber
def test_l2_hand_computed_and_label_reshape(ctx):
    pred = nd.array([[1.0], [3.0], [-2.0]], ctx=ctx)
    label = nd.array([0.0, 1.0, -2.0], ctx=ctx)  # (3,) reshaped to (3, 1), as Gluon does
    out = gloss.L2Loss()(pred, label)
    assert out.shape == (3,) and out.context == ctx
    np.testing.assert_allclose(out.asnumpy(), [0.5, 2.0, 0.0])
    np.testing.assert_allclose(gloss.L2Loss(weight=4.0)(pred, label).asnumpy(), [2.0, 8.0, 0.0])


def test_l2_matches_reference_and_finite_differences(rng):
    pred = rng.standard_normal((4, 3, 2))
    label = rng.standard_normal((4, 6))  # same size, other shape
    head = rng.standard_normal(4)
    out = _forward64(gloss.L2Loss(weight=0.7), pred, label)
    np.testing.assert_allclose(out, _mean_rest(0.35 * (pred - label.reshape(pred.shape)) ** 2), rtol=1e-12)
    _check_fd(gloss.L2Loss(weight=0.7), pred, label, head)


def test_l1_matches_reference_and_finite_differences(rng):
    pred = rng.standard_normal((5, 4))
    label = rng.standard_normal((5, 4))
    out = _forward64(gloss.L1Loss(), pred, label)
    np.testing.assert_allclose(out, _mean_rest(np.abs(pred - label)), rtol=1e-12)
    _check_fd(gloss.L1Loss(weight=2.0), pred, label, rng.standard_normal(5))
    _, g, _ = _value_and_grads(gloss.L1Loss(), np.ones((1, 2)), np.ones((1, 2)), np.ones(1))
    np.testing.assert_array_equal(g, [[0.0, 0.0]])  # subgradient 0 where pred == label


def test_huber_matches_reference_and_finite_differences(rng):
    rho = 0.8
    pred = rng.standard_normal((6, 5)) * 2
    label = rng.standard_normal((6, 5))
    d = np.abs(pred - label)
    ref = np.where(d > rho, d - 0.5 * rho, 0.5 / rho * d ** 2)
    np.testing.assert_allclose(_forward64(gloss.HuberLoss(rho=rho), pred, label), _mean_rest(ref),
                               rtol=1e-12)
    assert np.all(np.abs(d - rho) > 1e-3)  # keep finite differences away from the kink
    _check_fd(gloss.HuberLoss(rho=rho), pred, label, rng.standard_normal(6))


def test_huber_both_sides_hand_computed():
    out = gloss.HuberLoss(rho=1)(nd.array([[0.5], [3.0]]), nd.array([[0.0], [0.0]]))
    np.testing.assert_allclose(out.asnumpy(), [0.125, 2.5])
    with pytest.raises(ValueError, match="rho"):
        gloss.HuberLoss(rho=0)


# ----------------------------------------------------------------------------- weighting
def test_weight_and_sample_weight(rng):
    pred = rng.standard_normal((4, 3))
    label = rng.standard_normal((4, 3))
    sw = rng.uniform(0.5, 2, size=(4, 1))
    out = _forward64(gloss.L1Loss(weight=3.0), pred, label, sample_weight=nd.array(sw, dtype="float64"))
    np.testing.assert_allclose(out, _mean_rest(3.0 * sw * np.abs(pred - label)), rtol=1e-12)
    with pytest.raises(TypeError, match="sample_weight"):
        gloss.L2Loss(weight=nd.ones((2,)))


def test_batch_axis():
    pred = np.arange(6, dtype=np.float64).reshape(2, 3)
    out = gloss.L1Loss(batch_axis=1)(nd.array(pred, dtype="float64"), nd.zeros((2, 3), dtype="float64"))
    np.testing.assert_allclose(out.asnumpy(), pred.mean(axis=0))


def test_label_shape_mismatch():
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 2\)"):
        gloss.L2Loss()(nd.ones((2, 2)), nd.ones((3,)))


# ----------------------------------------------------------------------------- softmax CE
def test_softmax_ce_sparse_matches_reference_and_finite_differences(rng):
    pred = rng.standard_normal((5, 4)) * 3
    label = np.array([0, 3, 1, 1, 2], dtype=np.float64)
    ref = -_log_softmax_ref(pred, 1)[np.arange(5), label.astype(int)]
    loss = gloss.SoftmaxCrossEntropyLoss()
    np.testing.assert_allclose(_forward64(loss, pred, label), ref, rtol=1e-12)
    _check_fd(loss, pred, label, rng.standard_normal(5), check_label=False)


def test_softmax_ce_gradient_is_softmax_minus_onehot(ctx):
    pred = np.array([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]], dtype=np.float32)
    label = np.array([2, 0], dtype=np.float32)
    _, g, _ = _value_and_grads(gloss.SoftmaxCrossEntropyLoss(), pred, label, np.ones(2, np.float32), ctx=ctx)
    soft = np.exp(pred) / np.exp(pred).sum(axis=1, keepdims=True)
    soft[[0, 1], [2, 0]] -= 1
    np.testing.assert_allclose(g, soft, rtol=1e-6, atol=1e-7)


def test_softmax_ce_dense_labels_and_from_logits(rng):
    pred = rng.standard_normal((3, 5))
    label = rng.uniform(0, 1, size=(3, 5))  # not normalized: exercises the sum(label) term
    loss = gloss.SoftmaxCrossEntropyLoss(sparse_label=False)
    np.testing.assert_allclose(_forward64(loss, pred, label), -(label * _log_softmax_ref(pred, 1)).sum(1),
                               rtol=1e-12)
    _check_fd(loss, pred, label, rng.standard_normal(3))
    logp = _log_softmax_ref(pred, 1)
    from_logits = gloss.SoftmaxCrossEntropyLoss(from_logits=True)
    sparse = np.array([4, 0, 2], dtype=np.float64)
    np.testing.assert_allclose(_forward64(from_logits, logp, sparse), -logp[[0, 1, 2], [4, 0, 2]], rtol=1e-12)
    _check_fd(from_logits, logp, sparse, rng.standard_normal(3), check_label=False)


def test_softmax_ce_class_axis_1_of_3d_predictions(rng):
    pred = rng.standard_normal((2, 4, 3))  # (N, C, T)
    label = rng.integers(0, 4, size=(2, 3)).astype(np.float64)
    loss = gloss.SoftmaxCrossEntropyLoss(axis=1)
    logp = _log_softmax_ref(pred, 1)
    picked = np.take_along_axis(logp, label.astype(int)[:, None, :], axis=1)[:, 0, :]
    np.testing.assert_allclose(_forward64(loss, pred, label), -picked.mean(axis=1), rtol=1e-12)
    _check_fd(loss, pred, label, rng.standard_normal(2), check_label=False)


def test_softmax_ce_is_stable_for_huge_logits(ctx):
    pred = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=np.float32)
    label = np.array([1, 0], dtype=np.float32)
    out, g, _ = _value_and_grads(gloss.SoftmaxCrossEntropyLoss(), pred, label, np.ones(2, np.float32),
                                 ctx=ctx)
    np.testing.assert_allclose(out, [2e4, 2e4 + np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(g, [[1, -1, 0], [-1, 0.5, 0.5]], atol=1e-6)
    right = gloss.SoftmaxCrossEntropyLoss()(nd.array(pred, ctx=ctx), nd.array([0, 1], ctx=ctx))
    np.testing.assert_allclose(right.asnumpy(), [0.0, np.log(2)], atol=1e-6)


def test_softmax_ce_with_infinite_logits_is_exact(ctx):
    # Reference by hand: the k entries at +inf share all the probability (log-softmax -log k there,
    # -inf elsewhere); a -inf logit has probability 0. NaN only where there is no distribution.
    inf = np.inf
    pred = np.array([[inf, 1, 2], [inf, 1, 2], [inf, inf, 0], [inf, inf, 0], [-inf, 1, 2], [-inf, 1, 2],
                     [-inf, -inf, -inf]], dtype=np.float32)
    label = np.array([0, 1, 1, 2, 1, 0, 0])
    weights = np.ones(len(label), np.float32)
    out, g, _ = _value_and_grads(gloss.SoftmaxCrossEntropyLoss(), pred, label, weights, ctx=ctx)
    expected = [0.0, inf, np.log(2), inf, -(1 - np.log(np.exp(1) + np.exp(2))), inf, np.nan]
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    # The gradient softmax - onehot is finite wherever a distribution exists.
    soft = np.exp(1) / (np.exp(1) + np.exp(2))
    np.testing.assert_allclose(g[:6], [[0, 0, 0], [1, -1, 0], [0.5, -0.5, 0], [0.5, 0.5, -1],
                                       [0, soft - 1, 1 - soft], [-1, soft, 1 - soft]], atol=1e-6)


def _inf_as_huge(x):
    """float64 logits with +-inf replaced by +-1e6: a finite reference for the limit (exp(-1e6) is 0 in
    float64, so the softmax of 1e6 next to small logits is exactly one-hot, and two of them share
    exactly; log-probabilities of about -1e6 stand for -inf)."""
    x = np.asarray(x, np.float64)
    return np.where(np.isinf(x), np.sign(x) * 1e6, x)


def test_softmax_ce_gradient_at_an_infinite_label_logit_matches_float64(ctx):
    # A loss of exactly 0 (+inf at the label) has gradient exactly 0, not NaN; the float64 reference
    # with 1e6 in place of inf says the same (softmax one-hot, minus the one-hot label).
    inf = np.inf
    pred = np.array([[inf, 1, 2], [1, inf, -inf], [inf, 1, 2]], np.float32)
    label = np.array([0, 1, 2])
    out, g, _ = _value_and_grads(gloss.SoftmaxCrossEntropyLoss(), pred, label, np.ones(3, np.float32),
                                 ctx=ctx)
    ref = _inf_as_huge(pred)
    ref_logp = _log_softmax_ref(ref, 1)
    ref_grad = np.exp(ref_logp) - np.eye(3)[label]
    np.testing.assert_array_equal(out[:2], [0.0, 0.0])
    assert out[2] == inf and -ref_logp[2, 2] == 1e6 - 2  # inf where the reference is huge
    np.testing.assert_array_equal(g, ref_grad)


def test_softmax_ce_dense_labels_with_infinite_logits(ctx):
    # Before: 0 * -inf = NaN made the loss NaN (with a RuntimeWarning) whenever a class with label 0
    # had log-probability -inf. Expected: -sum(label * log_softmax) with 0 * log 0 = 0, checked
    # against float64 with +-1e6 in place of +-inf.
    inf = np.inf
    pred = np.array([[inf, 1, 2], [-inf, 1, 2], [inf, inf, 0], [-inf, 1, 2], [inf, 1, 2]], np.float32)
    label = np.array([[1, 0, 0], [0, 1, 0], [0.5, 0.5, 0], [0, 0.3, 0.7], [0, 1, 0]], np.float32)
    head = np.array([1.0, 2.0, 0.5, 1.0, 1.0], np.float32)
    loss = gloss.SoftmaxCrossEntropyLoss(sparse_label=False)
    out, g, gy = _value_and_grads(loss, pred, label, head, ctx=ctx)
    ref_logp = _log_softmax_ref(_inf_as_huge(pred), 1)
    ref = -(label * ref_logp).mean(axis=1) * 3  # one value per row: the sum over classes
    np.testing.assert_allclose(out[:4], ref[:4], rtol=1e-6, atol=0)
    np.testing.assert_array_equal(out[[0, 2]], [0.0, np.log(2).astype(np.float32)])
    np.testing.assert_allclose(out[1], -(1 - np.log(np.exp(1) + np.exp(2))), rtol=1e-6)
    assert out[4] == inf  # label on a class with probability 0
    # d/dpred = head * (softmax * sum(label) - label): finite everywhere, 0 for the exact rows.
    ref_grad = head[:, None] * (np.exp(ref_logp) * label.sum(axis=1, keepdims=True) - label)
    np.testing.assert_allclose(g, ref_grad, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(g[[0, 2]], 0.0)
    # d/dlabel = -head * log_softmax: +inf at the classes of probability 0, as the reference's ~1e6.
    ref_gy = -head[:, None] * ref_logp
    assert (np.isinf(gy) == (ref_gy > 1e5)).all()
    np.testing.assert_allclose(np.where(np.isinf(gy), 0, gy), np.where(ref_gy > 1e5, 0, ref_gy), rtol=1e-6)


def test_softmax_ce_dense_labels_from_log_probabilities_with_zeros(ctx):
    # from_logits=True: pred is log-probabilities, -inf where a probability is 0; the label 0 there
    # must not turn the loss into NaN. NaN in the prediction still gives NaN.
    inf = np.inf
    pred = np.array([[0, -inf, -inf], [np.log(0.5), np.log(0.5), -inf], [np.log(0.25), np.log(0.75), -inf],
                     [np.nan, 0, -inf]], np.float32)
    label = np.array([[1, 0, 0], [0.5, 0.5, 0], [0, 1, 0], [0, 1, 0]], np.float32)
    loss = gloss.SoftmaxCrossEntropyLoss(sparse_label=False, from_logits=True)
    out = loss(nd.array(pred, ctx=ctx), nd.array(label, ctx=ctx)).asnumpy()
    np.testing.assert_allclose(out[:3], [0.0, np.log(2), -np.log(0.75)], rtol=1e-6, atol=0)
    assert np.isnan(out[3])


def test_softmax_ce_nan_logits_propagate(ctx):
    # NaN anywhere in a row of logits: the row's loss is NaN for sparse and dense labels alike
    # (also next to +inf, where the shift by the maximum is special-cased).
    nan, inf = np.nan, np.inf
    pred = nd.array([[nan, 1, 2], [nan, inf, 1], [1, 2, 3]], ctx=ctx)
    sparse = gloss.SoftmaxCrossEntropyLoss()(pred, nd.array([1, 1, 2], ctx=ctx)).asnumpy()
    dense = gloss.SoftmaxCrossEntropyLoss(sparse_label=False)(
        pred, nd.array([[0, 1, 0], [0, 1, 0], [0, 0, 1]], ctx=ctx)).asnumpy()
    for got in (sparse, dense):
        assert np.isnan(got[:2]).all() and np.isfinite(got[2])


def test_softmax_ce_refuses_fractional_and_nan_labels(ctx):
    loss = gloss.SoftmaxCrossEntropyLoss()
    with pytest.raises(ValueError, match=r"label 0\.9999 in row 0 is not a whole number"):
        loss(nd.zeros((2, 3), ctx=ctx), nd.array([0.9999, 1], ctx=ctx))
    with pytest.raises(ValueError, match=r"label NaN in row 1 "):
        loss(nd.zeros((2, 3), ctx=ctx), nd.array([1, np.nan], ctx=ctx))
    whole = loss(nd.zeros((2, 3), ctx=ctx), nd.array([2.0, 0.0], ctx=ctx))  # whole floats are fine
    np.testing.assert_allclose(whole.asnumpy(), [np.log(3)] * 2, rtol=1e-6)


def test_softmax_ce_label_errors():
    with pytest.raises(ValueError, match="label 3 is outside the 3 classes"):
        gloss.SoftmaxCrossEntropyLoss()(nd.ones((2, 3)), nd.array([0, 3]))
    with pytest.raises(ValueError, match="sparse label of shape"):
        gloss.SoftmaxCrossEntropyLoss()(nd.ones((2, 3)), nd.array([0, 1, 2]))


# ----------------------------------------------------------------------------- sigmoid BCE
def _bce_ref(x, y):
    return y * np.logaddexp(0, -x) + (1 - y) * np.logaddexp(0, x)


def test_sigmoid_bce_matches_reference_and_finite_differences(rng):
    pred = rng.standard_normal((4, 3)) * 3
    label = rng.uniform(0, 1, size=(4, 3))
    loss = gloss.SigmoidBinaryCrossEntropyLoss()
    np.testing.assert_allclose(_forward64(loss, pred, label), _mean_rest(_bce_ref(pred, label)), rtol=1e-12)
    _check_fd(loss, pred, label, rng.standard_normal(4))


def test_sigmoid_bce_from_sigmoid(rng):
    p = rng.uniform(0.05, 0.95, size=(3, 4))
    label = (rng.uniform(size=(3, 4)) > 0.5).astype(np.float64)
    loss = gloss.SigmoidBinaryCrossEntropyLoss(from_sigmoid=True)
    ref = -(label * np.log(p + 1e-12) + (1 - label) * np.log(1 - p + 1e-12))
    np.testing.assert_allclose(_forward64(loss, p, label), _mean_rest(ref), rtol=1e-12)
    _check_fd(loss, p, label, rng.standard_normal(3))


def test_sigmoid_bce_is_stable_and_exact_at_zero(ctx):
    pred = np.array([[1e4, -1e4, 0.0, 0.0]], dtype=np.float32)
    label = np.array([[0.0, 0.0, 1.0, 0.0]], dtype=np.float32)
    out, g, _ = _value_and_grads(gloss.SigmoidBinaryCrossEntropyLoss(), pred, label, np.ones(1, np.float32),
                                 ctx=ctx)
    np.testing.assert_allclose(out, [(1e4 + 0 + np.log(2) * 2) / 4], rtol=1e-6)
    # d/dx = (sigmoid(x) - y) / 4 (mean over 4 entries), also exactly at x = 0
    np.testing.assert_allclose(g, [[0.25, 0.0, -0.125, 0.125]], atol=1e-7)


def test_loss_accepts_numpy_labels():
    out = gloss.L2Loss()(nd.array([[1.0], [2.0]]), np.array([0.0, 0.0], dtype=np.float32))
    np.testing.assert_allclose(out.asnumpy(), [0.5, 2.0])


def test_custom_loss_with_mxnet_style_hybrid_forward():
    class CubeLoss(gloss.Loss):
        def __init__(self, **kwargs):
            super().__init__(weight=None, batch_axis=0, **kwargs)

        def hybrid_forward(self, F, pred, label):
            return F.mean(F.abs(pred - label) ** 3, axis=self._batch_axis, exclude=True)
    out = CubeLoss()(nd.array([[1.0, -1.0], [2.0, 0.0]]), nd.zeros((2, 2)))
    np.testing.assert_allclose(out.asnumpy(), [1.0, 4.0])


@pytest.mark.parametrize("loss", [gloss.L2Loss(), gloss.L1Loss(), gloss.HuberLoss(),
                                  gloss.SigmoidBinaryCrossEntropyLoss(), gloss.SoftmaxCrossEntropyLoss()],
                         ids=lambda loss: type(loss).__name__)
def test_label_on_another_context_names_both_and_the_fix(loss):
    pred = nd.ones((2, 3), ctx=gp.cpu(0))
    label = nd.zeros((2,) if isinstance(loss, gloss.SoftmaxCrossEntropyLoss) else (2, 3), ctx=gp.cpu(1))
    with pytest.raises(ValueError, match=r"cpu\(0\).*cpu\(1\).*label\.as_in_context\(cpu\(0\)\)"):
        loss(pred, label)
    with pytest.raises(ValueError, match=r"cpu\(0\) and cpu\(1\).*as_in_context"):
        loss(pred, label.as_in_context(gp.cpu(0)), nd.ones((2, 1), ctx=gp.cpu(1)))  # sample_weight
