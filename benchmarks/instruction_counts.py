"""Per-call cost of one recorded operator and of an MLP training step, in executed instructions.

Wall-clock timings on a shared machine are noisy; instruction counts under ``valgrind --tool=callgrind``
are repeatable for the same code and inputs whatever else the machine runs, so they compare two
versions of the package (say, before and after a refactor) exactly. Run with::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python benchmarks/instruction_counts.py CASE N

once with ``N`` calls and once with 0, and divide the difference by ``N``;
``benchmarks/compare_instructions.sh OLD_TREE NEW_TREE`` does this for every case.
"""
import sys

import numpy as np

import gpuparams as gp
from gpuparams import autograd, nd


def _recorded_op(name):
    rng = np.random.default_rng(0)
    a = nd.array(rng.standard_normal((16, 16)))
    b = nd.array(rng.standard_normal((16, 16)))
    a.attach_grad()
    b.attach_grad()
    fns = {"add": lambda: a + b, "mul": lambda: a * b, "dot": lambda: nd.dot(a, b),
           "relu": lambda: nd.relu(a)}
    fn = fns[name]

    def step():
        with autograd.record():
            y = fn()
        y.backward()
    return step


def _mlp_step(batch=128):
    from gpuparams import gluon
    from gpuparams.gluon import loss as gloss, nn
    gp.random.seed(0)
    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu"), nn.Dense(256, activation="relu"), nn.Dense(10))
    net.initialize()
    x = nd.random.uniform(shape=(batch, 784))
    y = nd.array(np.arange(batch) % 10)
    loss = gloss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})

    def step():
        with autograd.record():
            value = loss(net(x), y)
        value.backward()
        trainer.step(batch)
    step()  # deferred initialisation happens outside the counted calls
    return step


def main():
    case, count = sys.argv[1], int(sys.argv[2])
    step = _mlp_step() if case == "mlp" else _recorded_op(case)
    step()  # warm: first-call work (imports, caches) is the same in both runs
    for _ in range(count):
        step()


if __name__ == "__main__":
    main()
