"""Optimizer, learning-rate-scheduler, multi-precision and parameter-file cases recorded with MXNet 1.9.1.

``run(mx)`` computes every case with the framework module passed in (``mxnet`` or ``gpuparams``),
so the very same code produced ``mxnet_1_9_1_optimizers.json`` under MXNet and produces the values
under test with gpuparams. Re-record with ``record_mxnet_optimizers.py`` in an MXNet 1.9.1
environment (it explains the one addition it makes to MXNet: an ``adamw`` optimizer driving MXNet's
own ``nd.contrib.adamw_update`` kernel, since MXNet 1.9.1 registers no AdamW optimizer).
"""
import json
import os
import tempfile

import numpy as np

STEPS = 5

# (optimizer name, optimizer_params). rescale_grad here multiplies the Trainer's 1/batch_size.
OPTIMIZER_CASES = [
    ("nag", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01, "clip_gradient": 0.5}),
    ("nag", {"learning_rate": 0.1, "wd": 0.02, "rescale_grad": 2.0}),
    ("rmsprop", {"learning_rate": 0.01, "gamma1": 0.8, "epsilon": 1e-6, "wd": 0.01, "clip_gradient": 1.0}),
    ("rmsprop", {"learning_rate": 0.02, "gamma1": 0.9, "clip_weights": 1.2, "rescale_grad": 3.0}),
    ("rmsprop", {"learning_rate": 0.01, "centered": True, "gamma1": 0.85, "gamma2": 0.7, "wd": 0.02,
                 "clip_gradient": 0.8, "epsilon": 1e-6}),
    ("rmsprop", {"learning_rate": 0.005, "centered": True, "clip_weights": 1.3}),
    ("adagrad", {"learning_rate": 0.1, "wd": 0.01, "clip_gradient": 0.5, "eps": 1e-6}),
    ("adagrad", {"learning_rate": 0.05, "rescale_grad": 2.0}),
    ("adadelta", {"rho": 0.8, "epsilon": 1e-4, "wd": 0.01, "clip_gradient": 0.5}),
    ("adadelta", {"wd": 0.001, "rescale_grad": 4.0}),
    ("adamw", {"learning_rate": 0.01, "wd": 0.05, "clip_gradient": 1.0}),
    ("adamw", {"learning_rate": 0.02, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6, "wd": 0.1,
               "rescale_grad": 2.0}),
    ("signum", {"learning_rate": 0.01, "momentum": 0.8, "wd": 0.01, "wd_lh": 0.05, "clip_gradient": 0.5}),
    ("signum", {"learning_rate": 0.02, "momentum": 0.0, "wd": 0.03}),
    ("ftml", {"learning_rate": 0.05, "beta1": 0.6, "beta2": 0.99, "wd": 0.01, "clip_gradient": 1.0}),
    ("ftml", {"learning_rate": 0.02, "rescale_grad": 2.0, "epsilon": 1e-6}),
    # clip_gradient=0: MXNet's kernel-backed optimizers read it as "no clipping" (they pass it on only
    # when truthy); its dense AdaGrad and AdaDelta clip every gradient to 0.
    ("sgd", {"learning_rate": 0.1, "wd": 0.01, "clip_gradient": 0}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "clip_gradient": 0}),
    ("adam", {"learning_rate": 0.01, "wd": 0.01, "clip_gradient": 0}),
    ("nag", {"learning_rate": 0.1, "momentum": 0.9, "clip_gradient": 0}),
    ("rmsprop", {"learning_rate": 0.01, "clip_gradient": 0}),
    ("rmsprop", {"learning_rate": 0.01, "centered": True, "clip_gradient": 0}),
    ("adagrad", {"learning_rate": 0.1, "wd": 0.01, "clip_gradient": 0}),
    ("adadelta", {"wd": 0.01, "clip_gradient": 0}),
    ("adamw", {"learning_rate": 0.01, "wd": 0.05, "clip_gradient": 0}),
    ("signum", {"learning_rate": 0.01, "momentum": 0.8, "clip_gradient": 0}),
    ("ftml", {"learning_rate": 0.05, "clip_gradient": 0}),
]

# (name, constructor keyword arguments); each is called for num_update = 0 .. 29 in order.
SCHEDULER_CASES = [
    ("FactorScheduler", {"step": 4, "factor": 0.5, "base_lr": 0.8}),
    ("FactorScheduler", {"step": 3, "factor": 0.1, "stop_factor_lr": 1e-3, "base_lr": 1.0,
                         "warmup_steps": 5, "warmup_begin_lr": 0.1}),
    ("MultiFactorScheduler", {"step": [3, 7, 20], "factor": 0.3, "base_lr": 0.5}),
    ("MultiFactorScheduler", {"step": [6, 9], "factor": 0.5, "base_lr": 0.4, "warmup_steps": 4,
                              "warmup_begin_lr": 0.2, "warmup_mode": "constant"}),
    ("PolyScheduler", {"max_update": 20, "base_lr": 0.3, "pwr": 2}),
    ("PolyScheduler", {"max_update": 25, "base_lr": 0.3, "pwr": 1, "final_lr": 0.01, "warmup_steps": 5,
                       "warmup_begin_lr": 0.05}),
    ("CosineScheduler", {"max_update": 20, "base_lr": 0.6, "final_lr": 0.05}),
    ("CosineScheduler", {"max_update": 24, "base_lr": 0.5, "warmup_steps": 6, "warmup_begin_lr": 0.0}),
    ("CosineScheduler", {"max_update": 15, "base_lr": 0.5, "warmup_steps": 3, "warmup_begin_lr": 0.1,
                         "warmup_mode": "constant"}),
]

# Schedulers driven by a Trainer: (optimizer, optimizer_params without the scheduler, scheduler case).
# 'learning_rate' in optimizer_params overrides the scheduler's base_lr (Factor/MultiFactor use it).
TRAINER_SCHEDULER_CASES = [
    ("sgd", {"learning_rate": 0.2, "momentum": 0.5}, ("FactorScheduler", {"step": 2, "factor": 0.5})),
    ("sgd", {}, ("MultiFactorScheduler", {"step": [2, 4], "factor": 0.1, "base_lr": 0.3})),
    ("adam", {}, ("CosineScheduler", {"max_update": 6, "base_lr": 0.05, "warmup_steps": 2,
                                      "warmup_begin_lr": 0.01})),
    ("nag", {"learning_rate": 0.1, "momentum": 0.9},
     ("PolyScheduler", {"max_update": 8, "base_lr": 0.2, "pwr": 2})),
]

# multi_precision: (optimizer, params) updated directly with update_multi_precision on float16.
MULTI_PRECISION_CASES = [
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01, "multi_precision": True}),
    ("sgd", {"learning_rate": 0.001, "multi_precision": True}),
    ("sgd", {"learning_rate": 0.001, "multi_precision": False}),
    ("nag", {"learning_rate": 0.05, "momentum": 0.9, "multi_precision": True}),
    ("adam", {"learning_rate": 0.01, "multi_precision": True}),
    ("rmsprop", {"learning_rate": 0.01, "multi_precision": True}),
]


def _data():
    rng = np.random.RandomState(1)
    params = [rng.randn(5, 4).astype("float32"), rng.randn(5).astype("float32"),
              rng.randn(3, 5).astype("float32"), rng.randn(3).astype("float32")]
    X = rng.randn(6, 4).astype("float32")
    y = rng.randint(0, 3, size=6).astype("float32")
    return params, X, y


def _net(mx, params, X, ctx):
    nn = mx.gluon.nn
    net = nn.Sequential()
    net.add(nn.Dense(5, activation="relu"), nn.Dense(3))
    net.initialize(ctx=ctx)
    net(mx.nd.array(X, ctx=ctx))
    layers = [net[0].weight, net[0].bias, net[1].weight, net[1].bias]
    for p, value in zip(layers, params):
        p.set_data(mx.nd.array(value, ctx=ctx))
    # Per-parameter multipliers: the optimizer must scale lr / wd by them.
    net[0].weight.lr_mult = 0.5
    net[0].weight.wd_mult = 3.0
    net[1].bias.wd_mult = 0.0
    return net, layers


def _train(mx, net, trainer, X, y, ctx, steps, lrs=None):
    loss = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    for _ in range(steps):
        with mx.autograd.record():
            value = loss(net(mx.nd.array(X, ctx=ctx)), mx.nd.array(y, ctx=ctx))
        value.backward()
        trainer.step(X.shape[0])
        if lrs is not None:
            lrs.append(float(trainer.learning_rate))


def _case_key(kind, name, params):
    return f"{kind}:{name}{json.dumps(params, sort_keys=True)}"


def run_optimizers(mx, ctx):
    out = {}
    params, X, y = _data()
    for name, opt_params in OPTIMIZER_CASES:
        net, layers = _net(mx, params, X, ctx)
        trainer = mx.gluon.Trainer(net.collect_params(), name, dict(opt_params))
        _train(mx, net, trainer, X, y, ctx, STEPS)
        out[_case_key("opt", name, opt_params)] = [p.data().asnumpy().tolist() for p in layers]
    return out


def _scheduler(mx, name, kwargs):
    return getattr(mx.lr_scheduler, name)(**{k: (list(v) if isinstance(v, list) else v)
                                             for k, v in kwargs.items()})


def run_schedulers(mx, ctx):
    out = {}
    for name, kwargs in SCHEDULER_CASES:
        s = _scheduler(mx, name, kwargs)
        out[_case_key("sched", name, kwargs)] = [float(s(n)) for n in range(30)]
    params, X, y = _data()
    for opt_name, opt_params, (sname, skw) in TRAINER_SCHEDULER_CASES:
        net, layers = _net(mx, params, X, ctx)
        full = dict(opt_params, lr_scheduler=_scheduler(mx, sname, skw))
        trainer = mx.gluon.Trainer(net.collect_params(), opt_name, full)
        lrs = []
        _train(mx, net, trainer, X, y, ctx, 7, lrs)
        key = _case_key("trainer_sched", opt_name, [opt_params, sname, skw])
        out[key] = {"lrs": lrs, "weights": [p.data().asnumpy().tolist() for p in layers]}
    return out


def run_multi_precision(mx, ctx):
    out = {}
    rng = np.random.RandomState(2)
    w0 = rng.randn(7).astype("float16")
    w0[0] = 1.0  # an entry where lr*grad is far below half an ulp of float16 at 1.0
    grads = [rng.randn(7).astype("float16") for _ in range(12)]
    for name, kwargs in MULTI_PRECISION_CASES:
        opt = mx.optimizer.create(name, **kwargs)
        w = mx.nd.array(w0, ctx=ctx, dtype="float16")
        state = opt.create_state_multi_precision(0, w)
        for g in grads:
            opt.update_multi_precision(0, w, mx.nd.array(g, ctx=ctx, dtype="float16"), state)
        out[_case_key("mp", name, kwargs)] = w.asnumpy().astype("float64").tolist()
    return out


def run_files(mx, ctx):
    """The keys MXNet writes for a model with a tied layer, with and without deduplicate; the dtype a
    parameter has after loading a float64 file into a float32 model with each ``dtype_source``; and
    what loading either file into a fresh tied model gives."""
    nn = mx.gluon.nn

    class Tied(mx.gluon.Block):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.a = nn.Dense(3, in_units=3)
            self.b = nn.Dense(3, in_units=3, params=self.a.params)
            self.c = nn.Dense(2, in_units=3)

        def forward(self, x):
            return self.c(self.b(self.a(x)))

    net = Tied()
    net.initialize(ctx=ctx)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dedup in (False, True):
            path = os.path.join(tmp, f"tied{int(dedup)}.params")
            net.save_parameters(path, deduplicate=dedup)
            out[f"files:deduplicate={dedup}"] = sorted(mx.nd.load(path))
            fresh = Tied()
            fresh.initialize(ctx=ctx)
            fresh.load_parameters(path, ctx=ctx)
            x = mx.nd.array(np.linspace(-1, 1, 6).reshape(2, 3), ctx=ctx)
            out[f"files:reload_deduplicate={dedup}"] = [
                bool(fresh.a.weight is fresh.b.weight),
                float(abs(fresh(x) - net(x)).max().asscalar())]
        wide = Tied()
        wide.initialize(ctx=ctx)
        wide.cast("float64")
        path = os.path.join(tmp, "wide.params")
        wide.save_parameters(path)
        for source in ("current", "saved"):
            narrow = Tied()
            narrow.initialize(ctx=ctx)
            narrow.load_parameters(path, ctx=ctx, cast_dtype=True, dtype_source=source)
            out[f"files:dtype_source={source}"] = [np.dtype(narrow.a.weight.dtype).name,
                                                   np.dtype(narrow.c.bias.data().dtype).name]
    return out


def run(mx, ctx):
    """Every case above, as one JSON-ready dict."""
    out = {}
    for part in (run_optimizers, run_schedulers, run_multi_precision, run_files):
        out.update(part(mx, ctx))
    return out
