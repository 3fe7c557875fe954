"""Deferred shape inference of custom HybridBlocks without their own ``infer_shape`` (issue 11), against
MXNet 1.9.1 (tests/data/mxnet_1_9_1_infer_shape.json, made by tests/data/mxnet_infer_shape_cases.py)
and against float64 NumPy for the values computed once the shapes are known."""
import json
import pathlib
import sys

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, graph, gluon, nd
from gpuparams.errors import DeferredInitializationError, ShapeInferenceError
from gpuparams.gluon import nn

_DATA = pathlib.Path(__file__).parent / "data"
sys.path.insert(0, str(_DATA))
import mxnet_infer_shape_cases as cases  # noqa: E402

_MX = json.loads((_DATA / "mxnet_1_9_1_infer_shape.json").read_text())
_OURS = cases.run(nd, nn, gluon.Parameter)

#: Cases where MXNet 1.9.1's shape functions give up although the answer is unambiguous, and we
#: infer (the contracted and batch dimensions of dot / batch_dot), with the shapes worked out by hand.
_BEYOND_MXNET = {
    "dot_w_0_5": {"w": [3, 5], "out": [2, 5]},              # x (2, 3) · w (?, 5): ? = 3
    "dot_w_x_w_10_0": {"w": [10, 4], "out": [10, 3]},       # w (10, ?) · x (4, 3): ? = 4
    "dot_transpose_b_w_5_0": {"w": [5, 3], "out": [2, 5]},  # x (2, 3) · w(5, ?)ᵀ: ? = 3
    "batch_dot_w_0_0_5": {"w": [2, 4, 5], "out": [2, 3, 5]},  # x (2, 3, 4) · w (?, ?, 5)
}
#: MXNet 1.9.1 does not register a Parameter assigned to an attribute (initialize() skips it:
#: "Parameter 'w' has not been initialized"); gpuparams registers it, so it is inferred, or, without
#: allow_deferred_init, initialize() says to allow it.
_ATTRIBUTE = {
    "fc_attribute_parameter_w_4_0": {"w": [4, 3], "out": [2, 4]},
    "fc_attribute_parameter_not_deferred_w_4_0": {"error": "ValueError", "value_error": True,
                                                  "names_w": True},
}


def test_the_recording_covers_every_case():
    assert set(_MX) == set(cases.CASES) == set(_OURS)
    assert {k for k, v in _MX.items() if "w" in v["imperative"]} == {
        "plus_w_0_0", "times_w_2_0", "minus_from_w_0_0", "relu_times_w_0_0", "fc_w_4_0", "fc_w_0_0",
        "fc_flatten_3d_w_4_0", "fc_no_flatten_3d_w_4_0"}


@pytest.mark.parametrize("name", sorted(cases.CASES))
@pytest.mark.parametrize("mode", ["imperative", "hybridized"])
def test_inferred_shapes_match_mxnet(name, mode):
    mx, ours = _MX[name][mode], _OURS[name][mode]
    if name in _BEYOND_MXNET:
        assert mx["error"] == "ValueError"  # what MXNet does there
        assert ours == _BEYOND_MXNET[name]
    elif name in _ATTRIBUTE:
        assert "error" in mx
        assert ours == _ATTRIBUTE[name]
    elif "error" in mx:
        # MXNet: ValueError "Deferred initialization failed because shape cannot be inferred".
        assert mx["value_error"]
        assert ours == {"error": "ShapeInferenceError", "value_error": True, "names_w": True}
    else:
        assert ours == mx


class _Scaled(nn.HybridBlock):
    """A Dense child whose output is scaled by a parameter of unknown shape (inferred from it)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = nn.Dense(4)
        self.scale = self.params.get("scale", shape=(0, 0), init="ones", allow_deferred_init=True)
        self.proj = self.params.get("proj", shape=(0, 2), allow_deferred_init=True)

    def hybrid_forward(self, F, x, scale, proj):
        return F.dot(self.dense(x) * scale, proj)


@pytest.mark.parametrize("hybridize", [False, True])
def test_inferred_parameters_are_initialized_and_compute(hybridize):
    block = _Scaled()
    block.initialize(init=gp.init.Uniform(1.0))
    if hybridize:
        block.hybridize()
    x = np.random.default_rng(2).uniform(-1, 1, size=(3, 5))
    for _ in range(2):
        xs = nd.array(x)
        xs.attach_grad()
        with autograd.record():
            y = block(xs)
        y.backward()
    assert block.scale.shape == (3, 4) and block.proj.shape == (4, 2)
    assert block.dense.weight.shape == (4, 5)
    np.testing.assert_array_equal(block.scale.data().asnumpy(), np.ones((3, 4)))  # its own init
    w, b = (p.data().asnumpy().astype(np.float64) for p in (block.dense.weight, block.dense.bias))
    proj = block.proj.data().asnumpy().astype(np.float64)
    x32 = x.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(y.asnumpy(), (x32 @ w.T + b) @ proj, rtol=1e-5, atol=1e-6)
    # d sum(y) / d proj = (x·wᵀ + b)ᵀ · 1
    np.testing.assert_allclose(block.proj.grad().asnumpy(), (x32 @ w.T + b).T @ np.ones((3, 2)),
                               rtol=1e-5, atol=1e-6)
    if hybridize:
        assert graph.cache_info(block)["replays"] == 1


def test_a_custom_block_inside_a_hybridized_parent_is_inferred():
    net = nn.HybridSequential()
    net.add(_Scaled(), nn.Dense(1))
    net.initialize()
    net.hybridize()
    out = net(nd.ones((6, 3)))
    assert out.shape == (6, 1) and net[0].scale.shape == (6, 4)
    assert np.array_equal(net(nd.ones((6, 3))).asnumpy(), out.asnumpy())


class _Uses(nn.HybridBlock):
    def __init__(self, body, shape, **kwargs):
        super().__init__(**kwargs)
        self._body = body
        self.w = self.params.get("w", shape=shape, allow_deferred_init=True)

    def hybrid_forward(self, F, x, w):
        return self._body(F, x, w)


def _first_call(body, shape, x_shape=(2, 3)):
    block = _Uses(body, shape, prefix="blk_")
    block.initialize()
    return block, block(nd.ones(x_shape))


def test_the_error_names_the_parameter_its_shape_and_the_operator():
    with pytest.raises(ShapeInferenceError, match=r"operator 'sum' received Parameter 'blk_w' of shape "
                                                  r"\(0,\).*Give the full shape") as info:
        _first_call(lambda F, x, w: x + F.sum(w), (0,))
    assert isinstance(info.value, ValueError) and isinstance(info.value, DeferredInitializationError)
    with pytest.raises(ShapeInferenceError, match=r"'FullyConnected' needs Parameter 'blk_w' to have shape "
                                                  r"\(5, 3\).*declared with shape \(4, 0\)"):
        _first_call(lambda F, x, w: F.FullyConnected(x, w, num_hidden=5, no_bias=True), (4, 0))
    with pytest.raises(ShapeInferenceError, match=r"'broadcast_mul' received Parameter 'blk_w' of shape "
                                                  r"\(1, 0\)"):
        _first_call(lambda F, x, w: F.broadcast_mul(x, w), (1, 0))
    with pytest.raises(ShapeInferenceError, match=r"used 'T' of Parameter 'blk_w' \(shape \(0, 3\)\)"):
        _first_call(lambda F, x, w: F.dot(x, w.T), (0, 3))


def test_methods_and_python_operators_of_the_placeholder_infer_too():
    block, out = _first_call(lambda F, x, w: (w * x).sum(axis=1) + (2 - w).reshape((-1,)).sum(), (0, 3))
    assert block.w.shape == (2, 3) and out.shape == (2,)
    block, out = _first_call(lambda F, x, w: x @ w, (0, 4))
    assert block.w.shape == (3, 4) and out.shape == (2, 4)


def test_a_failed_inference_leaves_the_parameter_deferred():
    block = _Uses(lambda F, x, w: F.sum(w) + x, (0,), prefix="blk_")
    block.initialize()
    with pytest.raises(ShapeInferenceError):
        block(nd.ones((2, 3)))
    assert not block.w.is_initialized()
    with pytest.raises(DeferredInitializationError, match="blk_w"):
        block.w.data()


def test_dense_keeps_its_own_infer_shape():
    layer = nn.Dense(3)
    layer.initialize()
    assert layer(nd.ones((2, 7))).shape == (2, 3) and layer.weight.shape == (3, 7)
