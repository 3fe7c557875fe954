"""Contexts: identity, defaults, and the errors for a gpu(i) that cannot be reached (issue 2, item 2)."""
import pickle
import threading

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import backend, nd
from gpuparams.backend import devices

# Every test here runs under both front ends: nd, and np after npx.set_np() (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("front_end")


# ------------------------------------------------------------------------------------------ identity
def test_cpu_and_gpu_reprs_and_fields():
    assert repr(gp.cpu()) == "cpu(0)"
    assert repr(gp.cpu(3)) == "cpu(3)"
    assert str(gp.gpu(1)) == "gpu(1)"
    assert gp.gpu(2).device_type == "gpu" and gp.gpu(2).device_id == 2
    assert gp.cpu().device_typeid == 1 and gp.gpu().device_typeid == 2


def test_contexts_are_interned_hashable_and_compare_by_device():
    assert gp.cpu(0) is gp.cpu() is gp.Context("cpu", 0) is gp.Context("cpu")
    assert gp.gpu(0) == gp.Context("gpu", 0)
    assert gp.cpu(0) != gp.cpu(1)
    assert gp.cpu(0) != gp.gpu(0)
    table = {gp.cpu(0): "a", gp.gpu(0): "b", gp.cpu(1): "c"}
    assert table[gp.Context("gpu", 0)] == "b"
    assert len({gp.cpu(0), gp.cpu(), gp.Context("cpu", 0)}) == 1
    assert gp.Context(gp.gpu(1)) is gp.gpu(1)


def test_context_is_immutable_and_pickles_to_the_same_object():
    with pytest.raises(AttributeError):
        gp.cpu(0).device_id = 1
    assert pickle.loads(pickle.dumps(gp.gpu(3))) is gp.gpu(3)


@pytest.mark.parametrize("args", [("tpu", 0), ("cpu", -1), ("gpu", 1.0), ("cpu", True), ("cpu", "0")])
def test_invalid_context_arguments_are_refused(args):
    with pytest.raises(ValueError, match="device"):
        gp.Context(*args)


# ------------------------------------------------------------------------------------------ defaults
def test_with_context_sets_and_restores_the_default():
    assert gp.current_context() is gp.cpu(0)
    with gp.cpu(1) as c:
        assert c is gp.cpu(1)
        assert gp.current_context() is gp.cpu(1)
        assert nd.zeros((2,)).context is gp.cpu(1)
        assert nd.array([1, 2]).context is gp.cpu(1)
        with gp.cpu(2):
            assert gp.current_context() is gp.cpu(2)
            assert nd.ones((1,)).context is gp.cpu(2)
        assert gp.current_context() is gp.cpu(1)
    assert gp.current_context() is gp.cpu(0)
    assert nd.zeros((2,)).context is gp.cpu(0)


def test_default_context_is_restored_after_an_exception():
    with pytest.raises(KeyError):
        with gp.cpu(5):
            raise KeyError("boom")
    assert gp.current_context() is gp.cpu(0)


def test_default_context_is_per_thread():
    seen = {}
    entered, release = threading.Event(), threading.Event()

    def worker():
        with gp.cpu(7):
            entered.set()
            release.wait(5)
            seen["worker"] = gp.current_context()

    t = threading.Thread(target=worker)
    t.start()
    entered.wait(5)
    seen["main"] = gp.current_context()
    release.set()
    t.join(5)
    assert seen == {"main": gp.cpu(0), "worker": gp.cpu(7)}


def test_gpu_is_usable_as_default_when_emulated():
    with backend.emulation(True):
        with gp.gpu(0):
            x = nd.ones((2, 2))
        assert x.context is gp.gpu(0)
        np.testing.assert_array_equal(x.asnumpy(), np.ones((2, 2), np.float32))


# ------------------------------------------------------------------------------------------ num_gpus
def test_num_gpus_is_one_when_emulating():
    with backend.emulation(True):
        assert gp.num_gpus() == 1


def _fresh_device_caches(monkeypatch):
    # Resolved devices are cached: a monkeypatched CuPy state must start from empty caches.
    monkeypatch.setattr(devices, "_devices", {})
    monkeypatch.setattr(devices, "_cuda_devices", {})


def _no_cupy(monkeypatch):
    _fresh_device_caches(monkeypatch)
    monkeypatch.setattr(devices, "_cupy", None)
    monkeypatch.setattr(devices, "_cupy_import_error", ImportError("No module named 'cupy'"))
    monkeypatch.setattr(devices, "_device_count", 0)


class _FakeCupy:
    """Stands for an imported CuPy in the monkeypatched backend; never used to allocate."""

    class ndarray:  # lower-case: mirrors cupy.ndarray
        pass


def _cupy_with_devices(monkeypatch, count):
    _fresh_device_caches(monkeypatch)
    monkeypatch.setattr(devices, "_cupy", _FakeCupy)
    monkeypatch.setattr(devices, "_cupy_import_error", None)
    monkeypatch.setattr(devices, "_device_count", count)


def test_num_gpus_is_zero_without_cupy_and_not_an_error(monkeypatch):
    _no_cupy(monkeypatch)
    with backend.emulation(False):
        assert gp.num_gpus() == 0


def test_num_gpus_is_zero_without_a_device(monkeypatch):
    _cupy_with_devices(monkeypatch, 0)
    with backend.emulation(False):
        assert gp.num_gpus() == 0


def test_num_gpus_reports_the_device_count(monkeypatch):
    _cupy_with_devices(monkeypatch, 3)
    with backend.emulation(False):
        assert gp.num_gpus() == 3


# ------------------------------------------------------------------------------------------ gpu errors
_ALLOCATIONS = [
    pytest.param(lambda c: nd.zeros((2, 3), ctx=c), id="zeros"),
    pytest.param(lambda c: nd.array([1.0, 2.0], ctx=c), id="array"),
    pytest.param(lambda c: nd.random.uniform(shape=(2,), ctx=c), id="random"),
    pytest.param(lambda c: nd.ones((2,), ctx=gp.cpu()).as_in_context(c), id="as_in_context"),
]


@pytest.mark.parametrize("allocate", _ALLOCATIONS)
def test_allocating_on_gpu_without_cupy_says_to_install_it(monkeypatch, allocate):
    _no_cupy(monkeypatch)
    with backend.emulation(False):
        ctx = gp.gpu(0)  # creating the context always works
        with pytest.raises(backend.GPUUnavailableError) as info:
            allocate(ctx)
    message = str(info.value)
    assert "gpu(0)" in message and "CuPy" in message
    assert "pip install" in message and "GPUPARAMS_EMULATE_GPU=1" in message


@pytest.mark.parametrize("allocate", _ALLOCATIONS)
def test_allocating_on_gpu_without_a_device_says_so(monkeypatch, allocate):
    _cupy_with_devices(monkeypatch, 0)
    with backend.emulation(False):
        with pytest.raises(backend.GPUUnavailableError) as info:
            allocate(gp.gpu(0))
    message = str(info.value)
    assert "gpu(0)" in message and "no CUDA device" in message
    assert "gp.cpu(0)" in message and "GPUPARAMS_EMULATE_GPU=1" in message


@pytest.mark.parametrize("allocate", _ALLOCATIONS)
def test_allocating_past_the_device_count_names_the_valid_range(monkeypatch, allocate):
    _cupy_with_devices(monkeypatch, 2)
    with backend.emulation(False):
        with pytest.raises(backend.GPUUnavailableError) as info:
            allocate(gp.gpu(2))
    message = str(info.value)
    assert "gpu(2)" in message and "only 2 GPU(s)" in message
    assert "gpu(0) .. gpu(1)" in message and "below 2" in message


def test_gpu_unavailable_error_is_a_runtime_error():
    assert issubclass(backend.GPUUnavailableError, RuntimeError)


def test_emulator_provides_gpu0_only():
    with backend.emulation(True):
        with pytest.raises(backend.GPUUnavailableError, match=r"gpu\(1\).*gpu\(0\) only"):
            nd.zeros((1,), ctx=gp.gpu(1))


def test_emulation_context_manager_restores_the_previous_setting():
    with backend.emulation(True):
        assert backend.emulation_enabled()
        with backend.emulation(False):
            assert not backend.emulation_enabled()
            assert not backend.is_emulated(gp.gpu(0))
        assert backend.is_emulated(gp.gpu(0))
        assert not backend.is_emulated(gp.cpu(0))


def _fresh_process(monkeypatch):
    """What a new process sees: no override, the environment not read yet."""
    monkeypatch.setattr(devices, "_emulation_override", None)
    monkeypatch.setattr(devices, "_env_emulation", devices._UNREAD)
    monkeypatch.setattr(devices, "_devices", {})


def test_emulation_follows_the_environment_variable(monkeypatch):
    _fresh_process(monkeypatch)
    monkeypatch.setenv("GPUPARAMS_EMULATE_GPU", "1")
    assert backend.emulation_enabled()
    _fresh_process(monkeypatch)
    monkeypatch.setenv("GPUPARAMS_EMULATE_GPU", "0")
    assert not backend.emulation_enabled()
    _fresh_process(monkeypatch)
    monkeypatch.delenv("GPUPARAMS_EMULATE_GPU")
    assert not backend.emulation_enabled()


# ------------------------------------------------------------------------------------------ devices
def test_each_context_resolves_to_one_cached_device():
    with backend.emulation(False):
        cpu0, cpu1 = backend.device(gp.cpu(0)), backend.device(gp.cpu(1))
        assert backend.device(gp.cpu(0)) is cpu0 and cpu0 is not cpu1
        assert isinstance(cpu0, devices.CpuDevice) and cpu0.xp is np
        assert (cpu0.custom_kernels, cpu0.emulated, cpu0.sm_count) == (False, False, None)
        assert (cpu0.label, cpu1.label, cpu0.ctx) == ("cpu(0)", "cpu(1)", gp.cpu(0))
        assert cpu0.scope() is cpu1.scope()  # one shared no-op scope, nothing allocated per call
        with cpu0.scope():
            pass
    with backend.emulation(True):
        emu = backend.device(gp.gpu(0))
        assert backend.device(gp.gpu(0)) is emu and isinstance(emu, devices.EmulatedDevice)
        assert emu.xp is np and emu.custom_kernels and emu.emulated
        assert (emu.label, emu.sm_count) == ("emulated gpu(0)", devices.EMULATED_SM_COUNT)
        assert emu.scope() is cpu0.scope()
        # The module functions are views of the same device.
        assert backend.array_module(gp.gpu(0)) is np and backend.device_scope(gp.gpu(0)) is emu.scope()


def test_flipping_emulation_drops_the_cached_gpu_device(monkeypatch):
    _cupy_with_devices(monkeypatch, 2)
    with backend.emulation(True):
        assert backend.device(gp.gpu(0)).emulated
        cpu0 = backend.device(gp.cpu(0))
        with backend.emulation(False):
            real = backend.device(gp.gpu(1))
            assert isinstance(real, devices.CupyDevice) and real.xp is _FakeCupy
            assert (real.label, real.emulated, real.custom_kernels) == ("gpu(1)", False, True)
            assert not backend.device(gp.gpu(0)).emulated
        assert backend.device(gp.gpu(0)).emulated  # restored, and resolved again
        assert backend.device(gp.cpu(0)) is cpu0  # cpu devices do not depend on the switch
    with backend.emulation(False):
        assert backend.device(gp.gpu(1)) is real  # one CupyDevice per index, kept


def test_environment_is_read_once(monkeypatch):
    _fresh_process(monkeypatch)
    reads = []
    real_read = devices._read_environment

    def counting_read():
        reads.append(1)
        return real_read()

    monkeypatch.setattr(devices, "_read_environment", counting_read)
    monkeypatch.setenv("GPUPARAMS_EMULATE_GPU", "1")
    assert backend.emulation_enabled() and backend.is_emulated(gp.gpu(0)) and gp.num_gpus() == 1
    monkeypatch.setenv("GPUPARAMS_EMULATE_GPU", "0")  # too late: read at the first use only
    assert backend.emulation_enabled() and backend.device(gp.gpu(0)).emulated
    with backend.emulation(False):  # the explicit override still wins
        assert not backend.emulation_enabled()
    assert backend.emulation_enabled()
    assert len(reads) == 1


_STEP_SCRIPT = """
    import json, os

    class CountingEnviron(dict):
        # os.environ replaced before gpuparams is imported: every read of a variable is counted.
        reads = []

        def get(self, key, default=None):
            self.reads.append(key)
            return super().get(key, default)

        def __getitem__(self, key):
            self.reads.append(key)
            return super().__getitem__(key)

        def __contains__(self, key):
            self.reads.append(key)
            return super().__contains__(key)

    os.environ = CountingEnviron(os.environ)
    import gpuparams as gp
    from gpuparams import autograd, backend, gluon, nd
    from gpuparams.gluon import loss as gloss, nn

    ctx = gp.gpu(0)
    net = nn.Sequential()
    net.add(nn.Dense(8, activation="relu"), nn.Dense(3))
    net.initialize(ctx=ctx)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    loss = gloss.SoftmaxCrossEntropyLoss()
    x = nd.random.uniform(shape=(4, 5), ctx=ctx)
    y = nd.array([0, 1, 2, 1], ctx=ctx)

    def step():
        with autograd.record():
            l = loss(net(x), y)
        l.backward()
        trainer.step(4)

    step()  # compiles the kernels (the kernel directory is looked up per compile)
    first = [k for k in os.environ.reads if k.startswith("GPUPARAMS_")]
    del os.environ.reads[:]
    for _ in range(3):
        step()
    later = [k for k in os.environ.reads if k.startswith("GPUPARAMS_")]
    print(json.dumps({"first": first.count("GPUPARAMS_EMULATE_GPU"), "later": later,
                      "emulated": backend.is_emulated(ctx)}))
"""


def test_a_training_step_reads_no_environment_variable():
    # Issue 10: GPUPARAMS_EMULATE_GPU was read ~108 times per training step. Now once per process,
    # and no GPUPARAMS_* variable at all in steps after the first.
    from test_import import _run
    out = _run(_STEP_SCRIPT, extra_env={"GPUPARAMS_EMULATE_GPU": "1"})
    assert out == {"first": 1, "later": [], "emulated": True}


def _emulated_model():
    """A Dense(relu) layer, its input and an SGD trainer, all made on the emulated gpu(0)."""
    from gpuparams import gluon
    from gpuparams.gluon import nn
    with backend.emulation(True):
        layer = nn.Dense(3, activation="relu", in_units=4)
        layer.initialize(ctx=gp.gpu(0))
        x = nd.array(np.arange(8.0).reshape(2, 4) / 8 - 0.25, ctx=gp.gpu(0))
        head = nd.ones((2, 3), ctx=gp.gpu(0))
        trainer = gluon.Trainer(layer.collect_params(), "sgd", {"learning_rate": 0.5})
    return layer, x, head, trainer


def test_arrays_made_while_emulating_keep_their_device_after_the_flag_flips():
    layer, x, head, trainer = _emulated_model()
    with backend.emulation(False):  # no real GPU here: gpu(0) itself is now unusable
        dev = backend.device_of(x)
        assert dev.emulated and dev.xp is np and dev is backend.device_for(gp.gpu(0), x._data)
        with dev.scope():
            pass
        assert backend.device_for(gp.cpu(0), np.zeros(1)) is backend.device(gp.cpu(0))
        # The launchers follow the data too, given only the context.
        from gpuparams.backend import kernels
        relu = kernels.relu_forward(gp.gpu(0), x._data)
        np.testing.assert_array_equal(relu, np.maximum(x.asnumpy(), 0))


def test_a_model_made_while_emulating_trains_after_the_flag_flips():
    from gpuparams import autograd
    layer, x, head, trainer = _emulated_model()
    w0 = layer.weight.data().asnumpy().astype(np.float64)
    b0 = layer.bias.data().asnumpy().astype(np.float64)
    x64 = x.asnumpy().astype(np.float64)
    with backend.emulation(False):
        with autograd.record():
            y = layer(x)
        y.backward(head)  # a head gradient made with the model
        trainer.step(2)
        shifted = (x + 1).as_in_context(gp.cpu(0)).asnumpy()
        with autograd.record():
            total = layer(x).sum()
        total.backward()  # no head gradient: ones allocated on the array's own (emulated) device
        assert layer.weight.grad().asnumpy().shape == w0.shape
    z = x64 @ w0.T + b0
    dz = (z > 0).astype(np.float64)
    np.testing.assert_allclose(y.asnumpy(), np.maximum(z, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.weight.data().asnumpy(), w0 - 0.5 * (dz.T @ x64) / 2,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.bias.data().asnumpy(), b0 - 0.5 * dz.sum(0) / 2,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(shifted, x64 + 1, rtol=1e-6)
