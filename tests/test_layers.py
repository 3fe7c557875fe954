"""Layers against float64 NumPy references: Dense (every activation, flatten, bias), Activation,
Flatten, Dropout; gradients by hand-derived formulas and by finite differences."""
import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, init, nd, testing
from gpuparams.gluon import nn
from gpuparams.nn import basic_layers

# Every test here runs under both front ends (nd, np) and also with its HybridBlocks hybridized
# (tests/conftest.py::front_end, ::hybrid_mode).
pytestmark = pytest.mark.usefixtures("front_end", "hybrid_mode")

ACTS = {
    None: (lambda z: z, lambda z: np.ones_like(z)),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(np.float64)),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "softrelu": (lambda z: np.log1p(np.exp(z)), lambda z: 1 / (1 + np.exp(-z))),
    "softsign": (lambda z: z / (1 + np.abs(z)), lambda z: 1 / (1 + np.abs(z)) ** 2),
}


@pytest.fixture(autouse=True)
def fresh_names():
    with nn.NameManager():
        yield


def _rand(rng, shape, ctx):
    return nd.array(rng.uniform(-1, 1, shape), ctx=ctx, dtype="float32")


def _f64(a):
    return a.asnumpy().astype(np.float64)


# ---------------------------------------------------------------------------------- Dense
@pytest.mark.parametrize("activation", list(ACTS), ids=[str(a) for a in ACTS])
def test_dense_forward_and_backward_match_float64_reference(ctx, rng, activation):
    net = nn.Dense(5, activation=activation, in_units=7)
    net.initialize(init.Uniform(0.5), ctx=ctx)
    net.bias.set_data(rng.uniform(-0.5, 0.5, 5))
    x = _rand(rng, (6, 7), ctx)
    x.attach_grad()
    head = rng.uniform(0.5, 1.5, (6, 5))
    with autograd.record():
        y = net(x)
    y.backward(nd.array(head, ctx=ctx, dtype="float32"))

    fn, dfn = ACTS[activation]
    w, b, x64 = _f64(net.weight.data()), _f64(net.bias.data()), _f64(x)
    z = x64 @ w.T + b
    np.testing.assert_allclose(y.asnumpy(), fn(z), rtol=1e-5, atol=1e-5)
    dz = head * dfn(z)
    np.testing.assert_allclose(net.weight.grad().asnumpy(), dz.T @ x64, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(net.bias.grad().asnumpy(), dz.sum(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(x.grad.asnumpy(), dz @ w, rtol=1e-4, atol=1e-5)
    assert net.weight.data()._fresh_grad and net.bias.data()._fresh_grad


def test_dense_gradient_matches_finite_differences(rng):
    net = nn.Dense(3, activation="tanh", in_units=4)
    net.initialize(init.Normal(0.5))
    x = _rand(rng, (2, 4), gp.cpu(0))
    testing.check_gradient(lambda x, w, b: net(x), [x, net.weight, net.bias])


def test_dense_flatten_modes(ctx, rng):
    x = _rand(rng, (2, 3, 4), ctx)
    flat = nn.Dense(5)
    flat.initialize(ctx=ctx)
    assert flat(x).shape == (2, 5) and flat.weight.shape == (5, 12)
    np.testing.assert_allclose(flat(x).asnumpy(), _f64(x).reshape(2, 12) @ _f64(flat.weight.data()).T,
                               rtol=1e-5, atol=1e-6)
    last = nn.Dense(5, flatten=False, use_bias=False)
    last.initialize(ctx=ctx)
    y = last(x)
    assert y.shape == (2, 3, 5) and last.weight.shape == (5, 4) and last.bias is None
    np.testing.assert_allclose(y.asnumpy(), _f64(x) @ _f64(last.weight.data()).T, rtol=1e-5, atol=1e-6)
    assert list(last.collect_params()) == ["dense1_weight"]


def test_dense_calls_the_one_functional_dense_op(monkeypatch):
    calls = []
    real = basic_layers._dense

    def spy(x, weight, bias=None, activation=None, flatten=True):
        calls.append((weight.shape, bias is not None, activation, flatten))
        return real(x, weight, bias, activation=activation, flatten=flatten)

    monkeypatch.setattr(basic_layers, "_dense", spy)
    relu = nn.Dense(3, activation="relu", in_units=2)
    tanh = nn.Dense(3, activation="tanh", in_units=2, use_bias=False)
    for net in (relu, tanh):
        net.initialize()
        net(nd.ones((1, 2)))
    # relu is fused into the op; other activations run after it as their own operator.
    assert calls == [((3, 2), True, "relu", True), ((3, 2), False, None, True)]


def test_dense_weight_shape_dtype_and_initializer_strings(ctx):
    net = nn.Dense(4, in_units=3, dtype="float64", weight_initializer="ones", bias_initializer="ones")
    assert net.weight.shape == (4, 3) and net.bias.shape == (4,) and net.weight.dtype == np.float64
    net.initialize(ctx=ctx)
    y = net(nd.ones((2, 3), ctx=ctx, dtype="float64"))
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y.asnumpy(), np.full((2, 4), 4.0))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"units": 0}, ValueError, "units must be a positive int, got 0"),
    ({"units": 2.5}, ValueError, "units must be a positive int"),
    ({"units": 3, "in_units": -1}, ValueError, "in_units must be a non-negative int"),
    ({"units": 3, "activation": "gelu"}, ValueError, "unknown activation 'gelu'; choose one of relu"),
    ({"units": 3, "dtype": "complex64"}, TypeError, "Dense: dtype complex64 is not supported"),
    ({"units": 3, "weight_initializer": "nope"}, ValueError, "unknown initializer 'nope'"),
])
def test_dense_argument_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        nn.Dense(**kwargs)


def test_dense_input_errors_name_shapes_and_contexts():
    net = nn.Dense(3, in_units=4)
    net.initialize()
    with pytest.raises(ValueError, match=r"input of shape \(2, 5\).*weight of shape \(3, 4\)"):
        net(nd.ones((2, 5)))
    with pytest.raises(RuntimeError, match=r"'dense0_weight' is not initialized on cpu\(1\).*cpu\(0\)"):
        net(nd.ones((2, 4), ctx=gp.cpu(1)))
    with pytest.raises(TypeError, match="expected an NDArray input, got ndarray"):
        net(np.ones((2, 4)))


# ---------------------------------------------------------------------------------- Activation, Flatten
@pytest.mark.parametrize("name", [a for a in ACTS if a is not None])
def test_activation_block(ctx, rng, name):
    act = nn.Activation(name)
    assert act.prefix == f"{name}0_" and act.collect_params().keys() == {}.keys()
    x = _rand(rng, (3, 4), ctx)
    x.attach_grad()
    with autograd.record():
        y = act(x)
    y.backward()
    fn, dfn = ACTS[name]
    np.testing.assert_allclose(y.asnumpy(), fn(_f64(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.asnumpy(), dfn(_f64(x)), rtol=1e-4, atol=1e-6)


def test_activation_rejects_unknown_names():
    with pytest.raises(ValueError, match="Activation: unknown activation 'swish'"):
        nn.Activation("swish")


def test_flatten(ctx, rng):
    x = _rand(rng, (2, 3, 4), ctx)
    x.attach_grad()
    with autograd.record():
        y = nn.Flatten()(x)
        loss = (y * 2).sum()
    loss.backward()
    assert y.shape == (2, 12)
    np.testing.assert_array_equal(y.asnumpy(), x.asnumpy().reshape(2, 12))
    np.testing.assert_array_equal(x.grad.asnumpy(), np.full((2, 3, 4), 2.0))


# ---------------------------------------------------------------------------------- Dropout
def test_dropout_in_training_uses_seeded_host_mask_and_scales(ctx, rng):
    x = _rand(rng, (4, 6), ctx)
    x.attach_grad()
    drop = nn.Dropout(0.25)
    gp.random.seed(13)
    with autograd.record():
        y = drop(x)
    y.backward()
    keep = np.random.Generator(np.random.PCG64(13)).random((4, 6)) >= 0.25
    np.testing.assert_allclose(y.asnumpy(), x.asnumpy() * keep / 0.75, rtol=1e-6)
    np.testing.assert_allclose(x.grad.asnumpy(), keep / 0.75, rtol=1e-6)
    assert 0 < keep.sum() < keep.size


def test_dropout_is_identity_outside_training(front_end):
    x = nd.ones((3, 4))
    if front_end == "np":  # the input is an array of the active front end, so the block returns it
        x = x.as_np_ndarray()
    drop = nn.Dropout(0.5)
    assert drop(x) is x
    with autograd.record(train_mode=False):
        assert drop(x) is x
    with autograd.train_mode():  # training without recording still drops
        assert (drop(nd.ones((50, 50))).asnumpy() == 0).any()


def test_dropout_rate_edges_fraction_and_axes():
    gp.random.seed(17)
    with autograd.train_mode():
        x = nd.ones((100, 100))
        np.testing.assert_array_equal(nn.Dropout(0)(x).asnumpy(), np.ones((100, 100)))
        np.testing.assert_array_equal(nn.Dropout(1)(x).asnumpy(), np.zeros((100, 100)))
        y = nn.Dropout(0.3)(x).asnumpy()
        assert abs((y == 0).mean() - 0.3) < 0.02
        np.testing.assert_allclose(y[y != 0], 1 / 0.7, rtol=1e-6)
        shared = nn.Dropout(0.5, axes=(1,))(nd.ones((8, 5))).asnumpy()
        assert (shared == shared[:, :1]).all()  # one mask value per row
        with pytest.raises(ValueError, match=r"axis 2 is out of range .* \(8, 5\)"):
            nn.Dropout(0.5, axes=(2,))(nd.ones((8, 5)))


@pytest.mark.parametrize("rate", [1.5, -0.1, "half", True])
def test_dropout_rejects_bad_rates(rate):
    with pytest.raises(ValueError, match=r"rate must be a number in \[0, 1\]"):
        nn.Dropout(rate)
