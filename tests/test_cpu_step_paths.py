"""The CPU (NumPy) paths of one training step: dense backward writing parameter gradients straight
into their buffers, and optimizer updates written in place in MXNet 1.9.1's form.

Values are checked against float64 references; the memory checks (``tracemalloc``, which NumPy
reports its buffers to) pin down what the in-place paths are for: no weight-sized copy of ``dW`` in
the backward, at most one weight-sized temporary in plain SGD.
"""
import tracemalloc

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, nd, nn, optimizer as opt
from gpuparams.ops import optimizer_update as update_ops


def _peak_bytes(fn):
    """The peak of memory traced while ``fn()`` runs, above what was allocated before."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


# ------------------------------------------------------------------------------------------ dense
def _tied_pair(hybridize):
    first = nn.Dense(5, in_units=5, activation="relu")
    second = nn.Dense(5, in_units=5, params=first.params)
    net = nn.HybridSequential()
    net.add(first, second)
    net.initialize(ctx=gp.cpu(0))
    if hybridize:
        net.hybridize()
    return net, first


def _tied_reference(w, b, x, head):
    """float64 gradients of ``sum(head * D(relu(D(x))))`` with both layers ``D(v) = v·Wᵀ + b``."""
    z1 = x @ w.T + b
    h = np.maximum(z1, 0)
    dz1 = (head @ w) * (z1 > 0)
    return {"w": head.T @ h + dz1.T @ x, "b": head.sum(0) + dz1.sum(0), "x": dz1 @ w}


@pytest.mark.parametrize("hybridize", [False, True])
def test_cpu_dense_backward_accumulates_tied_weights_and_grad_req_add(rng, hybridize):
    net, first = _tied_pair(hybridize)
    for p in net.collect_params().values():
        p.grad_req = "add"
    xh = rng.uniform(-1, 1, (4, 5)).astype(np.float32)
    head = rng.uniform(-1, 1, (4, 5)).astype(np.float32)
    x = nd.array(xh)
    x.attach_grad(grad_req="add")
    for _ in range(3):  # trace, then replays when hybridized: every pass adds into the same buffers
        with autograd.record():
            y = net(x)
        y.backward(nd.array(head))
    w = first.weight.data().asnumpy().astype(np.float64)
    b = first.bias.data().asnumpy().astype(np.float64)
    ref = _tied_reference(w, b, xh.astype(np.float64), head.astype(np.float64))
    np.testing.assert_allclose(first.weight.grad().asnumpy(), 3 * ref["w"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(first.bias.grad().asnumpy(), 3 * ref["b"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.asnumpy(), 3 * ref["x"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hybridize", [False, True])
def test_cpu_dense_backward_with_grad_req_write_overwrites_tied_gradients(rng, hybridize):
    net, first = _tied_pair(hybridize)
    xh = rng.uniform(-1, 1, (3, 5)).astype(np.float32)
    x = nd.array(xh)
    x.attach_grad()
    first.weight.grad()[:] = 7.0  # stale values that the first contribution must overwrite
    x.grad[:] = 7.0
    for _ in range(2):
        with autograd.record():
            y = net(x)
        y.backward()
    w = first.weight.data().asnumpy().astype(np.float64)
    b = first.bias.data().asnumpy().astype(np.float64)
    ref = _tied_reference(w, b, xh.astype(np.float64), np.ones((3, 5)))
    np.testing.assert_allclose(first.weight.grad().asnumpy(), ref["w"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(first.bias.grad().asnumpy(), ref["b"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.asnumpy(), ref["x"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hybridize", [False, True])
def test_cpu_dense_backward_writes_dw_into_the_gradient_buffer_without_a_copy(rng, hybridize):
    layer = nn.Dense(512, in_units=512)
    net = nn.HybridSequential()
    net.add(layer)
    net.initialize(ctx=gp.cpu(0))
    if hybridize:
        net.hybridize()
    x = nd.array(rng.uniform(-1, 1, (2, 512)).astype(np.float32))
    buffer = layer.weight.grad()._data
    for _ in range(2):  # imperative twice, or trace then replay
        with autograd.record():
            y = net(x)
        peak = _peak_bytes(y.backward)
    # dW is 1 MiB: computing it into a new array and copying it would trace at least that much.
    assert peak < buffer.nbytes // 4, peak
    assert layer.weight.grad()._data is buffer
    np.testing.assert_allclose(buffer, np.ones((2, 512)).T @ x.asnumpy().astype(np.float64),
                               rtol=1e-5, atol=1e-6)
    # autograd.grad writes no buffer: it still returns the gradient as a new array.
    before = buffer.copy()
    with autograd.record():
        y = net(x * 2)
    (dw,) = autograd.grad(y, [layer.weight.data()])
    np.testing.assert_allclose(dw.asnumpy(), 2 * before, rtol=1e-6)
    np.testing.assert_array_equal(buffer, before)


# ------------------------------------------------------------------------------------ optimizers
def _mxnet_sgd64(w, g, mom, lr, momentum, wd, rescale, clip):
    """MXNet 1.9.1's SGDKernel / SGDMomKernel (optimizer_op-inl.h) in float64."""
    gc = rescale * g if clip is None else np.clip(rescale * g, -clip, clip)
    if mom is None:
        return (1 - lr * wd) * w - lr * gc, None
    mom = momentum * mom - lr * wd * w - lr * gc
    return w + mom, mom


@pytest.mark.parametrize("momentum, wd, clip", [(0.0, 0.0, None), (0.0, 0.01, None), (0.0, 0.1, 0.3),
                                                (0.9, 0.0, None), (0.9, 0.05, 0.3)])
def test_sgd_update_follows_the_mxnet_formula_over_several_steps(ctx, rng, momentum, wd, clip):
    o = opt.SGD(learning_rate=0.1, momentum=momentum, wd=wd, rescale_grad=0.25, clip_gradient=clip)
    w0 = rng.uniform(-1, 1, (6, 7)).astype(np.float32)
    w = nd.array(w0, ctx=ctx)
    state = o.create_state(0, w)
    w64, m64 = w0.astype(np.float64), None if momentum == 0 else np.zeros((6, 7))
    for _ in range(4):
        g = rng.uniform(-3, 3, (6, 7)).astype(np.float32)
        o.update(0, w, nd.array(g, ctx=ctx), state)
        w64, m64 = _mxnet_sgd64(w64, g.astype(np.float64), m64, 0.1, momentum, wd, 0.25, clip)
        np.testing.assert_allclose(w.asnumpy(), w64, rtol=1e-6, atol=1e-7)
        if m64 is not None:
            np.testing.assert_allclose(state[0].asnumpy(), m64, rtol=1e-5, atol=1e-7)


def _update_peak(fn, *arrays):
    weight = arrays[0]
    return _peak_bytes(lambda: fn(*arrays)) / weight._data.nbytes


def test_numpy_sgd_update_allocates_one_weight_sized_temporary(rng):
    shape = (256, 300)
    w, g, m = (nd.array(rng.uniform(-1, 1, shape).astype(np.float32)) for _ in range(3))
    hyper = dict(lr=0.1, rescale_grad=0.5, clip_gradient=None)
    plain = _update_peak(lambda *a: update_ops.sgd_update(*a, momentum=0.0, wd=0.0, **hyper), w, g, None)
    decay = _update_peak(lambda *a: update_ops.sgd_update(*a, momentum=0.0, wd=0.1, **hyper), w, g, None)
    clipped = _update_peak(lambda *a: update_ops.sgd_update(*a, momentum=0.0, wd=0.1, lr=0.1,
                                                            rescale_grad=0.5, clip_gradient=0.2), w, g, None)
    mom = _update_peak(lambda *a: update_ops.sgd_update(*a, momentum=0.9, wd=0.1, **hyper), w, g, m)
    # The former expression-per-term form held 2 to 3 weight-sized temporaries at once.
    assert plain < 1.1 and decay < 1.1 and clipped < 1.1, (plain, decay, clipped)
    assert mom < 2.1, mom


def test_numpy_adam_update_allocates_two_weight_sized_temporaries(rng):
    shape = (256, 300)
    w, g = (nd.array(rng.uniform(-1, 1, shape).astype(np.float32)) for _ in range(2))
    m, v = nd.zeros(shape), nd.zeros(shape)
    before = w.asnumpy().astype(np.float64)
    peak = _update_peak(lambda *a: update_ops.adam_update(
        *a, lr_t=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8, wd=0.1, rescale_grad=0.5,
        clip_gradient=0.3), w, g, m, v)
    assert peak < 2.1, peak
    # g' in float32 as the update forms it: where g*0.5 and 0.1*w nearly cancel, float64 would
    # give another tiny g' and so another sign ratio m/sqrt(v); the rest is checked in float64.
    rg32 = g.asnumpy() * np.float32(0.5) + np.float32(0.1) * before.astype(np.float32)
    rg = np.clip(rg32.astype(np.float64), -0.3, 0.3)
    m64, v64 = 0.1 * rg, 0.001 * rg * rg
    np.testing.assert_allclose(m.asnumpy(), m64, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(v.asnumpy(), v64, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(w.asnumpy(), before - 0.01 * m64 / (np.sqrt(v64) + 1e-8), rtol=1e-6,
                               atol=1e-7)


# ------------------------------------------------------------------------------------------- loss
def _sce_reference(p, labels, head):
    """float64 ``-log softmax(p)[label]`` over the last axis and its gradient ``head*(softmax - onehot)``."""
    shifted = p - p.max(axis=-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    onehot = np.eye(p.shape[-1])[labels]
    loss = -(logp * onehot).sum(axis=-1)
    return loss, head[..., None] * (np.exp(logp) - onehot)


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "3-d"])
def test_softmax_cross_entropy_picks_labels_on_the_last_axis(ctx, rng, layout):
    # The backward subtracts 1 at each label in place through a (rows, classes) view of the
    # softmax; a prediction that is a transposed view must still get its own gradient.
    shape = (6, 5) if layout == "contiguous" else (2, 3, 5)
    # "transposed": a (2, 3, 5) view of a (3, 2, 5) array, which no reshape to (6, 5) can view.
    base = rng.standard_normal((3, 2, 5) if layout == "transposed" else shape).astype(np.float32)
    labels = rng.integers(0, 5, shape[:-1])
    x = nd.array(base, ctx=ctx)
    x.attach_grad()
    n = shape[0]
    per_example = int(np.prod(shape[1:-1]))  # the loss Block averages over the non-batch axes
    head = rng.uniform(0.5, 2, n).astype(np.float32)
    with autograd.record():
        pred = nd.transpose(x, axes=(1, 0, 2)) if layout == "transposed" else x
        loss = gp.loss.SoftmaxCrossEntropyLoss()(pred, nd.array(labels.astype(np.float32), ctx=ctx))
    loss.backward(nd.array(head, ctx=ctx))
    p64 = base.astype(np.float64)
    elem_head = np.broadcast_to((head / per_example).reshape((n,) + (1,) * (len(shape) - 2)),
                                shape[:-1])
    p64 = p64.transpose(1, 0, 2) if layout == "transposed" else p64
    ref_loss, ref_grad = _sce_reference(p64, labels, elem_head)
    np.testing.assert_allclose(loss.asnumpy(), ref_loss.reshape(n, -1).mean(axis=1), rtol=1e-5,
                               atol=1e-6)
    got = x.grad.asnumpy()
    got = got.transpose(1, 0, 2) if layout == "transposed" else got
    np.testing.assert_allclose(got, ref_grad, rtol=1e-5, atol=1e-6)


def test_softmax_cross_entropy_from_logits_takes_minus_the_picked_entry(ctx, rng):
    logp = rng.standard_normal((4, 6)).astype(np.float32)
    labels = np.array([5, 0, 2, 2])
    x = nd.array(logp, ctx=ctx)
    x.attach_grad()
    with autograd.record():
        loss = gp.loss.SoftmaxCrossEntropyLoss(from_logits=True)(x, nd.array(labels, ctx=ctx))
    loss.backward()
    np.testing.assert_array_equal(loss.asnumpy(), -logp[np.arange(4), labels])
    np.testing.assert_array_equal(x.grad.asnumpy(), -np.eye(6, dtype=np.float32)[labels])


# ---------------------------------------------------------------------------------------- replay
def test_a_single_operator_replay_records_the_operators_own_node(rng):
    # One operator is one tape node imperatively; the replay records the same node (not a fused
    # node around it), with the same gradients, bit for bit.
    layer = nn.Dense(3, in_units=4)
    layer.initialize()
    x = nd.array(rng.standard_normal((5, 4)).astype(np.float32))
    grads = []
    for hybridize in (False, True):
        if hybridize:
            layer.hybridize()
        for _ in range(2):  # trace, then replay
            with autograd.record():
                y = layer(x)
            y.backward()
        assert y._node is None or y._node.name == "dense"  # freed by backward: name kept
        grads.append([p.grad().asnumpy().copy() for p in layer.collect_params().values()])
    with autograd.record():
        y = layer(x)
    assert y._node.name == "dense" and y._node.accepts_sinks
    assert gp.graph.cache_info(layer)["replays"] >= 2
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("hybridize", [False, True])
def test_cpu_dense_writes_dx_of_a_flattened_input_into_its_gradient_buffer(rng, hybridize):
    layer = nn.Dense(3, in_units=6)  # flatten=True: x of shape (2, 2, 3) is read as (2, 6)
    net = nn.HybridSequential()
    net.add(layer)
    net.initialize(ctx=gp.cpu(0))
    if hybridize:
        net.hybridize()
    xh = rng.uniform(-1, 1, (2, 2, 3)).astype(np.float32)
    x = nd.array(xh)
    x.attach_grad()
    buffer = x.grad._data
    head = rng.uniform(-1, 1, (2, 3)).astype(np.float32)
    for _ in range(2):
        with autograd.record():
            y = net(x)
        y.backward(nd.array(head))
    w = layer.weight.data().asnumpy().astype(np.float64)
    assert x.grad._data is buffer and x.grad.shape == (2, 2, 3)
    np.testing.assert_allclose(x.grad.asnumpy(), (head.astype(np.float64) @ w).reshape(2, 2, 3),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.weight.grad().asnumpy(),
                               head.T.astype(np.float64) @ xh.reshape(2, 6).astype(np.float64),
                               rtol=1e-5, atol=1e-6)
