"""Operators and their backward run with the array's GPU current (CuPy launches on the current
device only). Checked on the emulated gpu(0) by recording which devices' scope() is entered."""
import contextlib

import numpy as np

import gpuparams as gp
from gpuparams import autograd, backend, nd
from gpuparams.backend import devices


def test_ops_and_backward_enter_the_device_scope(monkeypatch):
    entered = []

    @contextlib.contextmanager
    def recording_scope(device):
        entered.append(device.ctx)
        yield

    with backend.emulation(True):
        x = nd.array([[1.0, -2.0], [3.0, 4.0]], ctx=gp.gpu(0))
        x.attach_grad()
        # Every way into a device scope (backend.device_scope, device_of(x).scope()) ends here.
        monkeypatch.setattr(devices.EmulatedDevice, "scope", recording_scope)
        with autograd.record():
            y = (nd.exp(x) * 2).sum()
        forward_entries = len(entered)
        y.backward()
    assert forward_entries >= 3 and set(entered) == {gp.gpu(0)}
    assert len(entered) > forward_entries  # the backward closures ran in the scope too



def _scope_tracker(monkeypatch, module):
    """Patch backend.device_scope so that the returned list is the stack of entered contexts."""
    current = []

    @contextlib.contextmanager
    def tracking_scope(ctx):
        current.append(ctx)
        try:
            yield
        finally:
            current.pop()

    monkeypatch.setattr(backend, "device_scope", tracking_scope)
    return current


def test_trainer_sums_gradients_under_each_device_scope(monkeypatch):
    # Issue 12: multi-context parameters: the sum is allocated and accumulated under the first
    # context's device (outside a scope CuPy would use the current device, gpu(0), for gpu(1) data),
    # and written into every copy under that copy's device.
    from gpuparams import gluon
    from gpuparams import trainer as trainer_mod
    from gpuparams.gluon import nn
    with backend.emulation(False):
        net = nn.Dense(2, in_units=3)
        net.initialize(ctx=[gp.cpu(0), gp.cpu(1)])
        tr = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
        with autograd.record():
            losses = [net(nd.ones((1, 3), ctx=c) * (i + 1)).sum()
                      for i, c in enumerate((gp.cpu(0), gp.cpu(1)))]
        for loss in losses:
            loss.backward()
        current = _scope_tracker(monkeypatch, trainer_mod)
        gathered = []
        real_to_context = trainer_mod.copy_to_context

        def recording_to_context(data, src, dst):
            if dst == gp.cpu(0):  # gathering a gradient into the sum on the first context
                gathered.append(tuple(current))
            return real_to_context(data, src, dst)

        monkeypatch.setattr(trainer_mod, "copy_to_context", recording_to_context)
        tr.step(1)
    assert gathered and all(scope == (gp.cpu(0),) for scope in gathered), gathered
    assert not current
    w0, w1 = (net.weight.data(c).asnumpy() for c in (gp.cpu(0), gp.cpu(1)))
    np.testing.assert_array_equal(w0, w1)
    # Both copies got the summed gradient (1 + 2 per input column) and the same update.
    np.testing.assert_allclose(net.weight.grad(gp.cpu(0)).asnumpy(), np.full((2, 3), 3.0))
