"""Blocks: naming, registration, collect_params, initialize, apply, reset_parameters, summary, reprs,
Sequential, deferred initialization and tied parameters."""
import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, init, nd
from gpuparams.gluon import nn
from gpuparams.parameter import DeferredInitializationError, Parameter

from conftest import reference_rng as _ref


# Every test here runs under both front ends (nd, np) and also with its HybridBlocks hybridized
# (tests/conftest.py::front_end, ::hybrid_mode).
pytestmark = pytest.mark.usefixtures("fresh_names", "front_end", "hybrid_mode")


class MLP(nn.Block):
    def __init__(self, scoped=True, **kwargs):
        super().__init__(**kwargs)
        if scoped:
            with self.name_scope():
                self.hidden = nn.Dense(4, activation="relu")
                self.output = nn.Dense(2)
        else:
            self.hidden = nn.Dense(4, activation="relu")
            self.output = nn.Dense(2)

    def forward(self, x):
        return self.output(self.hidden(x))


# ---------------------------------------------------------------------------------- naming
def test_per_class_counters():
    assert [nn.Dense(2).prefix for _ in range(2)] == ["dense0_", "dense1_"]
    assert nn.Sequential().prefix == "sequential0_" and nn.Sequential().name == "sequential1"

    class MyDense(nn.Block):
        pass

    assert MyDense().prefix == "mydense0_" and MyDense().name == "mydense1"
    assert nn.Dense(2).weight.name == "dense2_weight"
    assert nn.Activation("relu").prefix == "relu0_"
    with nn.NameManager():
        assert nn.Dense(2).prefix == "dense0_"  # a fresh scope counts afresh
    assert nn.Dense(2).prefix == "dense3_"


def test_name_scope_prefixes_children_with_counters_per_parent():
    a, b = MLP(), MLP()
    assert (a.prefix, a.hidden.prefix, a.output.prefix) == ("mlp0_", "mlp0_dense0_", "mlp0_dense1_")
    assert (b.hidden.prefix, b.output.weight.name) == ("mlp1_dense0_", "mlp1_dense1_weight")
    assert a.hidden.act.prefix == "mlp0_dense0_relu_"
    assert nn.Dense(2).prefix == "dense0_"  # scoped children did not use the global counter
    unscoped = MLP(scoped=False)
    assert (unscoped.hidden.prefix, unscoped.output.prefix) == ("dense1_", "dense2_")


def test_explicit_and_empty_prefix():
    assert nn.Dense(2, prefix="fc_").weight.name == "fc_weight"
    flat = nn.Sequential(prefix="")
    with flat.name_scope():
        flat.add(nn.Dense(2))
    assert flat.prefix == "" and flat[0].prefix == "dense0_"
    seq = nn.Sequential()
    with seq.name_scope():
        seq.add(nn.Dense(2), nn.Dense(2))
    assert [c.prefix for c in seq] == ["sequential0_dense0_", "sequential0_dense1_"]


# ---------------------------------------------------------------------------------- registration
def test_attributes_register_children_and_parameters_in_definition_order():
    class Net(nn.Block):
        def __init__(self):
            super().__init__()
            self.b = nn.Dense(2, in_units=3)
            self.scale = Parameter("scale", shape=(1,))  # a Parameter assigned directly
            self.a = nn.Dense(3, in_units=2)
            self.offset = self.params.get("offset", shape=(2,))

    net = Net()
    assert list(net._children) == ["b", "a"]
    assert list(net.collect_params()) == ["net0_offset", "scale", "dense0_weight", "dense0_bias",
                                          "dense1_weight", "dense1_bias"]
    net.initialize()
    assert net.scale.data().shape == (1,)


def test_attribute_errors():
    class Early(nn.Block):
        def __init__(self):
            self.d = nn.Dense(2)
            super().__init__()

    with pytest.raises(RuntimeError, match=r"Early.d: call super\(\).__init__\(\) before"):
        Early()
    net = MLP()
    with pytest.raises(TypeError, match="from Dense to int"):
        net.hidden = 3
    with pytest.raises(TypeError, match="from Parameter to Dense"):
        net.hidden.weight = nn.Dense(2)
    with pytest.raises(ValueError, match=r"already holds Parameter 'mlp0_dense0_weight'.*share_parameters"):
        net.hidden.weight = Parameter("other", shape=(4, 1))
    net.hidden.weight = net.hidden.weight  # the same object again is fine


def test_blocks_hidden_in_containers_warn():
    class Hidden(nn.Block):
        def __init__(self, register):
            super().__init__()
            self.layers = [nn.Dense(2, in_units=2), {"x": nn.Dense(2, in_units=2)}]
            if register:
                self.register_child(self.layers[0])
                self.register_child(self.layers[1]["x"])

    with pytest.warns(UserWarning, match=r'"Hidden.layers" is a container holding Blocks'):
        assert len(Hidden(register=False).collect_params()) == 0
    assert len(Hidden(register=True).collect_params()) == 4  # registered: no warning, collected


# ---------------------------------------------------------------------------------- collect_params
def test_collect_params_select_uses_re_match_on_full_names():
    net = nn.Sequential()
    net.add(nn.Dense(4, in_units=3), nn.Dense(2, in_units=4))
    assert net.collect_params().prefix == "sequential0_"
    assert list(net.collect_params("dense1")) == ["dense1_weight", "dense1_bias"]
    assert list(net.collect_params(".*weight")) == ["dense0_weight", "dense1_weight"]
    assert list(net.collect_params("dense0_|dense1_bias")) == ["dense0_weight", "dense0_bias",
                                                               "dense1_bias"]
    assert list(net.collect_params("weight")) == []  # re.match anchors at the start of the name


def test_one_walk_feeds_collect_params_files_sharing_and_apply(tmp_path):
    # Every tree feature reads nn/_traversal.walk; this pins the names and orders each one sees on a
    # block that mixes attribute, dict-only and attribute-only parameters, a tied layer and nesting.
    from gpuparams.nn._traversal import walk

    class Odd(nn.Block):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.params.get("scale", shape=(2,))                     # dict only: named by local name
            self.w = self.params.get("weight", shape=(2, 2))         # attribute name wins
            self.extra = Parameter("free_standing", shape=(1,))      # attribute only
            self.inner = nn.Dense(2, in_units=2)
            self.tied = nn.Dense(2, in_units=2, params=self.inner.params)

    with nn.NameManager():
        net = Odd()
    entries = list(walk(net))
    assert [(e.name, e.owner is net, e.attr) for e in entries if e.param is None] == [
        ("", True, None), ("inner", False, None), ("tied", False, None)]
    named = [(e.name, e.attr, e.param.name) for e in entries if e.param is not None]
    assert named == [
        ("scale", None, "odd0_scale"), ("w", "w", "odd0_weight"), ("extra", "extra", "free_standing"),
        ("inner.weight", "weight", "dense0_weight"), ("inner.bias", "bias", "dense0_bias"),
        ("tied.weight", "weight", "dense0_weight"), ("tied.bias", "bias", "dense0_bias")]
    # collect_params: each Parameter once, in walk order
    assert list(net.collect_params()) == ["odd0_scale", "odd0_weight", "free_standing",
                                          "dense0_weight", "dense0_bias"]
    # files: structural names; a tied Parameter under each name, or (deduplicate) its last only
    net.initialize()
    net.save_parameters(tmp_path / "odd.npz")
    assert sorted(np.load(tmp_path / "odd.npz").files) == sorted(
        ["scale", "w", "extra", "inner.weight", "inner.bias", "tied.weight", "tied.bias"])
    net.save_parameters(tmp_path / "odd1.npz", deduplicate=True)
    assert sorted(np.load(tmp_path / "odd1.npz").files) == sorted(
        ["scale", "w", "extra", "tied.weight", "tied.bias"])
    # share_parameters: the attribute names (a dict-only parameter cannot be replaced)
    with pytest.raises(KeyError, match=r"'w', 'extra', 'inner.weight', 'inner.bias', 'tied.weight'"):
        net.share_parameters({"scale": net.w})
    # apply: children first, each block once per place in the tree
    seen = []
    net.apply(lambda block: seen.append(block.name))
    assert seen == ["dense0", "dense1", "odd0"]


def test_initialize_warns_once_per_parameter():
    shared = nn.Dense(2, in_units=2)
    net = nn.Sequential()
    net.add(shared, nn.Dense(2, in_units=2, params=shared.params))
    net.initialize()
    with pytest.warns(UserWarning) as record:
        net.initialize()
    assert sorted(str(w.message).split("'")[1] for w in record) == ["dense0_bias", "dense0_weight"]


def test_initialize_ctx_and_force_reinit():
    net = nn.Dense(2, in_units=3)
    net.initialize(init.One(), ctx=[gp.cpu(0), gp.cpu(1)])
    assert net.weight.list_ctx() == [gp.cpu(0), gp.cpu(1)]
    net.initialize(init.Constant(3.0), force_reinit=True, ctx=[gp.cpu(0), gp.cpu(1)])
    np.testing.assert_array_equal(net.weight.data(gp.cpu(1)).asnumpy(), np.full((2, 3), 3.0))
    net.reset_ctx(gp.cpu(2))
    assert net.bias.list_ctx() == [gp.cpu(2)]


def test_apply_visits_children_first_and_returns_self():
    net = nn.Sequential()
    inner = nn.Sequential()
    inner.add(nn.Dense(2))
    net.add(inner, nn.Dense(3))
    seen = []
    assert net.apply(lambda b: seen.append(b.name)) is net
    assert seen == ["dense0", "sequential1", "dense1", "sequential0"]


def test_reset_parameters_redraws_with_the_recorded_initializers():
    net = nn.Sequential()
    net.add(nn.Dense(3, in_units=2, weight_initializer=init.Normal(0.5)), nn.Dropout(0.5),
            nn.Dense(2, in_units=3, bias_initializer="ones"))
    net.initialize(init.Uniform(0.2))
    for p in net.collect_params().values():
        p.set_data(np.full(p.shape, 9.0))
    gp.random.seed(21)
    net.apply(lambda block: block.reset_parameters())
    rng = _ref(21)
    np.testing.assert_array_equal(net[0].weight.data().asnumpy(),
                                  rng.normal(0, 0.5, (3, 2)).astype(np.float32))
    np.testing.assert_array_equal(net[0].bias.data().asnumpy(), np.zeros(3))
    np.testing.assert_array_equal(net[2].weight.data().asnumpy(),
                                  rng.uniform(-0.2, 0.2, (2, 3)).astype(np.float32))
    np.testing.assert_array_equal(net[2].bias.data().asnumpy(), np.ones(2))
    # Only the block's own parameters: resetting the container leaves the layers alone.
    net[2].bias.set_data(np.full(2, 9.0))
    net.reset_parameters()
    np.testing.assert_array_equal(net[2].bias.data().asnumpy(), np.full(2, 9.0))
    with pytest.raises(RuntimeError, match="'dense2_weight' has not been initialized"):
        nn.Dense(2, in_units=2).reset_parameters()
    deferred = nn.Dense(2)
    deferred.initialize()
    deferred.reset_parameters()  # still deferred: left to the first forward
    assert not deferred.weight.is_initialized()


# ---------------------------------------------------------------------------------- reprs
def test_dense_reprs():
    assert repr(nn.Dense(256, activation="relu", in_units=20)) == "Dense(20 -> 256, Activation(relu))"
    assert repr(nn.Dense(256, activation="relu")) == "Dense(None -> 256, Activation(relu))"
    assert repr(nn.Dense(10)) == "Dense(None -> 10, linear)"
    assert repr(nn.Dense(10, activation="tanh", in_units=5)) == "Dense(5 -> 10, Activation(tanh))"
    assert repr(nn.Activation("sigmoid")) == "Activation(sigmoid)"
    assert repr(nn.Flatten()) == "Flatten"
    assert repr(nn.Dropout(0.5)) == "Dropout(p = 0.5, axes=())"


def test_nested_sequential_repr():
    net = nn.Sequential()
    inner = nn.Sequential()
    inner.add(nn.Dense(4, activation="relu"), nn.Dense(3))
    net.add(inner, MLP(), nn.Dense(2, in_units=3))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Sequential(\n"
        "    (0): Dense(None -> 4, Activation(relu))\n"
        "    (1): Dense(None -> 3, linear)\n"
        "  )\n"
        "  (1): MLP(\n"
        "    (hidden): Dense(None -> 4, Activation(relu))\n"
        "    (output): Dense(None -> 2, linear)\n"
        "  )\n"
        "  (2): Dense(3 -> 2, linear)\n"
        ")")

    class Empty(nn.Block):
        pass

    assert repr(Empty()) == "Empty(\n\n)"


# ---------------------------------------------------------------------------------- Sequential
def test_sequential_add_index_slice_len_iter():
    net = nn.Sequential()
    a, b, c = nn.Dense(4, in_units=3), nn.Dense(4, in_units=4), nn.Dense(2, in_units=4)
    net.add(a, b)
    net.add(c)
    assert len(net) == 3 and net[0] is a and net[-1] is c and list(net) == [a, b, c]
    tail = net[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [b, c] and tail.prefix == net.prefix
    assert list(tail.collect_params()) == ["dense1_weight", "dense1_bias", "dense2_weight", "dense2_bias"]
    with pytest.raises(IndexError, match="index 3 is out of range for a Sequential of 3 blocks"):
        net[3]
    with pytest.raises(TypeError, match="Blocks, got int"):
        net.add(3)
    net.initialize(init.One())
    x = nd.ones((2, 3))
    np.testing.assert_array_equal(net(x).asnumpy(), c(b(a(x))).asnumpy())
    # As in MXNet 1.9.1 (HybridBlock.__mro__ is (HybridBlock, Block, object); HybridSequential is
    # not a Sequential): HybridSequential is a HybridBlock with the same container behaviour.
    assert issubclass(nn.HybridSequential, nn.HybridBlock) and issubclass(nn.HybridBlock, nn.Block)
    assert not issubclass(nn.HybridSequential, nn.Sequential)


def test_hybridize_on_a_plain_sequential_hybridizes_its_hybrid_children():
    net = nn.Sequential()
    net.add(nn.Dense(3, in_units=2), nn.Dense(2, in_units=3))
    net.initialize()
    net.hybridize()
    assert not hasattr(net, "_active") and all(child._active for child in net)


def test_hybrid_forward_gets_parameters_as_keywords():
    class Lin(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.w = self.params.get("w", shape=(2, 2), init="ones")

        def hybrid_forward(self, F, x, w):
            return F.dot(x, w)

    net = Lin()
    net.initialize()
    np.testing.assert_array_equal(net(nd.array([[1, 2]])).asnumpy(), [[3, 3]])
    with pytest.raises(NotImplementedError, match="must implement forward"):
        nn.Block()(nd.ones((1,)))


def test_forward_hooks():
    net = nn.Dense(2, in_units=2)
    net.initialize()
    calls = []
    pre = net.register_forward_pre_hook(lambda block, args: calls.append(("pre", args[0].shape)))
    with net.register_forward_hook(lambda block, args, out: calls.append(("post", out.shape))):
        net(nd.ones((3, 2)))
    net(nd.ones((1, 2)))
    pre.detach()
    net(nd.ones((1, 2)))
    assert calls == [("pre", (3, 2)), ("post", (3, 2)), ("pre", (1, 2))]


# ---------------------------------------------------------------------------------- summary
def test_summary_lists_layers_shapes_counts_and_marks_shared(capsys):
    shared = nn.Dense(8, activation="relu")
    net = nn.Sequential()
    net.add(nn.Dense(8, activation="relu"), shared, nn.Dense(8, activation="relu", params=shared.params),
            nn.Dense(2))
    net.initialize()
    net.summary(nd.ones((2, 5)))
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines[3:8]]
    assert rows == [["Input", "(2,", "5)", "0"],
                    ["Dense-1", "(2,", "8)", "48"],
                    ["Dense-2", "(2,", "8)", "72"],
                    ["Dense-3", "(2,", "8)", "72", "(shared)"],
                    ["Dense-4", "(2,", "2)", "18"]]
    assert "   Total params: 210" in lines
    assert "   Trainable params: 210" in lines
    assert "Shared params in forward computation graph: 72" in lines
    assert "Unique parameters in model: 138" in lines
    assert not autograd.is_training()


# ---------------------------------------------------------------------------------- deferred
def test_deferred_initialization_at_first_forward(ctx):
    net = nn.Sequential()
    net.add(nn.Dense(4, activation="relu"), nn.Dense(2, flatten=False))
    net.initialize(ctx=ctx)
    assert net[0].weight.shape == (4, 0)
    with pytest.raises(DeferredInitializationError, match=r"'dense0_weight'.*one batch.*in_units"):
        net[0].weight.data()
    y = net(nd.ones((3, 2, 3), ctx=ctx))
    assert y.shape == (3, 2) and y.context == ctx
    assert net[0].weight.shape == (4, 6) and net[1].weight.shape == (2, 4)
    assert net[0].weight.data().context == ctx
    assert repr(net[0]) == "Dense(6 -> 4, Activation(relu))"


def test_custom_block_with_unknown_dims_needs_infer_shape():
    class Scale(nn.Block):
        def __init__(self, infer, **kwargs):
            super().__init__(**kwargs)
            self._infer = infer
            self.gamma = self.params.get("gamma", shape=(0,), allow_deferred_init=True, init="ones")

        def infer_shape(self, x):
            if self._infer:
                self.gamma.shape = (x.shape[-1],)

        def forward(self, x):
            return x * self.gamma.data(x.context)

    good = Scale(infer=True)
    good.initialize()
    assert good(nd.ones((2, 3))).shape == (2, 3) and good.gamma.shape == (3,)
    bad = Scale(infer=False)
    bad.initialize()
    with pytest.raises(DeferredInitializationError, match=r"'scale1_gamma'.*infer_shape"):
        bad(nd.ones((2, 3)))


def test_forward_before_initialize_says_to_initialize():
    with pytest.raises(RuntimeError, match=r"'dense0_weight' has not been initialized.*initialize\(\)"):
        nn.Dense(2)(nd.ones((1, 3)))


# ---------------------------------------------------------------------------------- tied parameters
def _tied_and_untied(ctx, deferred):
    in_units = {} if deferred else {"in_units": 4}
    shared = nn.Dense(4, activation="relu", **in_units)
    tied = nn.Sequential()
    tied.add(nn.Dense(4, activation="relu", in_units=3), shared,
             nn.Dense(4, activation="relu", params=shared.params, **in_units), nn.Dense(2, in_units=4))
    untied = nn.Sequential()
    untied.add(*(nn.Dense(4, activation="relu", in_units=u) for u in (3, 4, 4)), nn.Dense(2, in_units=4))
    gp.random.seed(5)
    # Biases of 1 keep the ReLUs active, so that every gradient compared below is non-zero.
    tied.initialize(init.Normal(0.5), ctx=ctx)
    tied.collect_params(".*bias").initialize(init.One(), ctx=ctx, force_reinit=True)
    untied.initialize(ctx=ctx)
    return tied, untied


@pytest.mark.parametrize("deferred", [False, True], ids=["known", "deferred"])
def test_tied_gradient_is_the_sum_of_both_uses(ctx, deferred):
    tied, untied = _tied_and_untied(ctx, deferred)
    x = nd.array(_ref(0).uniform(-1, 1, (5, 3)), ctx=ctx, dtype="float32")
    tied(x)  # finishes deferred initialization
    for t, u in zip(tied, untied):
        u.weight.set_data(t.weight.data())
        u.bias.set_data(t.bias.data())
    for net in (tied, untied):
        with autograd.record():
            loss = (net(x) * net(x)).sum()
        loss.backward()
    assert tied[1].weight is tied[2].weight and tied[1].weight.data() is tied[2].weight.data()
    for name in ("weight", "bias"):
        expected = (getattr(untied[1], name).grad().asnumpy().astype(np.float64)
                    + getattr(untied[2], name).grad().asnumpy())
        np.testing.assert_allclose(getattr(tied[1], name).grad().asnumpy(), expected, rtol=1e-5, atol=1e-6)
        assert np.abs(expected).max() > 0  # the comparison is not vacuous
    np.testing.assert_allclose(tied[0].weight.grad().asnumpy(), untied[0].weight.grad().asnumpy(),
                               rtol=1e-5, atol=1e-6)


def test_tied_parameters_are_one_object_listed_once():
    shared = nn.Dense(8, activation="relu")
    net = nn.Sequential()
    net.add(nn.Dense(8, activation="relu"), shared, nn.Dense(8, activation="relu", params=shared.params),
            nn.Dense(10))
    net.initialize()
    net(nd.random.uniform(shape=(2, 20)))
    # shared was created first (dense0); the first layer is dense1, the tied one dense2.
    assert list(net.collect_params()) == ["dense1_weight", "dense1_bias", "dense0_weight", "dense0_bias",
                                          "dense3_weight", "dense3_bias"]
    np.testing.assert_array_equal(net[1].weight.data()[0].asnumpy(), net[2].weight.data()[0].asnumpy())
    net[1].weight.data()[0, 0] = 100
    assert net[2].weight.data()[0, 0].asscalar() == 100
    assert net[2].prefix == "dense2_" and net[2].params.prefix == "dense0_"


def test_share_parameters_from_block_and_dict():
    a = nn.Sequential()
    a.add(nn.Dense(3, in_units=2), nn.Dense(2))
    b = nn.Sequential()
    b.add(nn.Dense(3, in_units=2), nn.Dense(2, in_units=3))
    assert b.share_parameters(a) is b
    assert b[0].weight is a[0].weight and b[1].bias is a[1].bias
    assert a[1].weight.shape == (2, 3)  # the known shape filled the shared deferred one
    assert list(b.collect_params()) == list(a.collect_params())
    a.initialize(init.One())
    np.testing.assert_array_equal(b(nd.ones((1, 2))).asnumpy(), a(nd.ones((1, 2))).asnumpy())

    c = nn.Dense(3, in_units=2)
    c.share_parameters({"weight": a[0].weight})
    assert c.weight is a[0].weight and c.bias is not a[0].bias
    assert list(c.collect_params()) == ["dense0_weight", "dense4_bias"]
    with pytest.raises(KeyError, match=r"no parameter named 'gamma'.*\['weight', 'bias'\]"):
        c.share_parameters({"gamma": a[0].weight})
    d = nn.Dense(4, in_units=2)
    with pytest.raises(ValueError, match=r"'weight' has shape \(4, 2\) here.*\(3, 2\)"):
        d.share_parameters({"bias": Parameter("b", shape=(4,)), "weight": a[0].weight})
    assert d.bias.name == "dense5_bias"  # checked first, so the good entry was not applied either


def test_share_parameters_with_a_parameter_dict_says_which_forms_work():
    a = nn.Dense(3, in_units=2)
    b = nn.Dense(3, in_units=2)
    with pytest.raises(KeyError, match=r"'dense0_weight'.*pass the other block itself"):
        b.share_parameters(a.collect_params())
    assert b.weight is not a.weight  # nothing was tied by the failed call
    b.share_parameters(a)  # the form the message recommends
    assert b.weight is a.weight and b.bias is a.bias
