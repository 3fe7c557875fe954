"""hybridize(): traced plans replayed with the imperative results, retraced per signature, refusing
what cannot be traced; the HybridBlock API (MXNet 1.x semantics, checked against MXNet 1.9.1)."""
from __future__ import annotations

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, graph, init, nd, nn
from gpuparams.errors import TraceError
from gpuparams.ops import _registry


def _mlp(hidden=(9, 5), out=3, dropout=0.0):
    net = nn.HybridSequential()
    for h in hidden:
        net.add(nn.Dense(h, activation="relu"))
        if dropout:
            net.add(nn.Dropout(dropout))
    net.add(nn.Dense(out, activation="tanh"), nn.Flatten())
    return net


def _step(net, x, y):
    """Forward + backward of a squared loss; returns the output and every parameter's gradient."""
    with autograd.record():
        out = net(x)
        loss = ((out - y) ** 2).sum()
    loss.backward()
    return out.asnumpy(), {k: p.grad(x.context).asnumpy().copy() for k, p in net.collect_params().items()}


def _check_same(a, b, ctx):
    if ctx.device_type == "cpu":
        np.testing.assert_array_equal(a, b)  # bit-identical on the CPU
    else:
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (33, 70), (2, 3, 5)])
def test_replay_equals_imperative_forward_and_gradients(ctx, shape, rng):
    net = _mlp()
    net.initialize(init.Xavier(), ctx=ctx)
    x = nd.array(rng.standard_normal(shape), ctx=ctx)
    y = nd.array(rng.standard_normal((shape[0], 3)), ctx=ctx)
    ref_out, ref_grads = _step(net, x, y)
    net.hybridize()
    for _ in range(3):  # trace, then replays
        out, grads = _step(net, x, y)
        _check_same(out, ref_out, ctx)
        for key in ref_grads:
            _check_same(grads[key], ref_grads[key], ctx)
    info = graph.cache_info(net)
    assert info["signatures"] == 1 and info["replays"] == 2
    # and against an independent float64 reference of the same network
    h = x.asnumpy().reshape(shape[0], -1).astype(np.float64)
    params = [p.data(ctx).asnumpy().astype(np.float64) for p in net.collect_params().values()]
    for i in range(2):
        h = np.maximum(h @ params[2 * i].T + params[2 * i + 1], 0)
    expected = np.tanh(h @ params[4].T + params[5])
    np.testing.assert_allclose(net(x).asnumpy(), expected, rtol=1e-5, atol=1e-6)


def test_replay_does_not_dispatch_per_operator(monkeypatch):
    net = nn.HybridSequential()
    net.add(nn.Dense(5, activation="relu"), nn.Dense(4, activation="relu"), nn.Dense(3))
    net.initialize()
    net.hybridize()
    x = nd.ones((4, 6))
    net(x)  # trace
    calls = []

    class CountingTraceState:
        """Counts the dispatcher's one read of the trace hook per operator call."""

        def __init__(self, real):
            self._real = real

        @property
        def hook(self):
            calls.append(1)
            return self._real.hook

        def __getattr__(self, name):
            return getattr(self._real, name)
    monkeypatch.setattr(_registry, "_trace", CountingTraceState(_registry._trace))
    net(x)
    assert graph.cache_info(net)["replays"] == 1 and calls == []
    net.hybridize(active=False)
    net(x)
    assert len(calls) == 3  # imperative: dense, dense, dense through the dispatcher


def test_a_new_signature_traces_again_and_the_cache_is_bounded():
    net = _mlp()
    net.initialize()
    net.hybridize()
    net(nd.ones((2, 4)))
    net(nd.ones((2, 4)))
    assert graph.cache_info(net)["signatures"] == 1
    net(nd.ones((3, 4)))                      # new shape
    net(nd.ones((3, 4), dtype="float64").astype("float32"))
    assert graph.cache_info(net)["signatures"] == 2
    with autograd.record():                   # recording + training mode: another signature
        net(nd.ones((3, 4)))
    with autograd.record(train_mode=False):
        net(nd.ones((3, 4)))
    assert graph.cache_info(net)["signatures"] == 4
    for n in range(1, graph.MAX_SIGNATURES + 3):
        net(nd.ones((n, 4)))
    assert graph.cache_info(net)["signatures"] == graph.MAX_SIGNATURES


def test_parameter_changes_are_seen_by_the_next_replay(tmp_path, rng):
    net = _mlp()
    net.initialize()
    x = nd.array(rng.standard_normal((5, 4)))
    y = nd.array(rng.standard_normal((5, 3)))
    net.hybridize()
    net(x)
    net(x)

    def imperative():
        net.hybridize(active=False)
        try:
            return net(x).asnumpy()
        finally:
            net.hybridize()

    trainer = gp.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    _step(net, x, y)
    trainer.step(5)
    np.testing.assert_array_equal(net(x).asnumpy(), imperative())
    net[0].weight.set_data(nd.ones(net[0].weight.shape) * 0.25)
    net(x)  # retrace after hybridize() in imperative(), then replay below
    out = net(x).asnumpy()
    np.testing.assert_array_equal(out, imperative())
    before = out
    net.initialize(init.Normal(1.0), force_reinit=True)
    after = net(x).asnumpy()
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, imperative())
    path = tmp_path / "p.npz"
    net.save_parameters(path)
    saved_out = net(x).asnumpy()
    net.initialize(init.Normal(1.0), force_reinit=True)
    net.load_parameters(path)
    np.testing.assert_array_equal(net(x).asnumpy(), saved_out)


def test_tied_parameters_sum_gradients_as_imperative(ctx, rng):
    class Tied(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.a = nn.Dense(4, in_units=4)
            self.b = nn.Dense(4, in_units=4, params=self.a.params)

        def hybrid_forward(self, F, x):
            return self.b(F.relu(self.a(x))) + self.a(x)

    net = Tied()
    net.initialize(ctx=ctx)
    x = nd.array(rng.standard_normal((3, 4)), ctx=ctx)
    y = nd.zeros((3, 4), ctx=ctx)
    ref_out, ref_grads = _step(net, x, y)
    net.hybridize()
    for _ in range(2):
        out, grads = _step(net, x, y)
        _check_same(out, ref_out, ctx)
        assert grads.keys() == ref_grads.keys() and len(grads) == 2  # one weight, one bias
        for key in ref_grads:
            _check_same(grads[key], ref_grads[key], ctx)


def test_dropout_draws_new_numbers_at_each_replay():
    net = nn.HybridSequential()
    net.add(nn.Dropout(0.5))
    net.hybridize()
    x = nd.ones((40, 50))
    gp.random.seed(3)
    masks = []
    for _ in range(3):
        with autograd.record():
            masks.append(net(x).asnumpy())
    assert graph.cache_info(net)["replays"] == 2
    assert not np.array_equal(masks[1], masks[2]) and set(np.unique(masks[2])) <= {0.0, 2.0}
    net.hybridize(active=False)
    gp.random.seed(3)
    for expected in masks:  # the same draws as the imperative layer
        with autograd.record():
            np.testing.assert_array_equal(net(x).asnumpy(), expected)
    np.testing.assert_array_equal(net(x).asnumpy(), x.asnumpy())  # predict mode: identity


class _HostRead(nn.HybridBlock):
    def __init__(self, how, **kwargs):
        super().__init__(**kwargs)
        self.how = how

    def hybrid_forward(self, F, x):
        y = F.relu(x)
        if self.how == "asnumpy":
            return y * float(y.asnumpy().sum())
        if self.how == "asscalar":
            return y * y.sum().asscalar()
        if self.how == "if":
            if y.sum() > 0:
                return y
            return -y
        if self.how == "setitem":
            y[:] = 1
            return y
        if self.how == "iadd":
            x += 1
            return x
        if self.how == "detach":
            return F.relu(y.detach())
        raise AssertionError(self.how)


@pytest.mark.parametrize("how, what", [
    ("asnumpy", r"asnumpy\(\) reads"), ("asscalar", r"asscalar\(\) reads"),
    ("if", "Python control flow"), ("setitem", r"in-place write"), ("iadd", r"in-place update \(x \+= v\)"),
    ("detach", r"without an operator"),
])
def test_untraceable_code_fails_at_trace_time_naming_block_and_line(how, what):
    with nn.NameManager():
        blk = _HostRead(how)
    blk.hybridize()
    x = nd.ones((2, 3))
    for _ in range(2):  # and again: a failed trace leaves no plan behind
        with pytest.raises(TraceError, match=what) as info:
            blk(x)
        message = str(info.value)
        assert "_hostread0 (_HostRead)" in message and "test_hybridize.py:" in message
    assert graph.cache_info(blk)["signatures"] == 0
    np.testing.assert_array_equal(x.asnumpy(), np.ones((2, 3)))  # the input was not written
    blk.hybridize(active=False)
    blk(x)  # imperatively it runs


def test_host_reads_of_a_child_name_the_child():
    with nn.NameManager():
        net = nn.HybridSequential()
        net.add(nn.Dense(2, in_units=3), _HostRead("asnumpy"))
    net.initialize()
    net.hybridize()
    with pytest.raises(TraceError, match=r"cannot hybridize _hostread0 \(_HostRead\).*test_hybridize.py:\d+ "
                                         r"\(`return y \* float"):
        net(nd.ones((1, 3)))


def test_a_plain_block_child_is_an_error_at_hybridize_naming_it():
    class Plain(nn.Block):
        def forward(self, x):
            return x

    with nn.NameManager():
        net = nn.HybridSequential()
        net.add(nn.Dense(2), Plain())
    with pytest.raises(ValueError, match=r"Children of HybridBlock must also be HybridBlock, but child '1' "
                                         r"of hybridsequential0, Plain \(plain0\).*HybridSequential"):
        net.hybridize()
    net.initialize()
    assert net(nd.ones((1, 3))).shape == (1, 2)  # still runs imperatively


def test_hybridize_arguments():
    net = _mlp()
    net.hybridize(static_alloc=True, static_shape=True, inline_limit=2, forward_bulk_size=3)
    assert net._flags == {"static_alloc": True, "static_shape": True} and net[0]._flags["static_alloc"]
    with pytest.raises(TypeError, match="unexpected keyword arguments.*static_aloc"):
        net.hybridize(static_aloc=True)
    with pytest.raises(TypeError, match="takes NDArrays.*got ndarray"):
        net.initialize()
        net(np.ones((2, 2)))


def test_hybrid_forward_gets_initialized_parameters_on_the_input_context(ctx):
    seen = {}

    class Scale(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.gamma = self.params.get("gamma", shape=(0,), init="ones", allow_deferred_init=True)

        def infer_shape(self, x):
            self.gamma.shape = (x.shape[-1],)

        def hybrid_forward(self, F, x, gamma):
            seen["ctx"], seen["shape"] = gamma.context, gamma.shape
            return F.broadcast_mul(x, gamma)

    blk = Scale()
    blk.initialize(ctx=ctx)
    blk.hybridize()
    x = nd.array(np.arange(6.0).reshape(2, 3), ctx=ctx)
    np.testing.assert_array_equal(blk(x).asnumpy(), x.asnumpy())
    np.testing.assert_array_equal(blk(x).asnumpy(), x.asnumpy())
    assert seen == {"ctx": ctx, "shape": (3,)}
    assert graph.cache_info(blk)["steps"] == [1]  # the initializer's work is not in the plan


def test_lambda_and_hybrid_lambda():
    # reprs observed with MXNet 1.9.1: HybridLambda(tanh), Lambda(<lambda>)
    assert repr(nn.HybridLambda("tanh")) == "HybridLambda(tanh)"
    assert repr(nn.Lambda(lambda x: x)) == "Lambda(<lambda>)"
    assert repr(nn.Dropout(0.5)) == "Dropout(p = 0.5, axes=())" and repr(nn.Flatten()) == "Flatten"
    x = nd.array([[-1.0, 0.5]])
    net = nn.HybridSequential()
    net.add(nn.HybridLambda("tanh"), nn.HybridLambda(lambda F, v: F.relu(v) * 2))
    net.hybridize()
    for _ in range(2):
        np.testing.assert_allclose(net(x).asnumpy(), np.maximum(np.tanh([[-1.0, 0.5]]), 0) * 2, rtol=1e-6)
    assert nn.Lambda("exp")(x).asnumpy()[0, 1] == pytest.approx(np.exp(0.5), rel=1e-6)
    with pytest.raises(ValueError, match="no function named 'tanhh'"):
        nn.HybridLambda("tanhh")
    with pytest.raises(TypeError, match="str or a callable"):
        nn.Lambda(3)
    seq = nn.HybridSequential()
    seq.add(nn.Lambda(lambda v: v))
    with pytest.raises(ValueError, match=r"Lambda \(lambda\d+\), is a plain Block"):
        seq.hybridize()


def test_cast_and_add_clear_the_plans():
    net = _mlp()
    net.initialize()
    net.hybridize()
    net(nd.ones((2, 3)))
    net.cast("float64")
    assert graph.cache_info(net)["signatures"] == 0
    assert net(nd.ones((2, 3), dtype="float64")).dtype == np.float64
    net.add(nn.Dense(2, dtype="float64"))
    net[-1].hybridize()
    net[-1].initialize()
    assert graph.cache_info(net)["signatures"] == 0
    assert net(nd.ones((2, 3), dtype="float64")).shape == (2, 2)


# ----------------------------------------------------------------------------- export / imports
from gpuparams import gluon  # noqa: E402
from gpuparams.errors import GraphFormatError  # noqa: E402


class _TwoInOut(nn.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = nn.Dense(4, activation="relu")
        self.scale = self.params.get("scale", shape=(1,), init=init.Constant(0.5))

    def hybrid_forward(self, F, x, y, scale):
        h = self.dense(x)
        offset = F.ones((1,), ctx=x.context) * 3  # a constant made inside hybrid_forward
        return F.broadcast_mul(h, scale) + y.sum(axis=1, keepdims=True), F.concat(h, y, dim=1) + offset


def test_export_then_imports_gives_identical_outputs(ctx, tmp_path, rng):
    net = _TwoInOut()
    net.initialize(ctx=ctx)
    net.hybridize()
    x = nd.array(rng.standard_normal((5, 3)), ctx=ctx)
    y = nd.array(rng.standard_normal((5, 2)), ctx=ctx)
    expected = [o.asnumpy() for o in net(x, y)]
    symbol_file, param_file = net.export(str(tmp_path / "model"), epoch=3)
    assert symbol_file.endswith("model-symbol.json") and param_file.endswith("model-0003.params.npz")
    blk = gluon.SymbolBlock.imports(symbol_file, ["x", "y"], param_file, ctx=ctx)
    assert sorted(blk.collect_params()) == sorted(net.collect_params())
    for hybrid in (False, True, True):
        blk.hybridize(active=hybrid)
        out = blk(x, y)
        assert isinstance(out, tuple) and len(out) == 2
        for o, e in zip(out, expected):
            np.testing.assert_array_equal(o.asnumpy(), e)
    # the imported block is trainable like any other
    with autograd.record():
        loss = blk(x, y)[0].sum()
    loss.backward()
    scale = next(p for name, p in blk.collect_params().items() if name.endswith("scale"))
    np.testing.assert_allclose(scale.grad(ctx).asnumpy(), [2 * (expected[0].sum() - 4 * y.asnumpy().sum())],
                               rtol=1e-4)  # d(sum(h * s + rowsum(y)))/ds = sum(h), with s = 0.5


def test_an_exported_mlp_accepts_another_batch_size(tmp_path, rng):
    net = _mlp()
    net.initialize()
    net.hybridize()
    net(nd.ones((2, 6)))
    files = net.export(str(tmp_path / "mlp"))
    blk = gluon.SymbolBlock.imports(files[0], "data", files[1])
    x = nd.array(rng.standard_normal((7, 6)))
    net.hybridize(active=False)
    np.testing.assert_array_equal(blk(x).asnumpy(), net(x).asnumpy())
    assert "SymbolBlock(data -> [dense, dense, dense, Activation, flatten])" == repr(blk)


def test_export_needs_a_traced_graph(tmp_path):
    net = _mlp()
    net.initialize()
    with pytest.raises(RuntimeError, match=r"hybridize\(\) and run it once"):
        net.export(str(tmp_path / "m"))


def _exported(tmp_path):
    net = _mlp()
    net.initialize()
    net.hybridize()
    net(nd.ones((2, 6)))
    symbol_file, param_file = net.export(str(tmp_path / "m"))
    import json
    with open(symbol_file) as f:
        return json.load(f), symbol_file, param_file


@pytest.mark.parametrize("corrupt, message", [
    (lambda g: "{not json", r"not valid JSON \(Expecting property name"),
    (lambda g: [1, 2], "expected a JSON object, got list"),
    (lambda g: {"nodes": [], "arg_nodes": [], "heads": []}, "MXNet symbol file"),
    (lambda g: {**g, "format": "other"}, "'format' must be 'gpuparams-graph'"),
    (lambda g: {**g, "version": 9}, "unsupported version 9"),
    (lambda g: {**g, "nodes": g["nodes"][:1] + [{**g["nodes"][1], "op": "densee"}]},
     r"node 1: unknown operator 'densee'; did you mean 'dense'"),
    (lambda g: {**g, "nodes": [{**g["nodes"][0], "args": [{"node": 5, "output": 0}]}] + g["nodes"][1:]},
     "node 0 \\(dense\\): refers to node 5, which is not an earlier node"),
    (lambda g: {**g, "nodes": [{**g["nodes"][0], "args": [{"param": "nope"}]}] + g["nodes"][1:]},
     "parameter 'nope' is not listed"),
    (lambda g: {**g, "outputs": {"input": 3}}, "outputs: input 3 does not exist"),
    (lambda g: {**g, "nodes": [{"args": []}]}, "node 0 must be an object with a string 'op'"),
])
def test_imports_rejects_malformed_graphs(tmp_path, corrupt, message):
    import json
    graph, symbol_file, param_file = _exported(tmp_path)
    bad = corrupt(graph)
    with open(symbol_file, "w") as f:
        f.write(bad if isinstance(bad, str) else json.dumps(bad))
    with pytest.raises(GraphFormatError, match=message) as info:
        gluon.SymbolBlock.imports(symbol_file, ["data"], param_file)
    assert symbol_file in str(info.value)


def test_imports_checks_inputs_and_parameter_files(tmp_path):
    graph, symbol_file, param_file = _exported(tmp_path)
    with pytest.raises(GraphFormatError, match=r"takes 1 inputs \(\['data'\]\) but input_names has 2"):
        gluon.SymbolBlock.imports(symbol_file, ["a", "b"], param_file)
    with pytest.raises(FileNotFoundError, match="no such graph file"):
        gluon.SymbolBlock.imports(str(tmp_path / "absent.json"), ["data"])
    other = _mlp(hidden=(9,))
    other.initialize()
    other(nd.ones((2, 6)))
    wrong = str(tmp_path / "wrong.npz")
    other.collect_params().save(wrong)
    with pytest.raises(ValueError, match=r"does not match the graph: missing \['dense\d+_weight"):
        gluon.SymbolBlock.imports(symbol_file, ["data"], wrong)


# ----------------------------------------------------------------------------- capture (emulated GPU)
from gpuparams import backend  # noqa: E402
from gpuparams.errors import CaptureFallbackWarning  # noqa: E402


@pytest.fixture
def emulated():
    with backend.emulation(True):
        yield gp.gpu(0)


def _relu_mlp(ctx):
    net = nn.HybridSequential()
    net.add(nn.Dense(16, activation="relu"), nn.Dense(5))
    net.initialize(ctx=ctx)
    return net


def _imperative(net, x):
    """The imperative result, keeping the block's plans (hybridize(active=False) would clear them)."""
    from gpuparams._tracing import state
    state.imperative += 1
    try:
        return net(x).asnumpy()
    finally:
        state.imperative -= 1


def test_capture_records_the_launches_and_replays_them(emulated, rng):
    net = _relu_mlp(emulated)
    x = nd.array(rng.standard_normal((7, 9)), ctx=emulated)
    net.hybridize(static_alloc=True, static_shape=True)
    first = net(x)                      # traced
    second = net(x)                     # captured, then launched
    info = graph.cache_info(net)
    assert info["captures"] == 1 and info["capture_failed"] == [None]
    plan = next(iter(net._plans.values()))
    assert len(plan.captured.launches) == 2  # one fused GEMM per Dense
    np.testing.assert_array_equal(second.asnumpy(), first.asnumpy())
    x2 = nd.array(rng.standard_normal((7, 9)), ctx=emulated)
    third = net(x2)                     # new values, same buffers: copied in before the launches
    np.testing.assert_array_equal(third.asnumpy(), _imperative(net, x2))
    np.testing.assert_array_equal(second.asnumpy(), first.asnumpy())  # outputs are copies
    assert graph.cache_info(net)["captures"] == 1


def test_a_new_parameter_buffer_invalidates_the_captured_graph(emulated, rng):
    net = _relu_mlp(emulated)
    x = nd.array(rng.standard_normal((3, 4)), ctx=emulated)
    net.hybridize(static_alloc=True, static_shape=True)
    net(x)
    net(x)
    net[0].weight.set_data(nd.ones(net[0].weight.shape) * 0.1)  # written into the same buffer
    np.testing.assert_array_equal(net(x).asnumpy(), _imperative(net, x))
    assert graph.cache_info(net)["captures"] == 1
    net.initialize(init.Normal(1.0), ctx=emulated, force_reinit=True)  # in place, too
    np.testing.assert_array_equal(net(x).asnumpy(), _imperative(net, x))
    assert graph.cache_info(net)["captures"] == 1
    net.reset_ctx([emulated, gp.cpu(0)])
    net.reset_ctx(emulated)  # back on one context: new buffers, so the graph is captured again
    np.testing.assert_array_equal(net(x).asnumpy(), _imperative(net, x))
    assert graph.cache_info(net)["captures"] == 2


def test_a_step_without_our_kernels_falls_back_with_one_warning(emulated, rng):
    net = nn.HybridSequential()
    net.add(nn.Dense(6, activation="tanh"), nn.Dense(2))  # tanh is a NumPy operator on the emulator
    net.initialize(ctx=emulated)
    net.hybridize(static_alloc=True, static_shape=True)
    x = nd.array(rng.standard_normal((4, 3)), ctx=emulated)
    net(x)
    with pytest.warns(CaptureFallbackWarning, match=r"operator 'Activation' ran no kernel of ours"):
        out = net(x)
    np.testing.assert_array_equal(out.asnumpy(), _imperative(net, x))
    net(x)  # no second warning (warnings are errors in this suite)
    info = graph.cache_info(net)
    assert info["captures"] == 0 and "Activation" in info["capture_failed"][0]


def test_no_capture_while_recording_or_on_the_cpu(emulated, rng):
    net = _relu_mlp(emulated)
    net.hybridize(static_alloc=True, static_shape=True)
    x = nd.array(rng.standard_normal((3, 4)), ctx=emulated)
    y = nd.zeros((3, 5), ctx=emulated)
    ref_out, ref_grads = _step(net, x, y)
    out, grads = _step(net, x, y)  # recording: the uncaptured replay, gradients as imperative
    np.testing.assert_allclose(out, ref_out, rtol=1e-6)
    for key in ref_grads:
        np.testing.assert_allclose(grads[key], ref_grads[key], rtol=1e-6, atol=1e-7)
    assert graph.cache_info(net)["captures"] == 0
    cpu_net = _relu_mlp(gp.cpu(0))
    cpu_net.hybridize(static_alloc=True, static_shape=True)
    for _ in range(3):
        cpu_net(nd.ones((2, 4)))
    assert graph.cache_info(cpu_net)["captures"] == 0 and graph.cache_info(cpu_net)["replays"] == 2


def test_share_parameters_clears_the_plans():
    a, b = _mlp(), _mlp()
    a.initialize()
    b.initialize()
    a.hybridize()
    x = nd.ones((2, 3))
    a(x)
    a.share_parameters(b)
    assert graph.cache_info(a)["signatures"] == 0
    b.hybridize(active=False)
    np.testing.assert_array_equal(a(x).asnumpy(), b(x).asnumpy())


def test_matches_mxnet_1_9_1():
    # The same code recorded under MXNet 1.9.1 (tests/data/mxnet_hybridize_cases.py); the MXNet values
    # are in tests/data/mxnet_1_9_1_hybridize.json.
    import json
    import os
    import sys
    here = os.path.join(os.path.dirname(__file__), "data")
    sys.path.insert(0, here)
    try:
        import mxnet_hybridize_cases as cases
    finally:
        sys.path.remove(here)
    with open(os.path.join(here, "mxnet_1_9_1_hybridize.json")) as f:
        expected = json.load(f)
    got = cases.run(nd, autograd, nn)
    for key in ("repr_hybrid_lambda", "repr_lambda", "repr_dropout", "repr_flatten",
                "hybrid_sequential_is_sequential", "hybrid_block_bases", "plain_child_error"):
        assert got[key] == expected[key], key
    for key in ("output_0", "output_1", "grads_0", "grads_1"):
        for a, b in zip(got[key] if key.startswith("grads") else [got[key]],
                        expected[key] if key.startswith("grads") else [expected[key]]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_replay_under_record_is_one_tape_node(rng):
    with nn.NameManager():
        net = _mlp()
    net.initialize()
    net.hybridize()
    x = nd.array(rng.standard_normal((4, 6)))
    with autograd.record():
        net(x)                           # traced: one node per operator
        out = net(x)                     # replayed: one node for the block
    assert out._node.name == "hybridized hybridsequential0"
    params = [p.data() for p in net.collect_params().values()]
    assert len(out._node.inputs) == len(params) and all(
        any(a is p for p in params) for a in out._node.inputs)
    x[:] = 0  # the saved input changed before backward: refused, naming the operator and block
    with pytest.raises(gp.errors.AutogradError, match=r"backward of 'dense' \(in hybridized "
                                                      r"hybridsequential0\) needs was modified in place"):
        out.backward()


def test_gradients_flow_through_a_replayed_block_into_the_graph_around_it(rng):
    net = _mlp(hidden=(5,))
    net.initialize()
    x = nd.array(rng.standard_normal((3, 4)))
    x.attach_grad()

    def run():
        with autograd.record():
            h = x * 2
            loss = (net(h) * net(h + 1)).sum()   # the block used twice inside one graph
        loss.backward()
        return x.grad.asnumpy().copy(), [p.grad().asnumpy().copy() for p in net.collect_params().values()]

    ref_x, ref_p = run()
    net.hybridize()
    for _ in range(3):
        gx, gparams = run()
        np.testing.assert_array_equal(gx, ref_x)
        for a, b in zip(gparams, ref_p):
            np.testing.assert_array_equal(a, b)


def test_replayed_dense_backward_writes_leaf_gradients_in_place_on_the_gpu(emulated, rng):
    # The dense kernels write dW/db straight into the gradient buffers (GradSink), hybridized too;
    # with grad_req='add' two passes add up exactly as imperatively.
    def run(hybrid):
        with nn.NameManager():
            net = nn.HybridSequential()
            a = nn.Dense(6, in_units=6, activation="relu")
            net.add(a, nn.Dense(6, in_units=6, params=a.params))
        net.initialize(init.Constant(0.1), ctx=emulated)
        for p in net.collect_params().values():
            p.grad_req = "add"
        if hybrid:
            net.hybridize()
        x = nd.array(np.linspace(-1, 1, 24).reshape(4, 6), ctx=emulated)
        nodes = []
        for _ in range(3):
            with autograd.record():
                y = net(x)
            nodes.append(y._node)
            y.backward()
        return nodes, [p.grad(emulated).asnumpy() for p in net.collect_params().values()]

    nodes, grads = run(True)
    assert nodes[-1].name == "hybridized hybridsequential0" and nodes[-1].accepts_sinks
    _, ref = run(False)
    for g, r in zip(grads, ref):
        np.testing.assert_allclose(g, r, rtol=1e-6, atol=1e-7)


def test_graph_step_is_the_training_step(rng):
    def train(use_step):
        gp.random.seed(5)
        net = _mlp()
        net.initialize()
        net.hybridize()
        trainer = gp.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
        loss_fn = gp.gluon.loss.L2Loss()
        x = nd.array(np.linspace(-1, 1, 24).reshape(4, 6))
        y = nd.array(np.linspace(0, 1, 12).reshape(4, 3))
        run = graph.step(net, loss_fn, trainer)
        for _ in range(3):
            if use_step:
                loss = run(x, y)
            else:
                with autograd.record():
                    loss = loss_fn(net(x), y)
                loss.backward()
                trainer.step(4)
        return loss.asnumpy(), [p.data().asnumpy() for p in net.collect_params().values()]

    (l1, p1), (l2, p2) = train(True), train(False)
    np.testing.assert_array_equal(l1, l2)
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a, b)


# The captured training step (gp.graph.step) is tested in tests/test_graph_step.py.


def test_summary_of_a_hybridized_net_lists_its_layers(capsys):
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=4), nn.Dense(2, in_units=3))
    net.initialize()
    net.hybridize()
    x = nd.ones((2, 4))
    net(x)
    net(x)
    net.summary(x)
    text = capsys.readouterr().out
    assert "Dense-1" in text and "Dense-2" in text and "Total params: 23" in text
    assert graph.cache_info(net)["replays"] == 1  # summary ran imperatively, the plans are kept


# ----------------------------------------------------------------------------- autograd.Function
class _Poly(autograd.Function):
    """y = x * x, with the deliberately *custom* backward ``k * x * dy`` (not 2x): a replay that ran
    the operators of forward instead of this Function would give 2x."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, dy):
        x, = self.saved_tensors
        return self.k * x * dy


class _MulAdd(autograd.Function):
    """(a * b * mask, a + b) with a custom backward; ``mask`` is not differentiable (None)."""

    def forward(self, a, b, mask):
        self.save_for_backward(a, b, mask)
        return a * b * mask, a + b

    def backward(self, g1, g2):
        a, b, mask = self.saved_tensors
        return 2 * g1 * b * mask + g2, g1 * a * mask + 3 * g2, None


class _PolyNet(nn.HybridBlock):
    def __init__(self):
        super().__init__()
        with self.name_scope():
            self.dense = nn.Dense(4, in_units=3)

    def hybrid_forward(self, F, x):
        return self.dense(_Poly(3.0)(x)) + 1


class _MulAddNet(nn.HybridBlock):
    def __init__(self, as_tuple):
        super().__init__()
        self.as_tuple = as_tuple
        with self.name_scope():
            self.dense = nn.Dense(4, in_units=4)

    def hybrid_forward(self, F, x, mask):
        p, q = _MulAdd()(self.dense(x), x, mask)
        return (p, q) if self.as_tuple else p * 0.5 + q


def _poly_reference(x, w, b):
    """Output and gradients (x, weight, bias) of sum(_PolyNet(x) * c) in float64, c = 1..4."""
    c = np.arange(1.0, 5.0)
    z = x * x
    out = z @ w.T + b + 1
    g = np.broadcast_to(c, out.shape)
    gz = g @ w
    return out, 3.0 * x * gz, g.T @ z, g.sum(0)


def _function_step(net, x, head, ctx):
    with autograd.record():
        out = net(x)
        loss = (out * head).sum()
    loss.backward()
    grads = [p.grad(ctx).asnumpy().copy() for p in net.collect_params().values()]
    return out.asnumpy(), x.grad.asnumpy().copy(), grads


def test_an_autograd_function_replays_as_one_step_with_its_own_backward(ctx, rng):
    net = _PolyNet()
    net.initialize(init.Xavier(), ctx=ctx)
    head = nd.array(np.arange(1.0, 5.0), ctx=ctx)
    xs = [nd.array(rng.standard_normal((5, 3)), ctx=ctx) for _ in range(3)]
    for x in xs:
        x.attach_grad()
    reference = [_function_step(net, x, head, ctx) for x in xs]   # imperative
    net.hybridize()
    for _ in range(2):
        for x, ref in zip(xs, reference):   # the trace, then replays (several calls, new values)
            out, gx, grads = _function_step(net, x, head, ctx)
            _check_same(out, ref[0], ctx)
            _check_same(gx, ref[1], ctx)
            for g, r in zip(grads, ref[2]):
                _check_same(g, r, ctx)
            w, b = (p.data(ctx).asnumpy().astype(np.float64) for p in net.collect_params().values())
            want = _poly_reference(x.asnumpy().astype(np.float64), w, b)
            for got, expected in zip((out, gx, grads[0], grads[1]), want):
                np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert graph.cache_info(net)["replays"] == 5
    (plan,) = net._plans.values()
    calls = [s for s in plan.steps if isinstance(s, graph.FunctionCall)]
    assert len(calls) == 1 and calls[0].name == "autograd.Function '_Poly'"
    assert plan.steps[0] is calls[0]  # forward's own multiply is not a step of the plan


def test_a_replayed_autograd_function_keeps_each_calls_saved_tensors(ctx, rng):
    # Each replay calls a fresh copy of the instance: the tensors one call saved are not replaced
    # by a later call's, so backward after two more forwards still uses the first call's input.
    net = _PolyNet()
    net.initialize(ctx=ctx)
    net.hybridize()
    xs = [nd.array(rng.standard_normal((2, 3)), ctx=ctx) for _ in range(4)]
    heads = []
    with autograd.record():
        for x in xs:
            x.attach_grad()
            heads.append(net(x).sum())
    for x, h in zip(reversed(xs), reversed(heads)):
        h.backward()
        w = net.dense.weight.data(ctx).asnumpy().astype(np.float64)
        want = 3.0 * x.asnumpy().astype(np.float64) * (np.ones((2, 4)) @ w)
        np.testing.assert_allclose(x.grad.asnumpy(), want, rtol=1e-5, atol=1e-6)
    assert graph.cache_info(net)["replays"] == 3


@pytest.mark.parametrize("as_tuple", [False, True], ids=["one-output", "tuple-output"])
def test_an_autograd_function_with_several_inputs_and_outputs_replays_exactly(ctx, rng, as_tuple):
    net = _MulAddNet(as_tuple)
    net.initialize(init.Xavier(), ctx=ctx)
    c1 = rng.standard_normal(4)
    c2 = rng.standard_normal(4)

    def run(x, mask):
        with autograd.record():
            out = net(x, mask)
            if as_tuple:
                loss = (out[0] * nd.array(c1, ctx=ctx)).sum() + (out[1] * nd.array(c2, ctx=ctx)).sum()
            else:
                loss = (out * nd.array(c1, ctx=ctx)).sum()
        loss.backward()
        outs = [o.asnumpy() for o in out] if as_tuple else [out.asnumpy()]
        return outs, x.grad.asnumpy().copy(), [p.grad(ctx).asnumpy().copy()
                                               for p in net.collect_params().values()]

    inputs = []
    for _ in range(3):
        x = nd.array(rng.standard_normal((3, 4)), ctx=ctx)
        x.attach_grad()
        inputs.append((x, nd.array(rng.integers(0, 2, (3, 4)), ctx=ctx)))  # mask: no gradient
    reference = [run(x, m) for x, m in inputs]
    net.hybridize()
    w, b = (p.data(ctx).asnumpy().astype(np.float64) for p in net.collect_params().values())
    for _ in range(2):
        for (x, m), ref in zip(inputs, reference):
            outs, gx, grads = run(x, m)
            for got, r in zip([*outs, gx, *grads], [*ref[0], ref[1], *ref[2]]):
                _check_same(got, r, ctx)
            # float64 reference of the custom backward
            x64, m64 = x.asnumpy().astype(np.float64), m.asnumpy().astype(np.float64)
            u = x64 @ w.T + b
            p, q = u * x64 * m64, u + x64
            if as_tuple:
                want_outs, g1, g2 = [p, q], np.broadcast_to(c1, p.shape), np.broadcast_to(c2, p.shape)
            else:
                want_outs, g1, g2 = [p * 0.5 + q], 0.5 * np.broadcast_to(c1, p.shape), \
                    np.broadcast_to(c1, p.shape)
            gu = 2 * g1 * x64 * m64 + g2
            want_gx = gu @ w + g1 * u * m64 + 3 * g2
            for got, want in zip([*outs, gx, grads[0], grads[1]],
                                 [*want_outs, want_gx, gu.T @ x64, gu.sum(0)]):
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert graph.cache_info(net)["replays"] == 5


def test_a_replayed_autograd_function_without_recording_gives_the_forward_values(ctx, rng):
    net = _PolyNet()
    net.initialize(ctx=ctx)
    net.hybridize()
    w, b = (p.data(ctx).asnumpy().astype(np.float64) for p in net.collect_params().values())
    for _ in range(3):
        x = nd.array(rng.standard_normal((2, 3)), ctx=ctx)
        out = net(x)
        assert out._node is None
        np.testing.assert_allclose(out.asnumpy(), _poly_reference(x.asnumpy().astype(np.float64),
                                                                  w, b)[0], rtol=1e-5, atol=1e-6)


def test_export_refuses_a_graph_with_an_autograd_function(tmp_path):
    net = _PolyNet()
    net.initialize()
    net.hybridize()
    net(nd.ones((2, 3)))
    with pytest.raises(gp.errors.GraphFormatError,
                       match=r"net\w* cannot be exported: node 0 is a call of autograd.Function "
                             r"'_Poly' \(.*test_hybridize\._Poly\).* user Python code"):
        net.export(str(tmp_path / "m"))
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_capture_of_a_plan_with_an_autograd_function_falls_back_once(emulated, rng):
    net = _PolyNet()
    net.initialize(ctx=emulated)
    net.hybridize(static_alloc=True, static_shape=True)
    w, b = (p.data(emulated).asnumpy().astype(np.float64) for p in net.collect_params().values())
    for i in range(4):
        x = nd.array(rng.standard_normal((2, 3)), ctx=emulated)
        if i == 1:
            with pytest.warns(CaptureFallbackWarning, match=r"net\w*: CUDA-graph capture fell back .*"
                                                            r"autograd.Function '_Poly'"):
                out = net(x)
        else:
            out = net(x)  # no second warning (warnings are errors in this suite)
        np.testing.assert_array_equal(out.asnumpy(), _imperative(net, x))
        np.testing.assert_allclose(out.asnumpy(), _poly_reference(x.asnumpy().astype(np.float64),
                                                                  w, b)[0], rtol=1e-5, atol=1e-6)
    info = graph.cache_info(net)
    assert info["captures"] == 0 and "'_Poly'" in info["capture_failed"][0]
