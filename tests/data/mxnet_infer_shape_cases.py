"""Deferred shape inference of custom HybridBlocks, recorded with MXNet 1.9.1
(tests/data/mxnet_1_9_1_infer_shape.json).

``run(nd, nn, Parameter)`` runs every case with the framework passed in: a custom HybridBlock that
declares one parameter ``w`` with unknown (0) dimensions, does not override ``infer_shape``, and uses
``w`` in ``hybrid_forward`` through one expression. Each case records the inferred shape of ``w`` and
the output's shape, or that the first call failed (the exception's class name, whether it is a
ValueError, and whether the message names ``w`` with its shape), both imperatively and hybridized.
Re-record with an MXNet 1.9.1 environment, from this folder:
``python -c "import json, mxnet_infer_shape_cases as c; from mxnet import nd, gluon;
from mxnet.gluon import nn; json.dump(c.run(nd, nn, gluon.Parameter), open('mxnet_1_9_1_infer_shape.json',
'w'), indent=1, sort_keys=True)"``
"""

#: name -> (expression of F, x, w; w's declared shape; input shape; how w is declared)
CASES = {
    "broadcast_mul_w_0": ("F.broadcast_mul(x, w)", (0,), (2, 3), "params"),
    "broadcast_mul_w_1_0": ("F.broadcast_mul(x, w)", (1, 0), (2, 3), "params"),
    "broadcast_add_w_0_0": ("F.broadcast_add(x, w)", (0, 0), (2, 3), "params"),
    "plus_w_0_0": ("x + w", (0, 0), (2, 3), "params"),
    "times_w_2_0": ("x * w", (2, 0), (2, 3), "params"),
    "minus_from_w_0_0": ("w - x", (0, 0), (2, 3), "params"),
    "relu_times_w_0_0": ("F.relu(x) * w", (0, 0), (2, 3), "params"),
    "fc_w_4_0": ("F.FullyConnected(x, w, num_hidden=4, no_bias=True)", (4, 0), (2, 3), "params"),
    "fc_w_0_0": ("F.FullyConnected(x, w, num_hidden=4, no_bias=True)", (0, 0), (2, 3), "params"),
    "fc_flatten_3d_w_4_0": ("F.FullyConnected(x, w, num_hidden=4, no_bias=True)", (4, 0), (2, 3, 5),
                            "params"),
    "fc_no_flatten_3d_w_4_0": ("F.FullyConnected(x, w, num_hidden=4, no_bias=True, flatten=False)",
                               (4, 0), (2, 3, 5), "params"),
    "fc_num_hidden_mismatch_w_4_0": ("F.FullyConnected(x, w, num_hidden=5, no_bias=True)", (4, 0), (2, 3),
                                     "params"),
    "fc_attribute_parameter_w_4_0": ("F.FullyConnected(x, w, num_hidden=4, no_bias=True)", (4, 0), (2, 3),
                                     "attribute"),
    "fc_attribute_parameter_not_deferred_w_4_0": ("F.FullyConnected(x, w, num_hidden=4, no_bias=True)",
                                                  (4, 0), (2, 3), "attribute_plain"),
    "dot_w_0_5": ("F.dot(x, w)", (0, 5), (2, 3), "params"),
    "dot_w_0_0": ("F.dot(x, w)", (0, 0), (2, 3), "params"),
    "dot_w_x_w_10_0": ("F.dot(w, x)", (10, 0), (4, 3), "params"),
    "dot_transpose_b_w_5_0": ("F.dot(x, w, transpose_b=True)", (5, 0), (2, 3), "params"),
    "batch_dot_w_0_0_5": ("F.batch_dot(x, w)", (0, 0, 5), (2, 3, 4), "params"),
    "sum_only_w_0": ("x + F.sum(w)", (0,), (2, 3), "params"),
}


def _block(nn, Parameter, expression, shape, how):
    class Custom(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            if how == "params":
                self.w = self.params.get("w", shape=shape, allow_deferred_init=True)
            elif how == "attribute":
                self.w = Parameter("w", shape=shape, allow_deferred_init=True)
            else:
                self.w = Parameter("w", shape=shape)

        def hybrid_forward(self, F, x, w):
            return eval(expression, {"F": F, "x": x, "w": w})  # one of the fixed CASES expressions
    return Custom()


def _one(nd, nn, Parameter, expression, shape, in_shape, how, hybridize):
    try:
        block = _block(nn, Parameter, expression, shape, how)
        block.initialize()
        if hybridize:
            block.hybridize()
        out = block(nd.ones(in_shape))
        return {"w": list(block.w.shape), "out": list(out.shape)}
    except Exception as exc:  # the failure is the recorded fact
        text = str(exc)
        return {"error": type(exc).__name__, "value_error": isinstance(exc, ValueError),
                "names_w": "w" in text and str(tuple(shape)).replace(" ", "") in text.replace(" ", "")}


def run(nd, nn, Parameter):
    """``{case: {'imperative': result, 'hybridized': result}}`` (see the module docstring)."""
    return {name: {mode: _one(nd, nn, Parameter, expression, shape, in_shape, how, mode == "hybridized")
                   for mode in ("imperative", "hybridized")}
            for name, (expression, shape, in_shape, how) in CASES.items()}
