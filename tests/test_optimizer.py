"""SGD and Adam updates against values worked out by hand, plus a float64 reference for longer runs.

The update runs through the fused kernels on gpu contexts (emulated or real) and through array
expressions on cpu(0); both must give the hand-computed numbers.
"""
import math

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import nd, optimizer as opt

# Every test here runs under both front ends: nd, and np after npx.set_np() (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("front_end")


def _step(o, w, g, state, index=0):
    o.update(index, w, g, state)


def test_sgd_plain_hand_computed(ctx):
    # g = clip(0.5*[0.5, 4], -1, 1) = [0.25, 1];  w -= 0.1*(g + 0.01*w)
    o = opt.SGD(learning_rate=0.1, wd=0.01, rescale_grad=0.5, clip_gradient=1.0)
    w = nd.array([1.0, -2.0], ctx=ctx)
    g = nd.array([0.5, 4.0], ctx=ctx)
    state = o.create_state(0, w)
    assert state is None
    _step(o, w, g, state)
    np.testing.assert_allclose(w.asnumpy(), [0.974, -2.098], rtol=1e-6)


def test_sgd_momentum_two_steps_hand_computed(ctx):
    # mom1 = -0.1*1 = -0.1, w1 = 0.9; mom2 = 0.9*(-0.1) - 0.1*1 = -0.19, w2 = 0.71
    o = opt.SGD(learning_rate=0.1, momentum=0.9)
    w = nd.array([1.0, 3.0], ctx=ctx)
    g = nd.array([1.0, -2.0], ctx=ctx)
    state = o.create_state(0, w)
    _step(o, w, g, state)
    np.testing.assert_allclose(w.asnumpy(), [0.9, 3.2], rtol=1e-6)
    np.testing.assert_allclose(state[0].asnumpy(), [-0.1, 0.2], rtol=1e-6)
    _step(o, w, g, state)
    np.testing.assert_allclose(w.asnumpy(), [0.71, 3.58], rtol=1e-6)
    np.testing.assert_allclose(state[0].asnumpy(), [-0.19, 0.38], rtol=1e-6)


def test_sgd_momentum_weight_decay_after_clipping(ctx):
    # SGD clips the rescaled gradient first and adds wd*w afterwards:
    # g = clip(10, 1) = 1; mom = -0.5*(1 + 0.1*2) = -0.6; w = 2 - 0.6 = 1.4
    o = opt.SGD(learning_rate=0.5, momentum=0.5, wd=0.1, clip_gradient=1.0)
    w = nd.array([2.0], ctx=ctx)
    state = o.create_state(0, w)
    _step(o, w, nd.array([10.0], ctx=ctx), state)
    np.testing.assert_allclose(w.asnumpy(), [1.4], rtol=1e-6)


def test_adam_first_step_hand_computed(ctx):
    # t = 1: m = 0.1*g, v = 0.001*g^2, lr_t = lr*sqrt(0.001)/0.1, so the step is lr*g/|g| up to eps.
    o = opt.Adam(learning_rate=0.01)
    assert (o.beta1, o.beta2, o.epsilon) == (0.9, 0.999, 1e-8)
    w = nd.array([1.0, 1.0], ctx=ctx)
    g = nd.array([0.5, -2.0], ctx=ctx)
    state = o.create_state(0, w)
    _step(o, w, g, state)
    np.testing.assert_allclose(state[0].asnumpy(), [0.05, -0.2], rtol=1e-6)
    np.testing.assert_allclose(state[1].asnumpy(), [0.00025, 0.004], rtol=1e-6)
    lr_t = 0.01 * math.sqrt(1 - 0.999) / (1 - 0.9)
    expected = [1 - lr_t * 0.05 / (math.sqrt(0.00025) + 1e-8), 1 + lr_t * 0.2 / (math.sqrt(0.004) + 1e-8)]
    np.testing.assert_allclose(w.asnumpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(w.asnumpy(), [0.99, 1.01], rtol=1e-6)


def test_adam_weight_decay_before_clipping(ctx):
    # Adam adds wd*w before clipping: g = clip(1*0.1 + 1.0*5, 2) = 2 (SGD's order would give 2.1).
    o = opt.Adam(learning_rate=0.1, wd=1.0, clip_gradient=2.0)
    w = nd.array([5.0], ctx=ctx)
    state = o.create_state(0, w)
    _step(o, w, nd.array([0.1], ctx=ctx), state)
    np.testing.assert_allclose(state[0].asnumpy(), [0.2], rtol=1e-6)
    np.testing.assert_allclose(state[1].asnumpy(), [0.004], rtol=1e-6)  # not 0.1*2.1**2/1000


def _adam_reference(w, grads, lr, b1, b2, eps, wd, rescale):
    w = w.astype(np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        g = rescale * g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
    return w


def test_adam_many_steps_match_float64_reference(ctx, rng):
    w0 = rng.standard_normal((7, 5)).astype(np.float32)
    grads = [rng.standard_normal((7, 5)).astype(np.float32) for _ in range(6)]
    o = opt.Adam(learning_rate=0.05, beta1=0.8, beta2=0.95, epsilon=1e-6, wd=0.01, rescale_grad=0.25)
    w = nd.array(w0, ctx=ctx)
    state = o.create_state(3, w)
    for g in grads:
        o.update(3, w, nd.array(g, ctx=ctx), state)
    expected = _adam_reference(w0, grads, 0.05, 0.8, 0.95, 1e-6, 0.01, 0.25)
    np.testing.assert_allclose(w.asnumpy(), expected, rtol=1e-5, atol=1e-6)
    assert o._index_update_count[3] == 6 and o.num_update == 6


def test_adam_float16_keeps_zero_gradients_finite(ctx):
    # float16 cannot hold epsilon = 1e-8; an entry with zero moments must stay put, not become 0/0.
    w0 = np.array([1.0, -0.5, 2.0], dtype=np.float16)
    grads = [np.array([0.0, 0.25, -1.0], dtype=np.float16)] * 3
    o = opt.Adam(learning_rate=0.01)
    w = nd.array(w0, ctx=ctx, dtype="float16")
    state = o.create_state(0, w)
    for g in grads:
        o.update(0, w, nd.array(g, ctx=ctx, dtype="float16"), state)
    assert w.dtype == np.float16 and state[0].dtype == np.float16
    assert np.isfinite(w.asnumpy()).all() and w.asnumpy()[0] == 1.0
    expected = _adam_reference(w0, [g.astype(np.float64) for g in grads], 0.01, 0.9, 0.999, 1e-8, 0.0, 1.0)
    np.testing.assert_allclose(w.asnumpy().astype(np.float64), expected, rtol=2e-3)


def test_update_counts_are_per_parameter():
    o = opt.Adam()
    w1, w2 = nd.ones((2,)), nd.ones((2,))
    s1, s2 = o.create_state(0, w1), o.create_state(1, w2)
    for _ in range(3):
        o.update(0, w1, nd.ones((2,)), s1)
    o.update(1, w2, nd.ones((2,)), s2)
    # t = 1 for parameter 1: its step is lr (the bias correction makes the first step exactly lr*sign)
    np.testing.assert_allclose(w2.asnumpy(), [0.999, 0.999], rtol=1e-6)
    assert o._index_update_count == {0: 3, 1: 1}


def test_float64_parameters_use_the_array_path():
    o = opt.SGD(learning_rate=0.5)
    w = nd.array([1.0, 2.0], dtype="float64")
    o.update(0, w, nd.array([1.0, 1.0], dtype="float64"), None)
    assert w.dtype == np.float64
    np.testing.assert_array_equal(w.asnumpy(), [0.5, 1.5])


def test_update_bumps_the_weight_version():
    o = opt.SGD()
    w = nd.ones((2,))
    before = w._version[0]
    o.update(0, w, nd.ones((2,)), None)
    assert w._version[0] == before + 1


def test_learning_rate_and_scheduler():
    o = opt.SGD(learning_rate=0.2)
    assert o.learning_rate == 0.2
    o.set_learning_rate(0.05)
    assert o.learning_rate == 0.05
    sched = opt.SGD(lr_scheduler=lambda n: 1.0 / (n + 1))
    assert sched.learning_rate == 1.0
    w = nd.ones((1,))
    sched.update(0, w, nd.ones((1,)), None)
    assert sched.learning_rate == 0.5
    with pytest.raises(RuntimeError, match="lr_scheduler"):
        sched.set_learning_rate(0.1)


def test_registry():
    assert {"sgd", "adam", "nag", "rmsprop", "adagrad", "adadelta", "adamw", "signum", "ftml"} <= set(
        opt.registered())
    assert isinstance(opt.create("SGD", momentum=0.5), opt.SGD)
    assert isinstance(opt.create("RMSProp", centered=True), opt.RMSProp)
    adam = opt.create("adam", learning_rate=0.02)
    assert isinstance(adam, opt.Adam) and adam.learning_rate == 0.02
    assert opt.create(adam) is adam
    with pytest.raises(ValueError, match="unknown optimizer 'adabelief'.*adam.*sgd"):
        opt.create("adabelief")
    with pytest.raises(TypeError, match="nesterov"):
        opt.create("sgd", nesterov=True)

    @opt.register
    class HalfSGD(opt.SGD):
        pass
    try:
        assert type(opt.create("halfsgd")) is HalfSGD
    finally:
        del opt._REGISTRY["halfsgd"]
    with pytest.raises(TypeError):
        opt.register(object)


@pytest.mark.parametrize("kwargs, match", [
    ({"momentum": 1.0}, "momentum"),
    ({"momentum": -0.1}, "momentum"),
    ({"clip_gradient": -1.0}, "clip_gradient"),
    ({"learning_rate": float("nan")}, "learning_rate"),
    ({"learning_rate": -0.1}, "learning_rate"),
])
def test_sgd_rejects_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        opt.SGD(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"beta1": 1.0}, "beta1"), ({"beta2": -0.5}, "beta2"), ({"epsilon": 0.0}, "epsilon"),
])
def test_adam_rejects_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        opt.Adam(**kwargs)


def test_update_checks_weight_and_grad_agree():
    o = opt.SGD()
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        o.update(0, nd.ones((2,)), nd.ones((3,)), None)


def test_repr_and_top_level_alias():
    assert gp.optimizer is opt
    assert repr(opt.Adam()) == ("Adam(learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-08, "
                                "wd=0.0, rescale_grad=1.0, clip_gradient=None)")


# Recorded with MXNet 1.9.1: create(name, learning_rate=0.1, wd=0.1), set_lr_mult({0: 0.5, 'w': 3.0}),
# set_wd_mult({0: 0.0, 1: 2.0}); for index 0, 1, 2 three updates of w = [1, -2, 0.5] by g = [.3, .1, -.4].
MXNET_MULT_CASES = {
    "sgd": [[0.9550000429153442, -2.015000343322754, 0.559999942779541],
            [0.8529799580574036, -1.911787986755371, 0.5882119536399841],
            [0.8811959624290466, -1.9702990055084229, 0.6039535403251648]],
    "rmsprop": [[0.6311310529708862, -2.3688676357269287, 0.8688690066337585],
                [0.29836171865463257, -1.3272494077682495, 1.1727505922317505],
                [0.2838582992553711, -1.3691827058792114, 1.2127978801727295]],
    "signum": [[0.8499999642372131, -2.1499998569488525, 0.6500000357627869],
               [0.6999999284744263, -1.6999999284744263, 0.8000000715255737],
               [0.6999999284744263, -1.6999999284744263, 0.8000000715255737]],
}


@pytest.mark.parametrize("name", sorted(MXNET_MULT_CASES))
def test_set_lr_mult_and_set_wd_mult_match_mxnet(name, ctx):
    o = opt.create(name, learning_rate=0.1, wd=0.1)
    o.set_lr_mult({0: 0.5, "w": 3.0})
    o.set_wd_mult({0: 0.0, 1: 2.0})
    assert o.lr_mult == {0: 0.5, "w": 3.0} and o.wd_mult == {0: 0.0, 1: 2.0}
    for index, expected in enumerate(MXNET_MULT_CASES[name]):
        w = nd.array([1.0, -2.0, 0.5], ctx=ctx)
        g = nd.array([0.3, 0.1, -0.4], ctx=ctx)
        state = o.create_state(index, w)
        for _ in range(3):
            o.update(index, w, g, state)
        np.testing.assert_allclose(w.asnumpy(), expected, rtol=1e-6, atol=1e-7)


def test_param_dict_multipliers_take_precedence_over_set_lr_mult():
    p = gp.Parameter("w", shape=(1,), lr_mult=2.0)
    o = opt.SGD(learning_rate=0.1, param_dict={0: p})
    o.set_lr_mult({0: 100.0, 1: 0.5})
    assert o._get_lr(0) == pytest.approx(0.2) and o._get_lr(1) == pytest.approx(0.05)
    with pytest.raises(TypeError, match=r"SGD.set_wd_mult: the multiplier of 'b' must be a real number"):
        o.set_wd_mult({"b": "0.1"})
    with pytest.raises(TypeError, match="SGD.set_lr_mult takes a dict of update index -> multiplier"):
        o.set_lr_mult([0.1])
