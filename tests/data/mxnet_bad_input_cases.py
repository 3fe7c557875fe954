"""Inputs that MXNet 1.9.1 turns into silently wrong values, recorded in
tests/data/mxnet_1_9_1_bad_input.json; gpuparams refuses them (README, "Where we differ").

``run(nd, gluon)`` computes every case with the framework passed in; a case that raises is stored as
``"error: <type>"``. Re-record in an MXNet 1.9.1 environment, from this folder:
``python -c "import json, mxnet_bad_input_cases as c; from mxnet import nd, gluon;
json.dump(c.run(nd, gluon), open('mxnet_1_9_1_bad_input.json', 'w'), indent=1)"``
"""

INF = float("inf")

CASES = {
    "array_none_in_list": lambda nd, gluon: nd.array([1, None]),
    "array_int8_200": lambda nd, gluon: nd.array([200], dtype="int8"),
    "array_uint8_minus_1": lambda nd, gluon: nd.array([-1], dtype="uint8"),
    "sce_label_0.9999": lambda nd, gluon: gluon.loss.SoftmaxCrossEntropyLoss()(
        nd.array([[0.0, 1, 2]]), nd.array([0.9999])),
    "sce_label_0": lambda nd, gluon: gluon.loss.SoftmaxCrossEntropyLoss()(
        nd.array([[0.0, 1, 2]]), nd.array([0])),
    "sce_inf_logit_at_label": lambda nd, gluon: gluon.loss.SoftmaxCrossEntropyLoss()(
        nd.array([[INF, 1, 2]]), nd.array([0])),
    "sce_inf_logit_elsewhere": lambda nd, gluon: gluon.loss.SoftmaxCrossEntropyLoss()(
        nd.array([[INF, 1, 2]]), nd.array([1])),
    "pick_1.5": lambda nd, gluon: nd.pick(nd.array([[0.0, 1, 2]]), nd.array([1.5])),
    "one_hot_1.5": lambda nd, gluon: nd.one_hot(nd.array([1.5]), 3),
    "take_1.5": lambda nd, gluon: nd.take(nd.array([0.0, 1, 2]), nd.array([1.5])),
}


def run(nd, gluon):
    """``{case: values as nested lists, or "error: <exception type>"}``."""
    out = {}
    for name, case in CASES.items():
        try:
            out[name] = case(nd, gluon).asnumpy().tolist()
        except Exception as exc:  # recording what happens, whatever it is
            out[name] = f"error: {type(exc).__name__}"
    return out
