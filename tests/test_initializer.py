"""Initializers: formulas against independent references, precedence, registry, PyTorch-style functions.

References are drawn from a fresh ``numpy.random.Generator(PCG64(seed))``: initializers promise to draw
on the host from the generator that ``gp.random.seed`` seeds, so the same seed must give exactly these
values (cast to float32) on every context.
"""
import math

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import init, nd
from gpuparams.gluon import nn
from gpuparams.parameter import DeferredInitializationError, Parameter

from conftest import reference_rng as _ref


pytestmark = pytest.mark.usefixtures("fresh_names", "front_end")


def _filled(initializer, shape, seed=0, ctx=None):
    gp.random.seed(seed)
    arr = nd.zeros(shape, ctx=ctx)
    initializer("w", arr)
    return arr.asnumpy()


# ---------------------------------------------------------------------------------- Gluon initializers
def test_uniform_default_scale_matches_seeded_host_draws():
    assert init.Uniform().scale == 0.07
    got = _filled(init.Uniform(), (5, 7), seed=3)
    expected = _ref(3).uniform(-0.07, 0.07, size=(5, 7)).astype(np.float32)
    np.testing.assert_array_equal(got, expected)


def test_normal_default_sigma_matches_seeded_host_draws():
    assert init.Normal().sigma == 0.01
    got = _filled(init.Normal(0.5), (40, 50), seed=4)
    np.testing.assert_array_equal(got, _ref(4).normal(0.0, 0.5, size=(40, 50)).astype(np.float32))
    assert abs(got.std() - 0.5) < 0.03 and abs(got.mean()) < 0.03


def test_constant_zero_one():
    np.testing.assert_array_equal(_filled(init.Constant(2.5), (2, 2)), np.full((2, 2), 2.5))
    np.testing.assert_array_equal(_filled(init.Constant([1.0, 2.0]), (2, 2)), [[1, 2], [1, 2]])
    np.testing.assert_array_equal(_filled(init.One(), (3,)), np.ones(3))
    arr = nd.ones((3,))
    init.Zero()("w", arr)
    np.testing.assert_array_equal(arr.asnumpy(), np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(3,\) cannot fill 'w' of shape \(2, 2\)"):
        _filled(init.Constant([1.0, 2.0, 3.0]), (2, 2))


def test_xavier_bound_for_256_by_20():
    bound = math.sqrt(6.0 / (20 + 256))
    got = _filled(init.Xavier(), (256, 20), seed=5)
    np.testing.assert_array_equal(
        got, _ref(5).uniform(-bound, bound, size=(256, 20)).astype(np.float32))
    assert np.abs(got).max() <= bound and np.abs(got).max() > 0.99 * bound


@pytest.mark.parametrize("shape, factor_type, magnitude, expected_scale", [
    ((30, 50), "in", 2.0, math.sqrt(2.0 / 50)),
    ((30, 50), "out", 3.0, math.sqrt(3.0 / 30)),
    ((8, 4, 3, 3), "avg", 3.0, math.sqrt(3.0 / ((36 + 72) / 2))),  # fans include the kernel size
])
def test_xavier_scale_per_factor_type(shape, factor_type, magnitude, expected_scale):
    got = _filled(init.Xavier("gaussian", factor_type, magnitude), shape, seed=6)
    np.testing.assert_array_equal(
        got, _ref(6).normal(0.0, expected_scale, size=shape).astype(np.float32))


def test_msraprelu_is_gaussian_with_he_magnitude():
    scale = math.sqrt(2.0 / (1 + 0.25 ** 2) / ((10 + 40) / 2))
    got = _filled(init.MSRAPrelu(), (40, 10), seed=8)
    np.testing.assert_array_equal(got, _ref(8).normal(0.0, scale, size=(40, 10)).astype(np.float32))


def test_xavier_refuses_vectors_naming_the_parameter():
    p = Parameter("mydense0_bias", shape=(3,))
    with pytest.raises(ValueError, match=r"Xavier cannot initialize 'mydense0_bias'.*init='zeros'"):
        p.initialize(init=init.Xavier())
    with pytest.raises(RuntimeError, match="has not been initialized"):  # left as it was
        p.data()
    p.initialize(init="zeros")
    np.testing.assert_array_equal(p.data().asnumpy(), np.zeros(3))


@pytest.mark.parametrize("make, match", [
    (lambda: init.Xavier(rnd_type="cauchy"), "rnd_type"),
    (lambda: init.Xavier(factor_type="sum"), "factor_type"),
    (lambda: init.Xavier(magnitude=0), "magnitude"),
    (lambda: init.Uniform(-1), "scale"),
    (lambda: init.Normal(-1), "sigma"),
])
def test_bad_initializer_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_initializers_fill_on_any_context(ctx):
    got = _filled(init.Xavier(), (6, 4), seed=9, ctx=ctx)
    np.testing.assert_array_equal(got, _filled(init.Xavier(), (6, 4), seed=9, ctx=gp.cpu(0)))


# ---------------------------------------------------------------------------------- custom, registry
def test_custom_initializer_sees_parameter_names_and_fills_in_place():
    seen = []

    class MyInit(init.Initializer):
        def _init_weight(self, name, data):
            seen.append((name, data.shape))
            data[:] = nd.random.uniform(low=-10, high=10, shape=data.shape)
            data *= data.abs() >= 5

    net = nn.Sequential()
    net.add(nn.Dense(8, activation="relu", in_units=4), nn.Dense(3, in_units=8))
    gp.random.seed(1)
    net.initialize(MyInit())
    assert seen == [("dense0_weight", (8, 4)), ("dense1_weight", (3, 8))]  # biases use 'zeros'
    expected = _ref(1).uniform(-10, 10, size=(8, 4)).astype(np.float32)
    expected *= np.abs(expected) >= 5
    np.testing.assert_array_equal(net[0].weight.data().asnumpy(), expected)


def test_initializer_without_init_weight_says_what_to_implement():
    with pytest.raises(NotImplementedError, match=r"_init_weight\(self, name, data\)"):
        Parameter("w", shape=(2,)).initialize(init=init.Initializer())


def test_initializer_must_fill_in_place():
    class Replacer(init.Initializer):
        def _init_weight(self, name, data):
            data._data = data._data.reshape(-1)

    with pytest.raises(RuntimeError, match=r"Replacer._init_weight changed 'w'.*in place"):
        Parameter("w", shape=(2, 2)).initialize(init=Replacer())


def test_registry_names_and_create():
    assert isinstance(init.create("xavier"), init.Xavier)
    assert isinstance(init.create("Zeros"), init.Zero) and isinstance(init.create("ones"), init.One)
    assert isinstance(init.create("zero"), init.Zero) and isinstance(init.create("msraprelu"), init.MSRAPrelu)
    assert init.create(init.Normal).sigma == 0.01
    u = init.Uniform(0.3)
    assert init.create(u) is u
    clone = init.create(init.Xavier("gaussian", "in", 2).dumps())
    assert (clone.rnd_type, clone.factor_type, clone.magnitude) == ("gaussian", "in", 2.0)
    with pytest.raises(ValueError, match=r"unknown initializer 'glorot'.*xavier"):
        init.create("glorot")
    with pytest.raises(TypeError, match="Initializer"):
        init.create(3.0)

    @init.alias("halves")
    class Half(init.Initializer):
        def _init_weight(self, name, data):
            data[:] = 0.5

    p = Parameter("h", shape=(2,), init="halves")
    p.initialize()
    np.testing.assert_array_equal(p.data().asnumpy(), [0.5, 0.5])
    assert "half" in init.registered_names()


def test_verbose_initialize_prints_each_parameter(capsys):
    net = nn.Dense(2, in_units=3)
    net.initialize(init.One(), verbose=True)
    out = capsys.readouterr().out.splitlines()
    assert out == ["Initialized dense0_weight as One(): rms=1",
                   "Initialized dense0_bias as Zero(): rms=0"]


# ---------------------------------------------------------------------------------- precedence
def test_initializer_precedence():
    net = nn.Dense(3, in_units=2)                   # weight: no own init; bias: own init 'zeros'
    net.initialize(init.Constant(5.0))              # Block.initialize(init) beats the default Uniform
    np.testing.assert_array_equal(net.weight.data().asnumpy(), np.full((3, 2), 5.0))
    np.testing.assert_array_equal(net.bias.data().asnumpy(), np.zeros(3))   # own init beats Block's

    own = nn.Dense(3, in_units=2, weight_initializer=init.Constant(7.0), bias_initializer="ones")
    own.initialize(init.Constant(5.0))
    np.testing.assert_array_equal(own.weight.data().asnumpy(), np.full((3, 2), 7.0))
    np.testing.assert_array_equal(own.bias.data().asnumpy(), np.ones(3))

    own.weight.initialize(init=init.Constant(9.0), force_reinit=True)   # param.initialize(init=X) wins
    np.testing.assert_array_equal(own.weight.data().asnumpy(), np.full((3, 2), 9.0))

    gp.random.seed(12)
    default = nn.Dense(3, in_units=2)
    default.initialize()                            # nothing given: Uniform(0.07)
    np.testing.assert_array_equal(default.weight.data().asnumpy(),
                                  _ref(12).uniform(-0.07, 0.07, size=(3, 2)).astype(np.float32))


# ---------------------------------------------------------------------------------- PyTorch-style
def test_calculate_gain_table():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a number"):
        init.calculate_gain("leaky_relu", True)


def test_uniform_normal_constant_on_ndarray(ctx):
    x = nd.zeros((4, 5), ctx=ctx)
    gp.random.seed(2)
    assert init.uniform_(x, -2.0, 3.0) is x
    np.testing.assert_array_equal(x.asnumpy(), _ref(2).uniform(-2, 3, size=(4, 5)).astype(np.float32))
    gp.random.seed(2)
    init.normal_(x, 1.0, 0.5)
    np.testing.assert_array_equal(x.asnumpy(), _ref(2).normal(1.0, 0.5, size=(4, 5)).astype(np.float32))
    init.constant_(x, 0.25)
    np.testing.assert_array_equal(x.asnumpy(), np.full((4, 5), 0.25))
    init.ones_(x)
    np.testing.assert_array_equal(x.asnumpy(), np.ones((4, 5)))
    init.zeros_(x)
    np.testing.assert_array_equal(x.asnumpy(), np.zeros((4, 5)))


def test_xavier_uniform_and_normal_formulas():
    x = nd.zeros((30, 20))
    gp.random.seed(3)
    init.xavier_uniform_(x, gain=2.0)
    bound = 2.0 * math.sqrt(6.0 / 50)
    np.testing.assert_array_equal(x.asnumpy(), _ref(3).uniform(-bound, bound, (30, 20)).astype(np.float32))
    gp.random.seed(3)
    init.xavier_normal_(x, gain=0.5)
    std = 0.5 * math.sqrt(2.0 / 50)
    np.testing.assert_array_equal(x.asnumpy(), _ref(3).normal(0, std, (30, 20)).astype(np.float32))


@pytest.mark.parametrize("a, mode, nonlinearity, fan", [
    (0, "fan_in", "leaky_relu", 40),
    (0.1, "fan_out", "leaky_relu", 10),
    (0, "fan_in", "relu", 40),
    (0, "fan_out", "tanh", 10),
])
def test_kaiming_formulas(a, mode, nonlinearity, fan):
    x = nd.zeros((10, 40))
    gain = init.calculate_gain(nonlinearity, a)
    gp.random.seed(4)
    init.kaiming_uniform_(x, a=a, mode=mode, nonlinearity=nonlinearity)
    bound = gain * math.sqrt(3.0 / fan)
    np.testing.assert_array_equal(x.asnumpy(), _ref(4).uniform(-bound, bound, (10, 40)).astype(np.float32))
    gp.random.seed(4)
    init.kaiming_normal_(x, a=a, mode=mode, nonlinearity=nonlinearity)
    np.testing.assert_array_equal(
        x.asnumpy(), _ref(4).normal(0, gain / math.sqrt(fan), (10, 40)).astype(np.float32))


def test_torch_style_on_parameter_fills_every_context_identically():
    p = Parameter("w", shape=(6, 3))
    p.initialize(ctx=[gp.cpu(0), gp.cpu(1)])
    arrays = p.list_data()
    gp.random.seed(5)
    assert init.kaiming_uniform_(p, a=math.sqrt(5)) is p
    assert p.list_data() == arrays
    bound = init.calculate_gain("leaky_relu", math.sqrt(5)) * math.sqrt(3.0 / 3)
    expected = _ref(5).uniform(-bound, bound, (6, 3)).astype(np.float32)
    for arr in arrays:
        np.testing.assert_array_equal(arr.asnumpy(), expected)


def test_torch_style_errors():
    with pytest.raises(RuntimeError, match=r"'w' has not been initialized"):
        init.xavier_uniform_(Parameter("w", shape=(2, 2)))
    deferred = Parameter("d", shape=(2, 0), allow_deferred_init=True)
    deferred.initialize()
    with pytest.raises(DeferredInitializationError, match="'d'"):
        init.normal_(deferred)
    with pytest.raises(ValueError, match=r"xavier_normal_: fan in and fan out need at least 2 "
                                         r"dimensions, got shape \(5,\)"):
        init.xavier_normal_(nd.zeros((5,)))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_normal_(nd.zeros((2, 2)), mode="fan_avg")
    with pytest.raises(TypeError, match="Parameter or an NDArray"):
        init.zeros_(np.zeros(3))
