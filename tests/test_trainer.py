"""Trainer: parameter collection, checks (deferred, uninitialized, contexts, stale), rescaling,
multi-context reduction, lr multipliers, learning-rate control and state files."""
import os
import zipfile

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, init, nd
from gpuparams.gluon import nn
from gpuparams.serialization import ArrayFileError
from gpuparams.trainer import StaleGradientError, Trainer

# Every test here runs under both front ends (nd, np) and also with its HybridBlocks hybridized
# (tests/conftest.py::front_end, ::hybrid_mode).
pytestmark = pytest.mark.usefixtures("front_end", "hybrid_mode")


def _param(name, values, ctx=None, **kwargs):
    p = gp.Parameter(name, shape=np.shape(values), **kwargs)
    p.initialize(init=init.Constant(0.0), ctx=ctx)
    p.set_data(np.asarray(values, dtype=np.float32))
    return p


def _backward(loss_terms):
    """Backpropagate sum(coef * p.data(ctx)) over (param, coef, ctx) terms (one head per context)."""
    heads = {}
    with autograd.record():
        for p, coef, ctx in loss_terms:
            ctx = ctx if ctx is not None else p.list_ctx()[0]
            term = (p.data(ctx) * nd.array(coef, ctx=ctx)).sum()
            heads[ctx] = term if ctx not in heads else heads[ctx] + term
    autograd.backward(list(heads.values()))


# ----------------------------------------------------------------------------- collecting
def test_aliases():
    assert gp.Trainer is Trainer and gp.gluon.Trainer is Trainer


def test_parameters_deduplicated_and_sorted_by_name():
    a, b, c = _param("b_w", [1.0]), _param("a_w", [1.0]), _param("c_w", [1.0])
    assert [p.name for p in Trainer([a, b, c, b, a], "sgd").params] == ["a_w", "b_w", "c_w"]
    assert [p.name for p in Trainer({"x": c, "y": b}, "sgd").params] == ["a_w", "c_w"]
    assert [p.name for p in Trainer(a, "sgd").params] == ["b_w"]


def test_accepts_a_parameter_dict_with_tied_parameters():
    shared = nn.Dense(3, in_units=2, prefix="shared_")
    tied = nn.Dense(3, in_units=2, params=shared.params, prefix="tied_")
    net = nn.Sequential()
    net.add(shared, tied)
    names = [p.name for p in Trainer(net.collect_params(), "sgd").params]
    assert names == ["shared_bias", "shared_weight"]


def test_rejects_bad_params():
    with pytest.raises(TypeError, match="only Parameters"):
        Trainer([_param("w", [1.0]), nd.ones((1,))], "sgd")
    with pytest.raises(TypeError, match="ParameterDict"):
        Trainer(42, "sgd")
    with pytest.raises(ValueError, match="both named 'w'"):
        Trainer([_param("w", [1.0]), _param("w", [2.0])], "sgd")


def test_optimizer_arguments():
    p = _param("w", [1.0])
    o = gp.optimizer.SGD(learning_rate=0.5)
    assert Trainer([p], o).optimizer is o
    with pytest.raises(ValueError, match="optimizer_params must be empty"):
        Trainer([p], o, {"learning_rate": 0.1})
    with pytest.raises(ValueError, match="unknown optimizer"):
        Trainer([p], "nope")
    with pytest.raises(TypeError, match="bad optimizer_params for 'sgd'"):
        Trainer([p], "sgd", {"beta1": 0.9})


# ----------------------------------------------------------------------------- stepping
def test_step_rescales_by_batch_size(ctx):
    p = _param("w", [1.0, 2.0], ctx=ctx)
    trainer = Trainer([p], "sgd", {"learning_rate": 0.5})
    _backward([(p, [4.0, -8.0], None)])
    trainer.step(4)  # g = [1, -2]
    np.testing.assert_allclose(p.data().asnumpy(), [0.5, 3.0], rtol=1e-6)
    assert trainer.optimizer.rescale_grad == 0.25
    _backward([(p, [4.0, -8.0], None)])
    trainer.step(2)  # g = [2, -4]; the original rescale_grad (1) is divided again, not compounded
    np.testing.assert_allclose(p.data().asnumpy(), [-0.5, 5.0], rtol=1e-6)


def test_lr_mult_and_wd_mult(ctx):
    p = _param("w", [1.0], ctx=ctx)
    p.lr_mult, p.wd_mult = 0.5, 2.0
    q = _param("v", [1.0], ctx=ctx)
    trainer = Trainer([p, q], "sgd", {"learning_rate": 1.0, "wd": 0.1})
    _backward([(p, [1.0], None), (q, [1.0], None)])
    trainer.step(1)
    # p: w -= 0.5*(1 + 0.2*1) = 0.4 ; q: w -= 1*(1 + 0.1) = -0.1
    np.testing.assert_allclose(p.data().asnumpy(), [0.4], rtol=1e-6)
    np.testing.assert_allclose(q.data().asnumpy(), [-0.1], rtol=1e-5, atol=1e-7)


def test_learning_rate_property_and_setter():
    p = _param("w", [0.0])
    trainer = Trainer([p], "sgd", {"learning_rate": 0.1})
    assert trainer.learning_rate == 0.1
    with pytest.raises(AttributeError):
        trainer.learning_rate = 0.3
    trainer.set_learning_rate(0.3)
    assert trainer.learning_rate == 0.3
    _backward([(p, [1.0], None)])
    trainer.step(1)
    np.testing.assert_allclose(p.data().asnumpy(), [-0.3], rtol=1e-6)


def test_tied_parameter_updated_once_with_summed_gradient():
    p = _param("w", [1.0])
    trainer = Trainer([p, p], "sgd", {"learning_rate": 1.0})
    _backward([(p, [2.0], None), (p, [3.0], None)])
    trainer.step(1)
    np.testing.assert_allclose(p.data().asnumpy(), [-4.0])


def test_grad_req_null_parameters_are_left_alone():
    frozen = _param("frozen", [1.0], grad_req="null")
    p = _param("w", [1.0])
    trainer = Trainer([frozen, p], "sgd", {"learning_rate": 1.0})
    _backward([(p, [1.0], None)])
    trainer.step(1)
    np.testing.assert_allclose(frozen.data().asnumpy(), [1.0])
    np.testing.assert_allclose(p.data().asnumpy(), [0.0])


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "4", True])
def test_bad_batch_size(bad):
    p = _param("w", [1.0])
    trainer = Trainer([p], "sgd")
    _backward([(p, [1.0], None)])
    with pytest.raises(ValueError, match="batch_size"):
        trainer.step(bad)


# ----------------------------------------------------------------------------- errors
def test_uninitialized_parameter_named():
    p = gp.Parameter("never_initialized", shape=(2,))
    trainer = Trainer([p], "sgd")  # creating the trainer first is fine
    with pytest.raises(RuntimeError, match="never_initialized.*not initialized.*initialize"):
        trainer.step(1)


def test_deferred_parameters_refused_with_their_names():
    net = nn.Sequential()
    net.add(nn.Dense(4, prefix="hidden_"), nn.Dense(1, prefix="out_"))
    net.initialize()
    trainer = Trainer(net.collect_params(), "sgd")  # the D2L order: trainer before the first forward
    with pytest.raises(gp.DeferredInitializationError, match="hidden_weight.*deferred.*forward"):
        trainer.step(1)
    with autograd.record():
        loss = net(nd.ones((2, 3))).sum()
    loss.backward()
    trainer.step(2)  # now every shape is known


def test_parameters_on_different_contexts():
    a = _param("a", [1.0], ctx=[gp.cpu(0)])
    b = _param("b", [1.0], ctx=[gp.cpu(0), gp.cpu(1)])
    with pytest.raises(ValueError, match=r"a is on \[cpu\(0\)\] and b is on \[cpu\(0\), cpu\(1\)\]"):
        Trainer([a, b], "sgd")


def test_context_mismatch_detected_at_step_after_reset_ctx():
    a, b = _param("a", [1.0]), _param("b", [1.0])
    trainer = Trainer([a, b], "sgd")
    b.reset_ctx([gp.cpu(1)])
    with pytest.raises(ValueError, match="same contexts"):
        trainer.step(1)


def test_contexts_are_checked_again_only_after_a_placement_change(monkeypatch):
    import gpuparams.trainer as trainer_module
    checks = []
    real_check = trainer_module._check_contexts
    monkeypatch.setattr(trainer_module, "_check_contexts",
                        lambda entries: checks.append(len(entries)) or real_check(entries))
    a, b = _param("a", [1.0]), _param("b", [2.0])
    trainer = Trainer([a, b], "sgd", {"learning_rate": 0.5})
    checks.clear()  # the constructor's own check

    def step():
        _backward([(a, [1.0], None), (b, [1.0], None)])
        trainer.step(1)

    for _ in range(3):
        step()
    assert checks == [2]  # the first step only
    a.reset_ctx([gp.cpu(0), gp.cpu(1)])
    b.reset_ctx([gp.cpu(0), gp.cpu(1)])
    both = [(p, [0.5], c) for p in (a, b) for c in (gp.cpu(0), gp.cpu(1))]
    _backward(both)
    trainer.step(1)
    assert checks == [2, 2]
    _backward(both)
    trainer.step(1)
    assert checks == [2, 2]
    # the updates still follow SGD: 5 steps of -0.5 * 1 (the two copies' gradients of 0.5 sum to 1)
    assert a.data(gp.cpu(1)).asnumpy().tolist() == [1.0 - 0.5 * 5]
    b.grad_req = "null"  # leaves the trained set: checked again, now over one parameter
    _backward([(a, [0.5], gp.cpu(0)), (a, [0.5], gp.cpu(1))])
    trainer.step(1)
    assert checks == [2, 2, 1]


def test_all_parameters_frozen_step_does_nothing():
    a = _param("a", [1.0], grad_req="null")
    Trainer([a], "sgd").step(1)
    assert a.data().asnumpy().tolist() == [1.0]


def test_stale_gradient_raises_and_changes_nothing():
    p, q = _param("p", [1.0]), _param("q", [1.0])
    trainer = Trainer([p, q], "sgd", {"learning_rate": 1.0})
    _backward([(p, [1.0], None), (q, [1.0], None)])
    trainer.step(1)
    _backward([(p, [1.0], None)])  # q not used this time
    with pytest.raises(StaleGradientError, match="parameter q on cpu\\(0\\).*ignore_stale_grad=True"):
        trainer.step(1)
    # all checks happen before any update: p was not changed either
    np.testing.assert_allclose(p.data().asnumpy(), [0.0])
    assert isinstance(StaleGradientError("x"), UserWarning)  # MXNet raised a UserWarning here


def test_ignore_stale_grad_skips_only_stale_parameters():
    p, q = _param("p", [1.0]), _param("q", [1.0])
    trainer = Trainer([p, q], "sgd", {"learning_rate": 1.0})
    _backward([(p, [1.0], None)])
    trainer.step(1, ignore_stale_grad=True)
    np.testing.assert_allclose(p.data().asnumpy(), [0.0])
    np.testing.assert_allclose(q.data().asnumpy(), [1.0])
    with pytest.raises(StaleGradientError):  # p's gradient was used up by the last step
        trainer.step(1)


# ----------------------------------------------------------------------------- multi-context
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_multi_context_gradients_summed_and_copies_identical(optimizer):
    ctxs = [gp.cpu(0), gp.cpu(1)]
    p = _param("w", [1.0, -1.0, 0.5], ctx=ctxs)
    single = _param("w", [1.0, -1.0, 0.5])
    params = {"learning_rate": 0.1, "momentum": 0.9} if optimizer == "sgd" else {"learning_rate": 0.1}
    multi_trainer = Trainer([p], optimizer, dict(params))
    single_trainer = Trainer([single], optimizer, dict(params))
    coef0, coef1 = np.array([1.0, 2.0, 3.0]), np.array([-4.0, 0.5, 1.0])
    for _ in range(3):
        _backward([(p, coef0, ctxs[0]), (p, coef1, ctxs[1])])
        multi_trainer.step(4)
        for g in p.list_grad():  # every copy holds the sum
            np.testing.assert_allclose(g.asnumpy(), coef0 + coef1)
        _backward([(single, coef0 + coef1, None)])
        single_trainer.step(4)
    w0, w1 = (d.asnumpy() for d in p.list_data())
    np.testing.assert_array_equal(w0, w1)
    np.testing.assert_allclose(w0, single.data().asnumpy(), rtol=1e-6)
    assert multi_trainer.optimizer._index_update_count[0] == 3  # one update per step, not per copy


def test_allreduce_then_update():
    ctxs = [gp.cpu(0), gp.cpu(1)]
    p = _param("w", [0.0], ctx=ctxs)
    trainer = Trainer([p], "sgd", {"learning_rate": 1.0})
    _backward([(p, [1.0], ctxs[0]), (p, [2.0], ctxs[1])])
    trainer.allreduce_grads()
    for g in p.list_grad():
        g[:] = g * 0.5  # e.g. clipping between the two halves
    trainer.update(1)
    np.testing.assert_allclose([d.asnumpy()[0] for d in p.list_data()], [-1.5, -1.5])


# ----------------------------------------------------------------------------- states
def _run(trainer, p, coefs):
    for c in coefs:
        _backward([(p, c, None)])
        trainer.step(2)


@pytest.mark.parametrize("optimizer, params", [("adam", {"learning_rate": 0.1}),
                                               ("sgd", {"learning_rate": 0.1, "momentum": 0.9})])
def test_save_and_load_states_continue_exactly(tmp_path, optimizer, params, rng):
    coefs = [rng.standard_normal(4) for _ in range(4)]
    start = rng.standard_normal(4)
    a = _param("w", start)
    trainer_a = Trainer([a], optimizer, dict(params))
    _run(trainer_a, a, coefs)

    b = _param("w", start)
    trainer_b = Trainer([b], optimizer, dict(params))
    _run(trainer_b, b, coefs[:2])
    path = tmp_path / "states.npz"
    trainer_b.save_states(str(path))
    assert [f for f in os.listdir(tmp_path) if f != "states.npz"] == []  # no temporary file left
    with np.load(path, allow_pickle=False) as archive:  # plain arrays, no pickle needed
        assert "w/__count__" in archive.files
    resumed = Trainer([b], optimizer, dict(params, learning_rate=0.5))
    resumed.load_states(str(path))
    assert resumed.learning_rate == 0.1  # the saved rate comes back
    _run(resumed, b, coefs[2:])
    np.testing.assert_array_equal(a.data().asnumpy(), b.data().asnumpy())


def test_load_states_before_the_parameter_is_initialized(tmp_path):
    def step(net, trainer):
        with autograd.record():
            loss = net(nd.ones((1, 3))).sum()
        loss.backward()
        trainer.step(1)

    net = nn.Dense(2, in_units=3, prefix="d_")
    net.initialize(init.One())
    trainer = Trainer(net.collect_params(), "adam")
    step(net, trainer)
    trainer.save_states(str(tmp_path / "s.npz"))
    weight, bias = net.weight.data().asnumpy(), net.bias.data().asnumpy()
    step(net, trainer)  # the reference: a second step with the optimizer's t = 2

    fresh = nn.Dense(2, prefix="d_")  # deferred: shapes unknown when the states are loaded
    fresh.initialize(init.One())
    fresh_trainer = Trainer(fresh.collect_params(), "adam")
    fresh_trainer.load_states(str(tmp_path / "s.npz"))
    fresh(nd.ones((1, 3)))  # infers the shapes
    fresh.weight.set_data(weight)
    fresh.bias.set_data(bias)
    step(fresh, fresh_trainer)
    np.testing.assert_array_equal(fresh.weight.data().asnumpy(), net.weight.data().asnumpy())
    np.testing.assert_array_equal(fresh.bias.data().asnumpy(), net.bias.data().asnumpy())


@pytest.mark.parametrize("optimizer, params", [("adam", {"learning_rate": 0.05}),
                                               ("sgd", {"learning_rate": 0.1, "momentum": 0.9})])
def test_states_load_into_the_same_model_built_again_under_new_names(tmp_path, optimizer, params):
    # MXNet keys trainer states by position, so a model built again in the same process (a notebook
    # cell run twice: dense2_weight where the file says dense0_weight) resumes from the file.
    x = nd.array(np.linspace(-1.0, 1.0, 8).reshape(2, 4))

    def build():
        net = nn.Sequential()
        net.add(nn.Dense(3, in_units=4), nn.Dense(2, in_units=3))
        net.initialize(init.Constant(0.3))
        return net, Trainer(net.collect_params(), optimizer, dict(params))

    def steps(net, trainer, n):
        for _ in range(n):
            with autograd.record():
                loss = (net(x) ** 2).sum()
            loss.backward()
            trainer.step(2)

    straight, straight_trainer = build()
    steps(straight, straight_trainer, 4)
    first, first_trainer = build()
    steps(first, first_trainer, 2)
    first.save_parameters(tmp_path / "m.params")
    first_trainer.save_states(tmp_path / "m.states")
    again, again_trainer = build()
    assert set(again.collect_params()).isdisjoint(first.collect_params())  # new names
    again.load_parameters(tmp_path / "m.params")
    again_trainer.load_states(tmp_path / "m.states")
    assert again_trainer.optimizer.num_update == 2
    steps(again, again_trainer, 2)
    for a, b in zip(again.collect_params().values(), straight.collect_params().values(), strict=True):
        np.testing.assert_array_equal(a.data().asnumpy(), b.data().asnumpy())
    # Another model (other layers, same count of parameters) is still refused by name.
    other = nn.Sequential()
    other.add(nn.Dense(3, in_units=4, use_bias=False), nn.Dense(2, in_units=3),
              nn.Dense(2, in_units=2, use_bias=False))
    assert len(other.collect_params()) == 4
    other.initialize()
    with pytest.raises(ValueError, match="names a parameter this trainer does not train"):
        Trainer(other.collect_params(), optimizer, dict(params)).load_states(tmp_path / "m.states")


def test_load_states_validates_before_changing_anything(tmp_path):
    p = _param("w", [1.0, 2.0])
    sgd = Trainer([p], "sgd", {"momentum": 0.5})
    _run(sgd, p, [[1.0, 1.0]])
    sgd.save_states(str(tmp_path / "sgd.npz"))
    adam = Trainer([p], "adam")
    with pytest.raises(ValueError, match="optimizer 'sgd' but this trainer uses 'adam'"):
        adam.load_states(str(tmp_path / "sgd.npz"))
    other = Trainer([_param("v", [1.0, 2.0])], "sgd", {"momentum": 0.5})
    with pytest.raises(ValueError, match="'w/.*' names a parameter this trainer does not train"):
        other.load_states(str(tmp_path / "sgd.npz"))
    wrong_shape = Trainer([_param("w", [1.0, 2.0, 3.0])], "sgd", {"momentum": 0.5})
    with pytest.raises(ValueError, match=r"shape \(2,\) but the parameter has shape \(3,\)"):
        wrong_shape.load_states(str(tmp_path / "sgd.npz"))
    assert wrong_shape.optimizer.num_update == 0
    with pytest.raises(FileNotFoundError):
        sgd.load_states(str(tmp_path / "missing.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ArrayFileError):
        sgd.load_states(str(tmp_path / "junk.npz"))
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    with pytest.raises(ArrayFileError, match="not a gpuparams trainer-states file"):
        sgd.load_states(str(tmp_path / "plain.npz"))
    assert zipfile.is_zipfile(tmp_path / "sgd.npz")


def test_states_follow_reset_ctx():
    p = _param("w", [1.0])
    trainer = Trainer([p], "sgd", {"learning_rate": 0.1, "momentum": 0.5})
    _run(trainer, p, [[2.0]])  # g = 1: mom = -0.1, w = 0.9
    p.reset_ctx([gp.cpu(0), gp.cpu(1)])
    _backward([(p, [2.0], gp.cpu(0)), (p, [2.0], gp.cpu(1))])
    trainer.step(2)  # g = 2: mom = -0.05 - 0.2 = -0.25, w = 0.65 on both copies
    np.testing.assert_allclose([d.asnumpy()[0] for d in p.list_data()], [0.65, 0.65], rtol=1e-6)
