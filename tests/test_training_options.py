"""Trainer and optimizer options of MXNet 1.x: every parameter frozen, kvstore / update_on_kvstore,
multi_precision master copies, learning-rate schedulers through optimizer_params.

Values are checked against hand-computed float64 NumPy references here; the MXNet-recorded values of
the same features are in tests/test_mxnet_optimizers.py.
"""
import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, gluon, init, lr_scheduler, nd
from gpuparams import optimizer as opt
from gpuparams.gluon import nn
from gpuparams.trainer import Trainer


def _dense(ctx, dtype="float32"):
    net = nn.Dense(2, in_units=3)
    net.initialize(init.Constant(0.5), ctx=ctx)
    net.bias.set_data(np.array([0.1, -0.2]))
    if dtype != "float32":
        net.cast(dtype)
    return net


def _step(net, trainer, ctx, dtype="float32", batch=2):
    x = nd.array(np.arange(6.0).reshape(2, 3) / 6, ctx=ctx, dtype=dtype)
    with autograd.record():
        loss = (net(x) ** 2).sum()
    loss.backward()
    trainer.step(batch)


# ----------------------------------------------------------------------------- frozen parameters
def test_trainer_over_only_frozen_parameters_steps_without_changing_anything(ctx, tmp_path):
    # MXNet 1.9.1 steps such a trainer as a no-op (checked); ours once raised IndexError here.
    net = _dense(ctx)
    for p in net.collect_params().values():
        p.grad_req = "null"
    before = [p.data().asnumpy().copy() for p in net.collect_params().values()]
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1, "momentum": 0.9})
    net(nd.ones((2, 3), ctx=ctx))
    trainer.step(2)
    trainer.allreduce_grads()
    trainer.update(2)
    trainer.step(2, ignore_stale_grad=True)
    for p, b in zip(net.collect_params().values(), before):
        np.testing.assert_array_equal(p.data().asnumpy(), b)
    trainer.save_states(tmp_path / "s.npz")
    trainer.load_states(tmp_path / "s.npz")
    assert trainer.learning_rate == 0.1


def test_frozen_parameters_are_skipped_while_the_others_train(ctx):
    net = _dense(ctx)
    net.weight.grad_req = "null"
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    w0, b0 = net.weight.data().asnumpy().copy(), net.bias.data().asnumpy().copy()
    _step(net, trainer, ctx)
    x = np.arange(6.0).reshape(2, 3) / 6
    out = x @ w0.T + b0
    np.testing.assert_array_equal(net.weight.data().asnumpy(), w0)
    np.testing.assert_allclose(net.bias.data().asnumpy(), b0 - 0.5 * (2 * out).sum(0) / 2, rtol=1e-6)


# ----------------------------------------------------------------------------- kvstore
# 'nccl' as in MXNet 1.9.1, where a single-process store of any type trains as the default does.
@pytest.mark.parametrize("kvstore", ["device", "local", "nccl", None, False])
@pytest.mark.parametrize("update_on_kvstore", [None, True, False])
def test_single_process_kvstore_values_train_exactly_as_the_default(ctx, kvstore, update_on_kvstore):
    nets = [_dense(ctx), _dense(ctx)]
    plain = Trainer(nets[0].collect_params(), "sgd", {"learning_rate": 0.1, "momentum": 0.5})
    other = Trainer(nets[1].collect_params(), "sgd", {"learning_rate": 0.1, "momentum": 0.5},
                    kvstore=kvstore, update_on_kvstore=update_on_kvstore)
    for _ in range(2):
        _step(nets[0], plain, ctx)
        _step(nets[1], other, ctx)
    np.testing.assert_array_equal(nets[1].weight.data().asnumpy(), nets[0].weight.data().asnumpy())
    assert np.abs(nets[1].weight.data().asnumpy() - 0.5).max() > 1e-3  # it did train


def test_distributed_kvstore_goes_to_the_hook_and_says_what_is_missing():
    from gpuparams.distributed._sync import GradientSync
    p = gp.Parameter("w", shape=(2,))
    # gpuparams.distributed provides the synchronous names (outside mpirun: a job of one process).
    for name in ("dist_sync", "dist_device_sync"):
        assert isinstance(Trainer([p], "sgd", kvstore=name)._dist, GradientSync)
    for name in ("dist_async", "dist_sync_device"):
        with pytest.raises(NotImplementedError, match=rf"kvstore='{name}' is not provided.*'dist_sync'"):
            Trainer([p], "sgd", kvstore=name)


@pytest.mark.parametrize("bad", ["ncc", "Device", True, 0, 1.0])
def test_unknown_kvstore_values_are_refused_with_the_accepted_ones(bad):
    with pytest.raises(ValueError, match=r"kvstore must be 'device', 'local', 'nccl', None or False"):
        Trainer([gp.Parameter("w", shape=(2,))], "sgd", kvstore=bad)


def test_update_on_kvstore_and_compression_params_are_checked():
    p = gp.Parameter("w", shape=(2,))
    with pytest.raises(ValueError, match="update_on_kvstore must be True, False or None"):
        Trainer([p], "sgd", update_on_kvstore="yes")
    with pytest.raises(ValueError, match="compression_params"):
        Trainer([p], "sgd", compression_params={"type": "2bit"})


# ----------------------------------------------------------------------------- multi_precision
def _sgd_mom_float64(w, grads, lr, momentum, wd):
    w, mom = np.array(w, dtype=np.float64), np.zeros(len(w))
    for g in grads:
        mom = momentum * mom - lr * (g.astype(np.float64) + wd * w)
        w = w + mom
    return w


def test_multi_precision_keeps_a_float32_master_and_accumulates_small_steps(ctx):
    # lr*grad = 1e-4 is below half an ulp of float16 at 1.0 (2**-11): without a master copy the
    # weight never moves; with one the steps accumulate in float32 and reach the float16 weight.
    grads = [np.full(3, 1.0, np.float16)] * 30
    for mp in (False, True):
        o = opt.SGD(learning_rate=1e-4, multi_precision=mp)
        w = nd.array([1.0, 1.0, 1.0], ctx=ctx, dtype="float16")
        state = o.create_state_multi_precision(0, w)
        for g in grads:
            o.update_multi_precision(0, w, nd.array(g, ctx=ctx, dtype="float16"), state)
        if not mp:
            assert state is None
            np.testing.assert_array_equal(w.asnumpy(), [1.0, 1.0, 1.0])
        else:
            master = state[-1]
            assert master.dtype == np.float32 and master.context is ctx
            np.testing.assert_allclose(master.asnumpy(), 1.0 - 30 * 1e-4, rtol=1e-6)
            assert w.dtype == np.float16
            np.testing.assert_array_equal(w.asnumpy(), np.float16(1.0 - 30 * 1e-4))


def test_multi_precision_momentum_matches_float64(ctx):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=5).astype(np.float16)
    grads = [rng.normal(size=5).astype(np.float16) for _ in range(6)]
    o = opt.create("sgd", learning_rate=0.1, momentum=0.9, wd=0.01, multi_precision=True)
    w = nd.array(w0, ctx=ctx, dtype="float16")
    state = o.create_state_multi_precision(0, w)
    assert state[0].dtype == np.float32  # the momentum lives in float32 too
    for g in grads:
        o.update(0, w, nd.array(g, ctx=ctx, dtype="float16"), state)
    want = _sgd_mom_float64(w0, grads, 0.1, 0.9, 0.01)
    np.testing.assert_allclose(state[-1].asnumpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w.asnumpy(), want.astype(np.float16), rtol=1e-3)


def test_multi_precision_leaves_other_dtypes_alone_and_needs_its_state(ctx):
    o = opt.SGD(learning_rate=0.1, momentum=0.9, multi_precision=True)
    w32 = nd.ones((2,), ctx=ctx)
    state = o.create_state_multi_precision(0, w32)
    assert len(state) == 1 and state[0].dtype == np.float32 and o._state_names_of(state) == ("mom",)
    w16 = nd.ones((2,), ctx=ctx, dtype="float16")
    with pytest.raises(ValueError, match="create_state_multi_precision"):
        o.update(0, w16, nd.ones((2,), ctx=ctx, dtype="float16"), o.create_state(0, w16))
    with pytest.raises(ValueError, match="multi_precision must be True or False"):
        opt.SGD(multi_precision=1)


def test_trainer_multi_precision_on_a_float16_model_saves_and_restores_the_master(ctx, tmp_path):
    with nn.NameManager():
        net = _dense(ctx, "float16")
    params = {"learning_rate": 0.05, "momentum": 0.9, "multi_precision": True}
    trainer = gluon.Trainer(net.collect_params(), "sgd", params)
    for _ in range(2):
        _step(net, trainer, ctx, "float16")
    assert net.weight.data().dtype == np.float16
    trainer.save_states(tmp_path / "mp.npz")
    name = net.weight.name
    with np.load(tmp_path / "mp.npz") as f:
        assert {f"{name}/weight32", f"{name}/mom"} <= set(f.files)
        assert f[f"{name}/weight32"].dtype == np.float32
        master = f[f"{name}/weight32"]
    np.testing.assert_allclose(net.weight.data().asnumpy(), master.astype(np.float16))
    # A second model resumes from the file: its next step equals the first model's next step.
    with nn.NameManager():
        twin = _dense(ctx, "float16")  # its parameters get the first model's names
    twin.weight.set_data(net.weight.data().asnumpy())
    twin.bias.set_data(net.bias.data().asnumpy())
    twin_trainer = gluon.Trainer(twin.collect_params(), "sgd", params)
    twin_trainer.load_states(tmp_path / "mp.npz")
    _step(net, trainer, ctx, "float16")
    _step(twin, twin_trainer, ctx, "float16")
    np.testing.assert_array_equal(twin.weight.data().asnumpy(), net.weight.data().asnumpy())
    masters = [t._states[0][0][-1].asnumpy() for t in (twin_trainer, trainer)]
    np.testing.assert_array_equal(masters[0], masters[1])


def test_casting_a_trained_model_to_float16_creates_its_master_from_the_weight(ctx):
    net = _dense(ctx)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01, "multi_precision": True})
    _step(net, trainer, ctx)
    mean_before = trainer._states[1][0][0].asnumpy().copy()
    net.cast("float16")
    _step(net, trainer, ctx, "float16")
    state = trainer._states[1][0]
    assert isinstance(state, opt._WithMaster) and state[-1].dtype == np.float32
    # The Adam moments carried over (then advanced once); the weight matches its master.
    assert not np.array_equal(state[0].asnumpy(), np.zeros_like(mean_before))
    np.testing.assert_array_equal(net.weight.data().asnumpy(), state[-1].asnumpy().astype(np.float16))


# ----------------------------------------------------------------------------- schedulers
def test_gluon_and_top_level_scheduler_modules_are_one():
    assert gp.gluon.lr_scheduler is lr_scheduler is gp.lr_scheduler
    from gpuparams.gluon import lr_scheduler as via_gluon
    assert via_gluon.CosineScheduler is lr_scheduler.CosineScheduler


def test_scheduler_formulas_by_hand():
    s = lr_scheduler.PolyScheduler(max_update=10, base_lr=1.0, pwr=2, final_lr=0.1)
    assert s(5) == pytest.approx(0.1 + 0.9 * 0.25)
    assert s(10) == pytest.approx(0.1) and s(50) == pytest.approx(0.1)
    c = lr_scheduler.CosineScheduler(max_update=8, base_lr=0.4, warmup_steps=4, warmup_begin_lr=0.2)
    assert [c(n) for n in range(4)] == pytest.approx([0.2, 0.25, 0.3, 0.35])
    assert c(6) == pytest.approx(0.2)  # halfway through the cosine: (1 + cos(pi/2))/2 * 0.4
    m = lr_scheduler.MultiFactorScheduler(step=[2, 5], factor=0.5, base_lr=1.0)
    assert [m(n) for n in range(1, 8)] == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_optimizer_learning_rate_overrides_the_scheduler_base_lr():
    s = lr_scheduler.FactorScheduler(step=1, factor=0.5, base_lr=1.0)
    o = opt.SGD(learning_rate=0.2, lr_scheduler=s)
    assert s.base_lr == 0.2
    s2 = lr_scheduler.FactorScheduler(step=1, factor=0.5, base_lr=1.0)
    o2 = opt.SGD(lr_scheduler=s2)  # no learning_rate: the scheduler's base_lr stands
    assert s2.base_lr == 1.0 and o2.lr == 1.0
    with pytest.raises(RuntimeError, match="lr_scheduler sets the learning rate"):
        o.set_learning_rate(0.1)


def test_scheduler_drives_the_trainer_learning_rate(ctx):
    net = _dense(ctx)
    s = lr_scheduler.FactorScheduler(step=1, factor=0.5, base_lr=0.4)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"lr_scheduler": s})
    b = net.bias.data().asnumpy().astype(np.float64)
    x = np.arange(6.0).reshape(2, 3) / 6
    w = np.full((2, 3), 0.5)
    for lr in (0.4, 0.2, 0.1):
        _step(net, trainer, ctx)
        assert trainer.learning_rate == pytest.approx(lr)
        out = x @ w.T + b
        gw, gb = (2 * out).T @ x / 2, (2 * out).sum(0) / 2
        w, b = w - lr * gw, b - lr * gb
    np.testing.assert_allclose(net.weight.data().asnumpy(), w, rtol=1e-5)
    np.testing.assert_allclose(net.bias.data().asnumpy(), b, rtol=1e-5)


@pytest.mark.parametrize("make, match", [
    (lambda: lr_scheduler.FactorScheduler(step=0), "step must be an int >= 1"),
    (lambda: lr_scheduler.FactorScheduler(step=2, factor=1.5), "factor must be <= 1"),
    (lambda: lr_scheduler.MultiFactorScheduler(step=[3, 3]), "strictly increasing"),
    (lambda: lr_scheduler.MultiFactorScheduler(step=[]), "non-empty list"),
    (lambda: lr_scheduler.PolyScheduler(max_update=0), "max_update must be an int >= 1"),
    (lambda: lr_scheduler.CosineScheduler(max_update=5, warmup_steps=5), "must exceed warmup_steps"),
    (lambda: lr_scheduler.CosineScheduler(max_update=9, base_lr=0.1, warmup_begin_lr=0.2),
     "warmup_begin_lr .* must not exceed base_lr"),
    (lambda: lr_scheduler.PolyScheduler(max_update=9, warmup_mode="cubic"), "'linear' or 'constant'"),
    (lambda: lr_scheduler.PolyScheduler(max_update=9, warmup_steps=-1), "warmup_steps must be an int >= 0"),
])
def test_scheduler_arguments_are_checked(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_new_optimizers_check_their_hyperparameters():
    with pytest.raises(ValueError, match="RMSProp: gamma1"):
        opt.RMSProp(gamma1=1.0)
    with pytest.raises(ValueError, match="RMSProp: centered must be True or False"):
        opt.RMSProp(centered="yes")
    with pytest.raises(ValueError, match="AdaGrad: eps must be > 0"):
        opt.AdaGrad(eps=0)
    with pytest.raises(ValueError, match="AdaDelta: rho"):
        opt.AdaDelta(rho=-0.1)
    with pytest.raises(ValueError, match="FTML: beta1"):
        opt.FTML(beta1=1.0)
    with pytest.raises(ValueError, match="NAG: momentum"):
        opt.NAG(momentum=1.2)
    with pytest.raises(ValueError, match="Signum: wd_lh"):
        opt.Signum(wd_lh=float("nan"))
    with pytest.raises(TypeError):
        opt.create("adamw", gamma1=0.9)


def test_adadelta_leaves_the_gradient_array_as_it_was(ctx):
    # README "Where we differ": MXNet's AdaDelta rescales the gradient array in place; ours does not.
    o = opt.AdaDelta(rescale_grad=4.0)
    w = nd.array([1.0, -1.0], ctx=ctx)
    g = nd.array([0.5, 0.25], ctx=ctx)
    o.update(0, w, g, o.create_state(0, w))
    np.testing.assert_array_equal(g.asnumpy(), [0.5, 0.25])
    # First step by hand: acc_g = 0.1*(4g)^2, d = sqrt(1e-5)/sqrt(acc_g + 1e-5)*4g
    g4 = 4 * np.array([0.5, 0.25])
    d = np.sqrt(1e-5) / np.sqrt(0.1 * g4 ** 2 + 1e-5) * g4
    np.testing.assert_allclose(w.asnumpy(), np.array([1.0, -1.0]) - d, rtol=1e-6)
