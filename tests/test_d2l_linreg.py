"""The Gluon linear-regression chapter, run with only its imports changed, and the user-guide snippets.

``test_linear_regression_chapter`` follows the chapter step by step (synthetic data, ArrayDataset,
DataLoader, Dense(1), L2Loss, Trainer('sgd', lr 0.03), three epochs) with the chapter's API calls
and hyperparameters. ``USER_GUIDE`` is the Markdown section handed to the README; every ``python``
block in it is executed by ``test_user_guide_snippets_run``, so the documentation cannot rot.
"""
import re

import numpy as np
import pytest

import gpuparams as gp

# Every test here runs under both front ends (nd, np) and also with its HybridBlocks hybridized
# (tests/conftest.py::front_end, ::hybrid_mode).
pytestmark = pytest.mark.usefixtures("front_end", "hybrid_mode")

CHAPTER_CONTEXTS = [
    pytest.param("cpu", id="cpu0"),
    pytest.param("gpu", id="gpu0", marks=pytest.mark.gpu),
]


@pytest.mark.parametrize("where", CHAPTER_CONTEXTS)
def test_linear_regression_chapter(where):
    # --- the chapter's imports, with mxnet replaced by gpuparams -------------------------------
    from gpuparams import autograd, nd
    from gpuparams.gluon import data as gdata
    from gpuparams.gluon import nn
    from gpuparams import init
    from gpuparams.gluon import loss as gloss
    from gpuparams import gluon

    gp.random.seed(1)
    ctx = gp.cpu(0) if where == "cpu" else gp.gpu(0)
    with ctx:
        # --- synthetic data: y = Xw + b + noise ---------------------------------------------------
        n_inputs, n_examples = 2, 1000
        w_true, b_true = [2, -3.4], 4.2
        features = nd.random.normal(scale=1, shape=(n_examples, n_inputs))
        labels = w_true[0] * features[:, 0] + w_true[1] * features[:, 1] + b_true
        labels += nd.random.normal(scale=0.01, shape=labels.shape)

        # --- reading the data ----------------------------------------------------------------------
        batch_size = 10
        data_iter = gdata.DataLoader(gdata.ArrayDataset(features, labels), batch_size, shuffle=True)

        # --- the model, its initialization, the loss and the optimizer ----------------------------
        net = nn.Sequential()
        net.add(nn.Dense(1))
        net.initialize(init.Normal(sigma=0.01))
        loss = gloss.L2Loss()
        trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.03})

        # --- training ------------------------------------------------------------------------------
        epoch_losses = []
        for epoch in range(1, 4):
            for X, y in data_iter:
                with autograd.record():
                    l = loss(net(X), y)
                l.backward()
                trainer.step(batch_size)
            l = loss(net(features), labels)
            # (the chapter formats l.mean().asnumpy() with %f; NumPy 2 deprecates turning a
            # one-element array into a float, so read the scalar explicitly)
            epoch_losses.append(float(l.mean().asscalar()))

        dense = net[0]
        w_err = np.array(w_true) - dense.weight.data().asnumpy().reshape(2)
        b_err = b_true - dense.bias.data().asnumpy()[0]

    assert epoch_losses[0] > epoch_losses[1] > 0
    assert epoch_losses[-1] < 1e-4  # the chapter reports about 5e-5
    assert np.abs(w_err).max() < 1e-3 and abs(b_err) < 1e-3


# ----------------------------------------------------------------------------- user guide
USER_GUIDE = r'''
## Training models

gpuparams keeps MXNet Gluon 1.x's model: `Parameter`s owned by `Block`s, `autograd.record()`, and a
`Trainer` that applies an optimizer. Code written for Gluon runs after replacing `mxnet` with
`gpuparams` in its imports.

### A training loop

```python
import gpuparams as gp
from gpuparams import autograd, init, nd, gluon
from gpuparams.gluon import nn, loss as gloss, data as gdata

gp.random.seed(0)                      # initial weights, nd.random and shuffling
X = nd.random.normal(shape=(512, 4))
y = X[:, 0] * X[:, 1] > 0              # a label no straight line separates (0. or 1.)
loader = gdata.DataLoader(gdata.ArrayDataset(X, y), batch_size=32, shuffle=True)

net = nn.Sequential()
net.add(nn.Dense(32, activation='relu'), nn.Dense(2))
net.initialize(init.Xavier(), ctx=gp.cpu())          # ctx=gp.gpu(0) on an NVIDIA GPU
loss_fn = gloss.SoftmaxCrossEntropyLoss()
trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.01})

for epoch in range(20):
    total = 0.0
    for xb, yb in loader:
        with autograd.record():
            loss = loss_fn(net(xb), yb)                  # one value per example
        loss.backward()
        trainer.step(xb.shape[0])                        # gradients are divided by the batch size
        total += loss.sum().asscalar()

accuracy = (net(X).asnumpy().argmax(axis=1) == y.asnumpy()).mean()
print(f"loss {total / len(X):.4f}, training accuracy {accuracy:.1%}")

net.save_parameters('mlp.npz')                           # .npz, written atomically, no pickle
trainer.save_states('mlp.trainer.npz')                   # Adam's moments and update counts
```

Continue later with `net.load_parameters('mlp.npz')` and `trainer.load_states('mlp.trainer.npz')`.
From the shell, `python -m gpuparams train` does all of this for a built-in task or your own
`--data file.csv` and shows a progress bar.

### Tied parameters

Pass one block's `params` to another to share the very same `Parameter` objects:

```python
shared = nn.Dense(8, activation='relu')
net = nn.Sequential()
net.add(nn.Dense(8, activation='relu'),
        shared,
        nn.Dense(8, activation='relu', params=shared.params),   # the same weight and bias
        nn.Dense(1))
net.initialize()
net(nd.random.uniform(shape=(2, 20)))

print(net[1].weight is net[2].weight)       # True: one Parameter
net[1].weight.data()[0, 0] = 100            # so changing it changes both layers
print(net[2].weight.data()[0, 0].asscalar())  # 100.0
print(len(net.collect_params()))            # 6: the shared weight and bias are listed once
```

In a backward pass the gradients of both uses add up in the one gradient buffer, and the
`Trainer` updates the shared parameter once.

### Deferred initialization

Layers need not be told their input size: it is read from the first batch.

```python
net = nn.Sequential()
net.add(nn.Dense(256, activation='relu'), nn.Dense(10))
net.initialize()
print(net[0].weight.shape)                  # (256, 0): the input size is not known yet
try:
    net[0].weight.data()
except gp.DeferredInitializationError as err:
    print('not yet:', err)                  # says to run one batch or give in_units
net(nd.random.uniform(shape=(2, 20)))       # the first batch fixes in_units = 20
print(net[0].weight.data().shape)           # (256, 20)
```

Creating the `Trainer` before the first batch is fine; calling `trainer.step` before it raises an
error naming the parameters that are still waiting.

### Custom blocks

Subclass `nn.Block`, assign child blocks and parameters in `__init__`, and write `forward`:

```python
class ScaledDense(nn.Block):
    """relu(x·W + b) * scale, with a learned scale per output."""
    def __init__(self, units, in_units, **kwargs):
        super().__init__(**kwargs)
        self.weight = self.params.get('weight', shape=(in_units, units))
        self.bias = self.params.get('bias', shape=(units,), init=init.Zero())
        self.scale = self.params.get('scale', shape=(units,), init=init.One())

    def forward(self, x):
        h = nd.relu(nd.dot(x, self.weight.data()) + self.bias.data())
        return h * self.scale.data()

class Model(nn.Block):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = ScaledDense(16, in_units=4)
        self.output = nn.Dense(1)

    def forward(self, x):
        return self.output(self.hidden(x))

model = Model()
model.initialize()
print(model(nd.ones((3, 4))).shape)          # (3, 1)
print(len(model.collect_params()))           # 5: hidden weight, bias, scale; output weight, bias
```

### Custom initializers

Subclass `init.Initializer` and fill `data` in place in `_init_weight`:

```python
class SparseUniform(init.Initializer):
    """Uniform in [-1, 1], with the weights smaller than 0.5 in magnitude set to zero."""
    def _init_weight(self, name, data):
        data[:] = nd.random.uniform(-1, 1, shape=data.shape)
        data *= data.abs() >= 0.5

layer = nn.Dense(8, in_units=4)
layer.initialize(SparseUniform())            # the bias keeps its own initializer ('zeros')
w = layer.weight.data().asnumpy()
print(((w == 0) | (abs(w) >= 0.5)).all())    # True

# PyTorch-style functions work in place on a Parameter or an NDArray:
init.kaiming_uniform_(layer.weight, nonlinearity='relu')
init.zeros_(layer.bias)
```
'''


def _python_blocks(markdown):
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def test_user_guide_snippets_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the training snippet writes its files to the working folder
    blocks = _python_blocks(USER_GUIDE)
    assert len(blocks) == 5
    namespace = {}
    for block in blocks:  # one namespace, in order, as a reader pasting them would
        exec(compile(block, "<user guide>", "exec"), namespace)
    out = capsys.readouterr().out.splitlines()

    # the training loop learned the non-linear task and wrote both files
    assert namespace["accuracy"] > 0.9
    assert (tmp_path / "mlp.npz").exists() and (tmp_path / "mlp.trainer.npz").exists()
    # tied parameters
    assert out[1:4] == ["True", "100.0", "6"]
    # deferred initialization
    assert out[4] == "(256, 0)" and out[5].startswith("not yet:") and "in_units" in out[5]
    assert out[6] == "(256, 20)"
    # custom blocks
    assert out[7:9] == ["(3, 1)", "5"]
    # custom initializer
    assert out[9] == "True"
    layer = namespace["layer"]
    assert np.all(layer.bias.data().asnumpy() == 0)
    bound = np.sqrt(6 / 4)  # kaiming_uniform_ with relu gain: sqrt(2) * sqrt(3 / fan_in)
    assert np.abs(layer.weight.data().asnumpy()).max() <= bound
