"""Contexts: identity, defaults, and the errors for a gpu(i) that cannot be reached (issue 2, item 2)."""
import pickle
import threading

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import backend, nd


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


def _no_cupy(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_import_error", ImportError("No module named 'cupy'"))
    monkeypatch.setattr(backend, "_device_count", 0)


class _FakeCupy:
    """Stands for an imported CuPy in the monkeypatched backend; never used to allocate."""

    class ndarray:  # noqa: N801 (mirrors cupy.ndarray)
        pass


def _cupy_with_devices(monkeypatch, count):
    monkeypatch.setattr(backend, "_cupy", _FakeCupy)
    monkeypatch.setattr(backend, "_cupy_import_error", None)
    monkeypatch.setattr(backend, "_device_count", count)


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


def test_emulation_follows_the_environment_variable(monkeypatch):
    monkeypatch.setattr(backend, "_emulation_override", None)
    monkeypatch.setenv("GPUPARAMS_EMULATE_GPU", "1")
    assert backend.emulation_enabled()
    monkeypatch.setenv("GPUPARAMS_EMULATE_GPU", "0")
    assert not backend.emulation_enabled()
    monkeypatch.delenv("GPUPARAMS_EMULATE_GPU")
    assert not backend.emulation_enabled()
