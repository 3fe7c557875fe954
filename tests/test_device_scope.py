"""Operators and their backward run with the array's GPU current (CuPy launches on the current
device only). Checked on the emulated gpu(0) by recording which devices' scope() is entered."""
import contextlib

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

