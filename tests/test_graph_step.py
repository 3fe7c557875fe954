"""gp.graph.step: forward + loss + backward + optimizer update captured as one graph per signature.

On the emulated gpu(0) every test compares the captured step with an independent twin trained by
the imperative step (``autograd.record(); loss.backward(); trainer.step()`` on an un-hybridized
copy of the network), bit for bit; the real-GPU tests (marked ``gpu``) do the same within 1e-6.
"""
from __future__ import annotations

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, backend, gluon, graph, init, nd, nn
from gpuparams.errors import CaptureFallbackWarning
from gpuparams.lr_scheduler import FactorScheduler

SCE = gluon.loss.SoftmaxCrossEntropyLoss
L2 = gluon.loss.L2Loss


@pytest.fixture
def emulated():
    with backend.emulation(True):
        yield gp.gpu(0)


def _build(ctx, hidden=(16,), out=5, in_units=9, tie=False, activation="relu"):
    with nn.NameManager():
        net = nn.HybridSequential()
        units = in_units
        first = None
        for h in hidden:
            layer = nn.Dense(h, activation=activation, in_units=units,
                             params=first.params if tie and first is not None else None)
            first = first or layer
            net.add(layer)
            units = h
        net.add(nn.Dense(out, in_units=units))
    net.initialize(init.Xavier(), ctx=ctx)
    return net


def _twins(ctx, opt, opt_params, **kw):
    """A hybridized net with its captured step, and an imperative twin with equal parameters."""
    net, twin = _build(ctx, **kw), _build(ctx, **kw)
    for a, b in zip(net.collect_params().values(), twin.collect_params().values()):
        b.set_data(a.data(ctx))
    net.hybridize(static_alloc=True, static_shape=True)
    return (net, gp.Trainer(net.collect_params(), opt, dict(opt_params)),
            twin, gp.Trainer(twin.collect_params(), opt, dict(opt_params)))


def _imperative_step(net, loss_fn, trainer, x, y):
    with autograd.record():
        loss = loss_fn(net(x), y)
    loss.backward()
    trainer.step(x.shape[0])
    return loss


def _assert_same(net, twin, ctx, exact=True):
    for (name, a), b in zip(net.collect_params().items(), twin.collect_params().values()):
        got, want = a.data(ctx).asnumpy(), b.data(ctx).asnumpy()
        if exact:
            np.testing.assert_array_equal(got, want, err_msg=name)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=name)


def _data(ctx, rng, loss_cls, rows=7, in_units=9, out=5):
    x = nd.array(rng.standard_normal((rows, in_units)), ctx=ctx)
    if loss_cls is SCE:
        y = nd.array(rng.integers(0, out, rows), ctx=ctx)
    else:
        y = nd.array(rng.standard_normal((rows, out)), ctx=ctx)
    return x, y


OPTIMIZERS = [
    ("sgd", {"learning_rate": 0.1}),
    ("sgd", {"learning_rate": 0.05, "momentum": 0.9, "wd": 0.01, "clip_gradient": 0.5}),
    ("adam", {"learning_rate": 0.01}),
    ("adam", {"learning_rate": 0.02, "wd": 0.001, "beta1": 0.8}),
    ("adam", {"learning_rate": 0.01, "clip_gradient": 0}),  # 0: no clipping, as in MXNet's Adam
]
OPTIMIZER_IDS = ["sgd", "sgd-mom-wd-clip", "adam", "adam-wd", "adam-clip0"]


@pytest.mark.parametrize("loss_cls", [SCE, L2], ids=["softmax-ce", "l2"])
@pytest.mark.parametrize("opt, opt_params", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_captured_step_equals_the_imperative_step_bit_for_bit(emulated, rng, opt, opt_params, loss_cls):
    net, trainer, twin, twin_trainer = _twins(emulated, opt, opt_params)
    loss_fn = loss_cls()
    run = graph.step(net, loss_fn, trainer)
    captured = []
    for i in range(6):
        x, y = _data(emulated, rng, loss_cls)  # new values every step, same signature
        loss = run(x, y)
        captured.append(run.captured)
        ref = _imperative_step(twin, loss_fn, twin_trainer, x, y)
        np.testing.assert_array_equal(loss.asnumpy(), ref.asnumpy(), err_msg=f"loss of step {i}")
        _assert_same(net, twin, emulated)
    # step 1 traces, step 2 captures (checked against the uncaptured step), then launches
    assert captured == [False, False, True, True, True, True]
    info = run.cache_info()
    assert info == {"graphs": 1, "captures": 1, "replays": 4, "validations": 1, "capture_failed": None}
    assert trainer.optimizer.num_update == twin_trainer.optimizer.num_update == 6


@pytest.mark.parametrize("loss_cls", [SCE, L2], ids=["softmax-ce", "l2"])
def test_a_hybridized_loss_block_is_captured_too(emulated, rng, loss_cls):
    net, trainer, twin, twin_trainer = _twins(emulated, "adam", {"learning_rate": 0.01})
    loss_fn = loss_cls()
    loss_fn.hybridize(static_alloc=True, static_shape=True)  # losses are HybridBlocks, as in Gluon
    run = graph.step(net, loss_fn, trainer)
    for _ in range(4):
        x, y = _data(emulated, rng, loss_cls)
        loss = run(x, y)
        ref = _imperative_step(twin, loss_cls(), twin_trainer, x, y)
        np.testing.assert_array_equal(loss.asnumpy(), ref.asnumpy())
        _assert_same(net, twin, emulated)
    assert run.captured and run.cache_info()["captures"] == 1


def test_one_graph_holds_forward_loss_backward_and_updates(emulated, rng):
    net, trainer, *_ = _twins(emulated, "adam", {"learning_rate": 0.01})
    run = graph.step(net, SCE(), trainer)
    x, y = _data(emulated, rng, SCE)
    run(x, y)
    run(x, y)
    (g,) = run._graphs.values()
    names = [fn.name for fn, *_ in g.launches]
    assert names.count("adam_update_p") == 4               # one per parameter
    assert names[2:4] == ["softmax_ce_fwd", "softmax_ce_bwd"]  # after the two forward GEMMs
    assert all(not n.startswith(("sgd_update", "adam_update")) or n.endswith("_p") for n in names)
    # every buffer a launch touches is kept by the graph
    kept = [a for *_, args, _ in g.launches for a in args if isinstance(a, np.ndarray)]
    assert any(a is g.loss_buf for a in kept) and any(a.base is g.hyper for a in kept)


def test_a_captured_call_runs_no_operator_and_records_no_tape(emulated, rng, monkeypatch):
    from gpuparams import graph as graph_module
    from gpuparams.ops import _registry
    net, trainer, twin, twin_trainer = _twins(emulated, "sgd", {"learning_rate": 0.1, "momentum": 0.9})
    run = graph.step(net, SCE(), trainer)
    for _ in range(2):
        x, y = _data(emulated, rng, SCE)
        run(x, y)
        _imperative_step(twin, SCE(), twin_trainer, x, y)

    def refuse(*args, **kwargs):
        raise AssertionError("a captured step ran an operator, a plan or a backward")
    monkeypatch.setattr(_registry, "_run_on", refuse)
    monkeypatch.setattr(graph_module.Plan, "_loop", refuse)
    monkeypatch.setattr(autograd, "backward", refuse)
    (g,) = run._graphs.values()
    launched = []
    real_run = type(g.device).run
    monkeypatch.setattr(type(g.device), "run", lambda dev, fn, *a: (launched.append(fn.name),
                                                                     real_run(dev, fn, *a)))
    x, y = _data(emulated, rng, SCE)
    loss = run(x, y)
    assert run.captured and loss._node is None
    assert launched == [fn.name for fn, *_ in g.launches]  # the recorded graph, in order, once
    monkeypatch.undo()
    _imperative_step(twin, SCE(), twin_trainer, x, y)
    _assert_same(net, twin, emulated)


def test_learning_rate_changes_are_read_at_each_launch(emulated, rng):
    params = {"learning_rate": 0.1, "momentum": 0.5,
              "lr_scheduler": FactorScheduler(step=2, factor=0.5, base_lr=0.1)}
    net, trainer, twin, twin_trainer = _twins(emulated, "sgd", params)
    twin_trainer.optimizer.lr_scheduler = FactorScheduler(step=2, factor=0.5, base_lr=0.1)
    loss_fn = SCE()
    run = graph.step(net, loss_fn, trainer)
    lrs = []
    for i in range(8):
        x, y = _data(emulated, rng, SCE)
        run(x, y)
        _imperative_step(twin, loss_fn, twin_trainer, x, y)
        lrs.append(trainer.learning_rate)
        _assert_same(net, twin, emulated)
    assert len(set(lrs)) >= 3 and run.cache_info()["captures"] == 1

    # set_learning_rate (Adam, whose lr_t changes every step anyway)
    net, trainer, twin, twin_trainer = _twins(emulated, "adam", {"learning_rate": 0.01})
    run = graph.step(net, L2(), trainer)
    for i in range(6):
        if i == 3:
            trainer.set_learning_rate(0.002)
            twin_trainer.set_learning_rate(0.002)
        x, y = _data(emulated, rng, L2)
        run(x, y)
        _imperative_step(twin, L2(), twin_trainer, x, y)
        _assert_same(net, twin, emulated)
    assert run.cache_info()["captures"] == 1 and run.captured


def test_tied_parameters_sum_their_gradients(emulated, rng):
    net, trainer, twin, twin_trainer = _twins(emulated, "sgd", {"learning_rate": 0.1, "momentum": 0.9},
                                              hidden=(9, 9), tie=True)
    assert len(net.collect_params()) == 4  # the two hidden layers share weight and bias
    run = graph.step(net, SCE(), trainer)
    for _ in range(4):
        x, y = _data(emulated, rng, SCE)
        run(x, y)
        _imperative_step(twin, SCE(), twin_trainer, x, y)
        _assert_same(net, twin, emulated)
    assert run.captured


def test_grad_req_add_falls_back_with_one_warning(emulated, rng):
    net, trainer, twin, twin_trainer = _twins(emulated, "sgd", {"learning_rate": 0.1})
    for p in list(net.collect_params().values()) + list(twin.collect_params().values()):
        p.grad_req = "add"
    run = graph.step(net, SCE(), trainer)
    for i in range(3):
        x, y = _data(emulated, rng, SCE)
        if i == 0:
            with pytest.warns(CaptureFallbackWarning, match="grad_req='add'"):
                run(x, y)
        else:
            run(x, y)  # no second warning (warnings are errors in this suite)
        _imperative_step(twin, SCE(), twin_trainer, x, y)
        _assert_same(net, twin, emulated)
    assert not run.captured and "grad_req='add'" in run.cache_info()["capture_failed"]


def test_parameter_and_trainer_changes_are_seen(emulated, rng, tmp_path):
    net, trainer, twin, twin_trainer = _twins(emulated, "sgd", {"learning_rate": 0.1, "momentum": 0.9})
    run = graph.step(net, SCE(), trainer)

    def both(expect_captured=True):
        x, y = _data(emulated, rng, SCE)
        run(x, y)
        _imperative_step(twin, SCE(), twin_trainer, x, y)
        _assert_same(net, twin, emulated)
        if expect_captured is not None:
            assert run.captured is expect_captured

    both(False)
    both(False)
    both()
    # set_data writes into the same buffer: the graph stays, and reads the new values
    for net_ in (net, twin):
        net_[0].weight.set_data(nd.ones((16, 9), ctx=emulated) * 0.01)
    both()
    assert run.cache_info()["captures"] == 1
    # load_parameters
    net.save_parameters(str(tmp_path / "p.params"))
    rng2 = np.random.default_rng(3)
    for net_ in (net, twin):
        for p in net_.collect_params().values():
            p.set_data(nd.array(rng2.standard_normal(p.shape) * 0.1, ctx=emulated))
        net_.load_parameters(str(tmp_path / "p.params"), ctx=emulated)
    both()  # written into the same buffers: the same graph, reading the loaded values
    # trainer.load_states replaces the optimizer states: a new graph
    trainer.save_states(str(tmp_path / "t.states"))
    for t in (trainer, twin_trainer):
        t.load_states(str(tmp_path / "t.states"))
    captures = run.cache_info()["captures"]
    both(False)  # captured again and checked (the check's result is the uncaptured step's)
    assert run.cache_info()["captures"] == captures + 1
    both()
    # new buffers (reset_ctx): captured again
    for net_ in (net, twin):
        net_.reset_ctx([emulated, gp.cpu(0)])
        net_.reset_ctx(emulated)
    both(False)
    assert run.cache_info()["captures"] == captures + 2
    both()
    # initialize(force_reinit=True): new values (copied to the twin), same buffers or new ones
    net.initialize(init.Normal(0.5), ctx=emulated, force_reinit=True)
    for a, b in zip(net.collect_params().values(), twin.collect_params().values()):
        b.set_data(a.data(emulated))
    both(None)
    both()
    # hybridize() again clears the net's plans: traced again, then captured again
    before = run.cache_info()["captures"]
    net.hybridize(static_alloc=True, static_shape=True)
    both(False)
    both(False)
    both()
    assert run.cache_info()["captures"] == before + 1
    captures = run.cache_info()["captures"] - 2
    # a changed grad_req: the frozen layer is left alone, as by the imperative step
    for net_ in (net, twin):
        net_[1].bias.grad_req = "null"
    both(False)
    assert run.cache_info()["captures"] == captures + 3
    both()


def test_a_new_signature_gets_its_own_graph(emulated, rng):
    net, trainer, twin, twin_trainer = _twins(emulated, "sgd", {"learning_rate": 0.1})
    run = graph.step(net, SCE(), trainer)
    for rows in (7, 7, 7, 4, 4, 4, 7):
        x, y = _data(emulated, rng, SCE, rows=rows)
        run(x, y)
        _imperative_step(twin, SCE(), twin_trainer, x, y)
        _assert_same(net, twin, emulated)
    assert run.captured and run.cache_info()["graphs"] == 2 and run.cache_info()["captures"] == 2


def test_an_operator_without_a_kernel_falls_back_once(emulated, rng):
    net, trainer, twin, twin_trainer = _twins(emulated, "sgd", {"learning_rate": 0.1}, activation="tanh")
    run = graph.step(net, L2(), trainer)
    for i in range(3):
        x, y = _data(emulated, rng, L2)
        if i == 1:
            with pytest.warns(CaptureFallbackWarning, match=r"operator 'Activation' ran no kernel of ours"):
                run(x, y)
        else:
            run(x, y)
        _imperative_step(twin, L2(), twin_trainer, x, y)
        _assert_same(net, twin, emulated)
    assert not run.captured and run.cache_info()["captures"] == 0


def test_a_host_sync_inside_the_region_falls_back(emulated, rng):
    net, trainer, twin, twin_trainer = _twins(emulated, "sgd", {"learning_rate": 0.1})
    run = graph.step(net, SCE(), trainer)
    x, y = _data(emulated, rng, SCE)
    run(x, y)
    _imperative_step(twin, SCE(), twin_trainer, x, y)
    (plan,) = net._plans.values()
    original = plan.steps[0].fn

    def reads_on_the_host(*args, **kwargs):
        args[0].asnumpy()  # e.g. an operator that looks at its input's values
        return original(*args, **kwargs)
    plan.steps[0].fn = reads_on_the_host
    with pytest.warns(CaptureFallbackWarning, match=r"asnumpy\(\) .* host synchronisation"):
        run(x, y)
    _imperative_step(twin, SCE(), twin_trainer, x, y)
    _assert_same(net, twin, emulated)
    assert run.cache_info()["captures"] == 0


def test_host_work_the_graph_cannot_replay_is_caught_by_the_first_capture_check(emulated, rng):
    net, trainer, twin, twin_trainer = _twins(emulated, "sgd", {"learning_rate": 0.1})
    run = graph.step(net, SCE(), trainer)
    x, y = _data(emulated, rng, SCE)
    run(x, y)
    (plan,) = net._plans.values()
    original = plan.steps[-1].fn

    def and_a_numpy_update(*args, **kwargs):
        out = original(*args, **kwargs)  # launches its kernel ...
        out._data *= 1.5                 # ... and changes the result on the host, unrecorded
        # (a scale, not a shift: the softmax would not see a shift of every logit)
        return out
    plan.steps[-1].fn = and_a_numpy_update
    with pytest.warns(CaptureFallbackWarning, match="does not reproduce the uncaptured one"):
        run(x, y)
    assert trainer.optimizer.num_update == 2  # the check's uncaptured step is the one that counts
    run(x, y)  # once only
    assert run.cache_info()["captures"] == 1 and not run.captured and run.cache_info()["graphs"] == 0
    assert trainer.optimizer.num_update == 3


def test_cpu_and_unsupported_pieces_fall_back_with_the_reason(emulated, rng):
    cases = [
        (gp.cpu(0), SCE(), "sgd", "runs no kernels of ours"),
        (emulated, gluon.loss.L1Loss(), "sgd", "L1Loss has no captured kernel"),
        (emulated, SCE(from_logits=True), "sgd", "sparse_label=True, from_logits=False"),
        (emulated, SCE(), "rmsprop", "RMSProp has no fused kernel"),
    ]
    for ctx, loss_fn, opt, why in cases:
        net, trainer, twin, twin_trainer = _twins(ctx, opt, {"learning_rate": 0.01})
        run = graph.step(net, loss_fn, trainer)
        for i in range(3):
            x, y = _data(ctx, rng, SCE if isinstance(loss_fn, SCE) else L2)
            if i == 0:
                with pytest.warns(CaptureFallbackWarning, match=why):
                    loss = run(x, y)
            else:
                loss = run(x, y)
            ref = _imperative_step(twin, loss_fn, twin_trainer, x, y)
            np.testing.assert_array_equal(loss.asnumpy(), ref.asnumpy())
            _assert_same(net, twin, ctx)
        assert why.split()[0] in run.cache_info()["capture_failed"]
    # a distributed kvstore (its allreduce is not ours)
    net, trainer, *_ = _twins(emulated, "sgd", {"learning_rate": 0.1})
    trainer._dist = object()
    assert "distributed kvstore" in graph.step(net, SCE(), trainer)._static_reason(*_data(emulated, rng, SCE))


def test_deferred_initialization_is_finished_by_the_first_step(emulated, rng):
    with nn.NameManager():
        net = nn.HybridSequential()
        net.add(nn.Dense(8, activation="relu"), nn.Dense(5))  # no in_units: shapes from the data
    net.initialize(ctx=emulated)
    net.hybridize(static_alloc=True, static_shape=True)
    run = graph.step(net, SCE(), gp.Trainer(net.collect_params(), "adam"))
    for _ in range(3):
        run(*_data(emulated, rng, SCE))
    assert run.captured and run.cache_info()["captures"] == 1


def test_without_static_flags_the_step_runs_uncaptured_silently(emulated, rng):
    net, trainer, twin, twin_trainer = _twins(emulated, "sgd", {"learning_rate": 0.1})
    net.hybridize()  # no static_alloc / static_shape
    run = graph.step(net, SCE(), trainer)
    for _ in range(3):
        x, y = _data(emulated, rng, SCE)
        run(x, y)
        _imperative_step(twin, SCE(), twin_trainer, x, y)
    _assert_same(net, twin, emulated)
    assert run.cache_info()["captures"] == 0 and run.cache_info()["capture_failed"] is None


def test_labels_are_checked_as_the_uncaptured_loss_checks_them(emulated, rng):
    net, trainer, *_ = _twins(emulated, "sgd", {"learning_rate": 0.1})
    run = graph.step(net, SCE(), trainer)
    x, y = _data(emulated, rng, SCE)
    run(x, y)
    run(x, y)
    before = [p.data(emulated).asnumpy() for p in net.collect_params().values()]
    with pytest.raises(ValueError, match="label 5 is outside the 5 classes"):
        run(x, nd.array([5, 0, 0, 0, 0, 0, 0], ctx=emulated))
    with pytest.raises(ValueError, match=r"label 0\.5 in row 1 is not a whole number"):
        run(x, nd.array([0, 0.5, 0, 0, 0, 0, 0], ctx=emulated))
    for a, p in zip(before, net.collect_params().values()):  # nothing was updated
        np.testing.assert_array_equal(p.data(emulated).asnumpy(), a)


def test_batch_size_argument_is_checked_and_used(emulated, rng):
    with pytest.raises(ValueError, match="batch_size must be a positive number"):
        graph.step(None, SCE(), None, batch_size=0)
    net, trainer, twin, twin_trainer = _twins(emulated, "sgd", {"learning_rate": 0.1})
    run = graph.step(net, SCE(), trainer, batch_size=2)
    for _ in range(3):
        x, y = _data(emulated, rng, SCE)
        run(x, y)
        with autograd.record():
            loss = SCE()(twin(x), y)
        loss.backward()
        twin_trainer.step(2)
        _assert_same(net, twin, emulated)
    assert run.captured


# ----------------------------------------------------------------------------- a real GPU
@pytest.mark.gpu
@pytest.mark.parametrize("loss_cls", [SCE, L2], ids=["softmax-ce", "l2"])
@pytest.mark.parametrize("opt, opt_params", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_cuda_graph_step_matches_the_imperative_step_gpu(rng, opt, opt_params, loss_cls):
    with backend.emulation(False):
        ctx = gp.gpu(0)
        net, trainer, twin, twin_trainer = _twins(ctx, opt, opt_params, hidden=(256, 256), in_units=784,
                                                  out=10)
        loss_fn = loss_cls()
        run = graph.step(net, loss_fn, trainer)
        for i in range(6):
            x, y = _data(ctx, rng, loss_cls, rows=128, in_units=784, out=10)
            loss = run(x, y)
            ref = _imperative_step(twin, loss_fn, twin_trainer, x, y)
            np.testing.assert_allclose(loss.asnumpy(), ref.asnumpy(), rtol=1e-5, atol=1e-6)
            _assert_same(net, twin, ctx, exact=False)
        assert run.captured and run.cache_info()["captures"] == 1 and run._graphs
        (g,) = run._graphs.values()
        assert g.graph is not None  # a CUDA graph, launched with one call


@pytest.mark.gpu
def test_cuda_graph_step_sees_lr_changes_and_new_buffers_gpu(rng):
    with backend.emulation(False):
        ctx = gp.gpu(0)
        net, trainer, twin, twin_trainer = _twins(ctx, "adam", {"learning_rate": 0.01})
        run = graph.step(net, SCE(), trainer)
        for i in range(8):
            if i == 4:
                trainer.set_learning_rate(0.001)
                twin_trainer.set_learning_rate(0.001)
            if i == 6:
                for net_ in (net, twin):
                    net_.reset_ctx([ctx, gp.cpu(0)])
                    net_.reset_ctx(ctx)
            x, y = _data(ctx, rng, SCE)
            run(x, y)
            _imperative_step(twin, SCE(), twin_trainer, x, y)
            _assert_same(net, twin, ctx, exact=False)
        assert run.cache_info()["captures"] == 2


class _CubicGrad(autograd.Function):
    """y = x * x with the deliberately custom backward ``3 * x * dy`` (a graph of forward's own
    operators would give 2x)."""

    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, dy):
        x, = self.saved_tensors
        return 3 * x * dy


class _FunctionNet(nn.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.hidden = nn.Dense(16, activation="relu", in_units=9)
            self.out = nn.Dense(5, in_units=16)

    def hybrid_forward(self, F, x):
        return self.out(_CubicGrad()(self.hidden(x)))


def test_an_autograd_function_in_the_net_falls_back_once_with_its_own_backward(emulated, rng):
    nets = []
    for _ in range(2):
        with nn.NameManager():
            nets.append(_FunctionNet())
    net, twin = nets
    net.initialize(init.Xavier(), ctx=emulated)
    twin.initialize(ctx=emulated)
    for a, b in zip(net.collect_params().values(), twin.collect_params().values()):
        b.set_data(a.data(emulated))
    net.hybridize(static_alloc=True, static_shape=True)
    lr = 0.1
    trainer = gp.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
    twin_trainer = gp.Trainer(twin.collect_params(), "sgd", {"learning_rate": lr})
    ref = [p.data(emulated).asnumpy().astype(np.float64) for p in net.collect_params().values()]
    run = graph.step(net, L2(), trainer)
    for i in range(4):
        x, y = _data(emulated, rng, L2)
        if i == 1:
            with pytest.warns(CaptureFallbackWarning, match=r"training step runs uncaptured .*"
                                                            r"autograd.Function '_CubicGrad'"):
                loss = run(x, y)
        else:
            loss = run(x, y)  # no second warning (warnings are errors in this suite)
        want = _imperative_step(twin, L2(), twin_trainer, x, y)
        np.testing.assert_array_equal(loss.asnumpy(), want.asnumpy())
        _assert_same(net, twin, emulated)
        # float64 reference of the step with the custom backward: L2 = mean((p - y)^2) / 2 per row
        w1, b1, w2, b2 = ref
        x64, y64 = x.asnumpy().astype(np.float64), y.asnumpy().astype(np.float64)
        pre = x64 @ w1.T + b1
        h = np.maximum(pre, 0)
        pred = (h * h) @ w2.T + b2
        np.testing.assert_allclose(loss.asnumpy(), ((pred - y64) ** 2).mean(1) / 2, rtol=1e-5, atol=1e-6)
        gpred = (pred - y64) / pred.shape[1]
        gh = 3 * h * (gpred @ w2) * (pre > 0)
        grads = [gh.T @ x64, gh.sum(0), gpred.T @ (h * h), gpred.sum(0)]
        ref = [p - lr * g / x64.shape[0] for p, g in zip(ref, grads)]
        for p, r in zip(net.collect_params().values(), ref):
            np.testing.assert_allclose(p.data(emulated).asnumpy(), r, rtol=1e-4, atol=1e-5, err_msg=p.name)
    assert not run.captured and run.cache_info()["captures"] == 0
    assert "'_CubicGrad'" in run.cache_info()["capture_failed"]
