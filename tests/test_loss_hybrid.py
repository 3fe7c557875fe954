"""Losses are HybridBlocks (issue 11): ``loss.hybridize()`` traces and replays them, bit-identical to
the imperative run on the CPU, alone, with sample weights, as MXNet-style custom losses, and as the
child of a hybridized model."""
import numpy as np
import pytest

from gpuparams import autograd, graph, nd
from gpuparams.gluon import loss as gloss
from gpuparams.gluon import nn

_R = np.random.default_rng(5)


def _cases():
    # (loss, prediction shape, label maker)
    return [
        (gloss.L2Loss(), (4, 3), lambda: _R.uniform(-1, 1, (4, 3))),
        (gloss.L1Loss(weight=0.5), (4, 3), lambda: _R.uniform(-1, 1, (4, 3))),
        (gloss.HuberLoss(rho=0.3), (5, 2), lambda: _R.uniform(-1, 1, (5, 2))),
        (gloss.SoftmaxCrossEntropyLoss(), (4, 5), lambda: _R.integers(0, 5, (4,)).astype(np.float64)),
        (gloss.SoftmaxCrossEntropyLoss(sparse_label=False), (3, 4),
         lambda: np.full((3, 4), 0.25)),
        (gloss.SigmoidBinaryCrossEntropyLoss(), (3, 4), lambda: _R.uniform(0, 1, (3, 4))),
        (gloss.L2Loss(batch_axis=1), (3, 4), lambda: _R.uniform(-1, 1, (3, 4))),
    ]


def _run(loss_fn, pred, label, *extra, **kwargs):
    p = nd.array(pred, dtype="float32")
    y = nd.array(label, dtype="float32")
    p.attach_grad()
    with autograd.record():
        out = loss_fn(p, y, *extra, **kwargs)
    out.backward()
    return out.asnumpy(), p.grad.asnumpy()


def test_every_loss_is_a_hybrid_block_with_its_repr():
    for loss, _, _ in _cases():
        assert isinstance(loss, nn.HybridBlock)
    assert repr(gloss.L2Loss()) == "L2Loss(batch_axis=0, w=1.0)"
    assert repr(gloss.HuberLoss(rho=2)) == "HuberLoss(rho=2.0, batch_axis=0, w=None)"


@pytest.mark.parametrize("index", range(7))
def test_hybridized_loss_replays_bit_identical_to_imperative(index):
    loss, shape, make_label = _cases()[index]
    calls = [(_R.uniform(-2, 2, shape), make_label()) for _ in range(3)]
    imperative = [_run(loss, p, y) for p, y in calls]
    loss.hybridize()
    hybrid = [_run(loss, p, y) for p, y in calls]
    info = graph.cache_info(loss)
    assert info["signatures"] == 1 and info["replays"] == 2  # traced once, replayed twice
    for (v0, g0), (v1, g1) in zip(imperative, hybrid):
        assert np.array_equal(v0, v1) and np.array_equal(g0, g1)


def test_hybridized_sample_weight_by_keyword_numpy_and_position():
    loss = gloss.L2Loss()
    pred, label = _R.uniform(size=(4, 3)), _R.uniform(size=(4, 3))
    w = _R.uniform(size=(4, 1)).astype(np.float32)
    want_v, want_g = _run(loss, pred, label, nd.array(w))
    # Reference: 0.5 * w * (p - y)^2 averaged over the non-batch axis, in float64.
    ref = (0.5 * w.astype(np.float64) * (pred.astype(np.float32) - label.astype(np.float32)) ** 2).mean(1)
    np.testing.assert_allclose(want_v, ref, rtol=1e-6)
    loss.hybridize()
    for kwargs, extra in [({"sample_weight": nd.array(w)}, ()), ({"sample_weight": w}, ()),
                          ({}, (nd.array(w),)), ({"sample_weight": nd.array(w)}, ())]:
        v, g = _run(loss, pred, label, *extra, **kwargs)
        assert np.array_equal(v, want_v) and np.array_equal(g, want_g)
    assert graph.cache_info(loss)["replays"] == 3
    # Without a sample weight: another signature, traced once.
    v, _ = _run(loss, pred, label)
    np.testing.assert_allclose(v, (0.5 * (pred.astype(np.float32) - label.astype(np.float32)) ** 2).mean(1),
                               rtol=1e-6)
    assert graph.cache_info(loss)["signatures"] == 2


class _CubeLoss(gloss.Loss):
    """An MXNet-style custom loss: subclass Loss, implement hybrid_forward with F."""

    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        loss = F.abs(pred - label) ** 3
        if sample_weight is not None:
            loss = F.broadcast_mul(loss, sample_weight)
        return F.mean(loss, axis=self._batch_axis, exclude=True)


def test_mxnet_style_custom_loss_hybridizes():
    pred, label = _R.uniform(-1, 1, (3, 4)), _R.uniform(-1, 1, (3, 4))
    w = _R.uniform(size=(3, 1))
    loss = _CubeLoss()
    want = [_run(loss, pred, label), _run(loss, pred, label, sample_weight=nd.array(w))]
    p32, y32 = pred.astype(np.float32).astype(np.float64), label.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(want[0][0], (np.abs(p32 - y32) ** 3).mean(1), rtol=1e-6)
    np.testing.assert_allclose(want[0][1], 3 * (p32 - y32) * np.abs(p32 - y32) / 4, rtol=1e-5, atol=1e-7)
    loss.hybridize()
    for _ in range(2):
        got = [_run(loss, pred, label), _run(loss, pred, label, sample_weight=nd.array(w))]
        for (v0, g0), (v1, g1) in zip(want, got):
            assert np.array_equal(v0, v1) and np.array_equal(g0, g1)
    info = graph.cache_info(loss)
    assert info["signatures"] == 2 and info["replays"] == 2


class _HingeLoss(gloss.Loss):
    """A custom loss with a Python hyperparameter: it branches on it and formats it as a float."""

    def __init__(self, **kwargs):
        super().__init__(None, 0, **kwargs)
        self.seen = []

    def hybrid_forward(self, F, pred, label, margin=1.0):
        self.seen.append(type(margin))
        if margin > 0:  # a Python comparison: an array here would be ambiguous or an error
            loss = F.relu(float(margin) - pred * label)
        else:
            loss = F.abs(pred - label)
        return F.mean(loss, axis=self._batch_axis, exclude=True)


def test_custom_loss_hyperparameters_stay_python_values():
    pred, label = _R.uniform(-2, 2, (4, 3)), np.sign(_R.uniform(-1, 1, (4, 3)))
    p32, y32 = pred.astype(np.float32).astype(np.float64), label

    def reference(margin):
        if margin > 0:
            return np.maximum(margin - p32 * y32, 0).mean(1)
        return np.abs(p32 - y32).mean(1)

    loss = _HingeLoss()
    for hybrid in (False, True):
        if hybrid:
            loss.hybridize()
        for margin, by_keyword in ((0.5, False), (2.0, True), (0.0, False), (0.5, True)):
            p, y = nd.array(pred, dtype="float32"), nd.array(label, dtype="float32")
            got = loss(p, y, margin=margin) if by_keyword else loss(p, y, margin)
            np.testing.assert_allclose(got.asnumpy(), reference(margin), rtol=1e-6, atol=1e-7)
    assert set(loss.seen) == {float}
    # one plan per margin value (the number is part of the signature), replayed when it repeats
    info = graph.cache_info(loss)
    assert info["signatures"] == 3 and info["replays"] == 1


class _ScaledL1(gloss.Loss):
    """A custom loss with a keyword-only input: a plan takes positional inputs only, so such a call
    runs imperatively even when hybridized."""

    def __init__(self, **kwargs):
        super().__init__(None, 0, **kwargs)

    def hybrid_forward(self, F, pred, label, *, scale=1.0):
        return F.mean(F.abs(pred - label) * scale, axis=self._batch_axis, exclude=True)


def test_keyword_only_inputs_of_a_custom_loss_run_imperatively():
    pred, label = _R.uniform(-1, 1, (3, 4)), _R.uniform(-1, 1, (3, 4))
    p32, y32 = pred.astype(np.float32).astype(np.float64), label.astype(np.float32).astype(np.float64)
    loss = _ScaledL1()
    for hybrid in (False, True):
        if hybrid:
            loss.hybridize()
        for scale in (1.0, 3.0):
            p = nd.array(pred, dtype="float32")
            p.attach_grad()
            with autograd.record():
                out = loss(p, nd.array(label, dtype="float32"), scale=scale)
            out.backward()
            np.testing.assert_allclose(out.asnumpy(), scale * np.abs(p32 - y32).mean(1), rtol=1e-6)
            np.testing.assert_allclose(p.grad.asnumpy(), scale * np.sign(p32 - y32) / 4, rtol=1e-6)
    assert graph.cache_info(loss)["signatures"] == 0  # nothing traced: keyword-only inputs


class _WithLoss(nn.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.net = nn.HybridSequential()
        self.net.add(nn.Dense(5, activation="relu"), nn.Dense(3))
        self.loss = gloss.SoftmaxCrossEntropyLoss()

    def hybrid_forward(self, F, x, y):
        return self.loss(self.net(x), y)


def test_a_loss_inside_a_hybridized_model():
    model = _WithLoss()
    model.initialize()
    x, y = nd.array(_R.uniform(size=(4, 6))), nd.array([0, 2, 1, 2])
    with autograd.record():
        want = model(x, y)
    want.backward()
    want_grad = model.net[0].weight.grad().asnumpy().copy()
    model.hybridize()  # before losses were HybridBlocks: "Children of HybridBlock must also be ..."
    assert model.loss._active
    for _ in range(2):
        with autograd.record():
            got = model(x, y)
        got.backward()
        assert np.array_equal(got.asnumpy(), want.asnumpy())
        assert np.array_equal(model.net[0].weight.grad().asnumpy(), want_grad)


def test_a_loss_in_a_hybrid_sequential_can_be_hybridized():
    seq = nn.HybridSequential()
    seq.add(nn.Dense(2), gloss.L2Loss())
    seq.hybridize()
    assert seq[1]._active
