"""Cases whose outputs were recorded with MXNet 1.9.1 (tests/data/mxnet_1_9_1_reference.json).

``run(nd, autograd, gluon, nn, gloss)`` computes every case with the framework passed in, so the very
same code produced the reference under MXNet and produces the values under test with gpuparams.
Re-record with an MXNet 1.9.1 environment:
``python -c "import json, mxnet_reference_cases as c; from mxnet import nd, autograd, gluon;
from mxnet.gluon import nn, loss; json.dump(c.run(nd, autograd, gluon, nn, loss), open('...', 'w'))"``
"""
import json

import numpy as np

OPTIMIZER_CASES = [
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01, "clip_gradient": 0.5}),
    ("sgd", {"learning_rate": 0.1, "wd": 0.05}),
    ("adam", {"learning_rate": 0.01, "wd": 0.01, "clip_gradient": 1.0}),
]


def run(nd, autograd, gluon, nn, gloss):
    """Loss values of five losses and weights after three Trainer steps of three optimizers."""
    rng = np.random.RandomState(0)
    W1 = rng.randn(5, 4).astype("float32")
    b1 = rng.randn(5).astype("float32")
    W2 = rng.randn(3, 5).astype("float32")
    b2 = rng.randn(3).astype("float32")
    X = rng.randn(6, 4).astype("float32")
    y = rng.randint(0, 3, size=6).astype("float32")
    out = {}
    losses = {"sce": gloss.SoftmaxCrossEntropyLoss(), "l2": gloss.L2Loss(), "l1": gloss.L1Loss(),
              "huber": gloss.HuberLoss(rho=0.7), "sbce": gloss.SigmoidBinaryCrossEntropyLoss()}
    pred = nd.array(rng.randn(6, 3).astype("float32") * 3)
    soft_labels = nd.array(rng.rand(6, 3).astype("float32"))
    for name, loss in losses.items():
        label = nd.array(y) if name == "sce" else soft_labels
        out["loss_" + name] = loss(pred, label).asnumpy().tolist()
    for optimizer, params in OPTIMIZER_CASES:
        net = nn.Sequential()
        net.add(nn.Dense(5, activation="relu"), nn.Dense(3))
        net.initialize()
        net(nd.array(X))
        net[0].weight.set_data(nd.array(W1))
        net[0].bias.set_data(nd.array(b1))
        net[1].weight.set_data(nd.array(W2))
        net[1].bias.set_data(nd.array(b2))
        trainer = gluon.Trainer(net.collect_params(), optimizer, params)
        loss = gloss.SoftmaxCrossEntropyLoss()
        for _ in range(3):
            with autograd.record():
                value = loss(net(nd.array(X)), nd.array(y))
            value.backward()
            trainer.step(6)
        out[optimizer + json.dumps(params)] = [net[0].weight.data().asnumpy().tolist(),
                                               net[1].bias.data().asnumpy().tolist()]
    return out
