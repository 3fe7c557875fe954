"""hybridize() cases recorded with MXNet 1.9.1 (tests/data/mxnet_1_9_1_hybridize.json).

``run(nd, autograd, nn)`` computes every case with the framework passed in: the very same code made
the reference under MXNet and makes the values under test with gpuparams. Re-record with an MXNet
1.9.1 environment, from this folder:
``python -c "import json, mxnet_hybridize_cases as c; from mxnet import nd, autograd;
from mxnet.gluon import nn; json.dump(c.run(nd, autograd, nn), open('mxnet_1_9_1_hybridize.json', 'w'))"``
"""
import numpy as np


def run(nd, autograd, nn):
    """Reprs, class relations, the plain-child error, and a hybridized MLP's outputs and gradients."""
    out = {
        "repr_hybrid_lambda": repr(nn.HybridLambda("tanh")),
        "repr_lambda": repr(nn.Lambda(lambda x: x)),
        "repr_dropout": repr(nn.Dropout(0.5)),
        "repr_flatten": repr(nn.Flatten()),
        "hybrid_sequential_is_sequential": isinstance(nn.HybridSequential(), nn.Sequential),
        "hybrid_block_bases": [c.__name__ for c in nn.HybridBlock.__mro__],
    }

    class Plain(nn.Block):
        def forward(self, x):
            return x

    try:
        net = nn.HybridSequential()
        net.add(Plain())
        net.hybridize()
        out["plain_child_error"] = None
    except Exception as exc:  # MXNet raises at add(), gpuparams at hybridize()
        out["plain_child_error"] = [type(exc).__name__, str(exc)[:46]]

    rng = np.random.RandomState(3)
    net = nn.HybridSequential()
    net.add(nn.Dense(5, activation="relu", in_units=4), nn.Dense(3, activation="tanh", in_units=5),
            nn.Flatten())
    net.initialize()
    for p in net.collect_params().values():
        p.set_data(nd.array(rng.randn(*p.shape).astype("float32")))
    net.hybridize()
    x = nd.array(rng.randn(6, 4).astype("float32"))
    for i in range(2):  # MXNet's first call builds its graph, the second runs the cached op
        with autograd.record():
            y = net(x)
            loss = (y * y).sum()
        loss.backward()
        out[f"output_{i}"] = y.asnumpy().tolist()
        out[f"grads_{i}"] = [p.grad().asnumpy().tolist() for p in net.collect_params().values()]
    return out
