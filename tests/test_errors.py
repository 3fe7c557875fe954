"""The error hierarchy: every error class of the package is a GpuparamsError and keeps its built-in base."""
import importlib
import inspect
import pickle
import pkgutil

import pytest

import gpuparams
from gpuparams import errors


def _package_modules():
    for info in pkgutil.walk_packages(gpuparams.__path__, "gpuparams."):
        if info.name.startswith("gpuparams.__main__"):
            continue
        yield importlib.import_module(info.name)


def test_every_exception_class_in_the_package_is_a_gpuparams_error():
    found = {}
    for module in _package_modules():
        for value in vars(module).values():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__.startswith("gpuparams")):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    assert len(found) >= 15
    outside = sorted(name for name, cls in found.items() if not issubclass(cls, errors.GpuparamsError))
    assert outside == []
    # They are all defined in one module.
    assert {cls.__module__ for cls in found.values()} == {"gpuparams.errors"}


@pytest.mark.parametrize("cls, builtin", [
    (errors.ShapeError, ValueError), (errors.ContextMismatchError, ValueError),
    (errors.AutogradError, RuntimeError), (errors.GPUUnavailableError, RuntimeError),
    (errors.KernelCompileError, RuntimeError), (errors.DeferredInitializationError, RuntimeError),
    (errors.StaleGradientError, RuntimeError), (errors.StaleGradientError, UserWarning),
    (errors.ArrayFileError, ValueError), (errors.NVMLUnavailableError, RuntimeError),
    (errors.BudgetError, ValueError), (errors.ArgumentError, TypeError),
    (errors.EmulatorError, RuntimeError), (errors.DistributedError, RuntimeError),
    (errors.CollectiveTimeoutError, TimeoutError), (errors.ParameterMismatchError, ValueError),
    (errors.RankFailedError, RuntimeError), (errors.BackendUnavailableError, RuntimeError),
    (errors.ParameterLoadError, ValueError), (errors.UnsupportedModuleError, ImportError),
    (errors.DatasetDownloadError, OSError),
])
def test_classes_keep_their_builtin_base(cls, builtin):
    assert issubclass(cls, builtin) and issubclass(cls, errors.GpuparamsError)


def test_old_import_locations_are_the_same_classes():
    from gpuparams import autograd, backend, emulator, ops, parameter, serialization, trainer
    from gpuparams.backend import kernels
    from gpuparams.gate import nvrtc
    assert ops.ShapeError is errors.ShapeError and ops.ContextMismatchError is errors.ContextMismatchError
    assert parameter.DeferredInitializationError is errors.DeferredInitializationError
    assert trainer.StaleGradientError is errors.StaleGradientError
    assert serialization.ArrayFileError is errors.ArrayFileError
    assert autograd.AutogradError is errors.AutogradError
    assert backend.GPUUnavailableError is errors.GPUUnavailableError
    assert kernels.KernelCompileError is errors.KernelCompileError
    # One compile error: the gate's is the same class, the emulator's a subclass of it.
    assert nvrtc.CompileError is errors.KernelCompileError
    assert issubclass(emulator.CompileError, errors.KernelCompileError)
    assert issubclass(emulator.CompileError, emulator.EmulatorError)
    from gpuparams import distributed
    assert distributed.CollectiveTimeoutError is errors.CollectiveTimeoutError
    assert distributed.errors.ParameterMismatchError is errors.ParameterMismatchError


def test_kernel_compile_error_message_and_pickling():
    err = errors.KernelCompileError("dense.cu", "error: x", device="gpu(1)", compiler="NVRTC",
                                    source="kernels/dense.cu")
    assert str(err) == "NVRTC: compiling kernels/dense.cu for gpu(1) failed:\nerror: x"
    back = pickle.loads(pickle.dumps(err))
    assert (back.filename, back.log, back.device, back.compiler, str(back)) == (
        "dense.cu", "error: x", "gpu(1)", "NVRTC", str(err))
    emu = pickle.loads(pickle.dumps(errors.EmulatorCompileError("k.cu", "log")))
    assert type(emu) is errors.EmulatorCompileError and "emulator: compiling k.cu failed" in str(emu)


def test_parameter_load_error_lists_the_problems_as_attributes(tmp_path):
    from gpuparams.gluon import nn
    small, big = nn.Sequential(), nn.Sequential()
    small.add(nn.Dense(3, in_units=2))
    big.add(nn.Dense(5, in_units=2), nn.Dense(1, in_units=5))
    for net in (small, big):
        net.initialize()
    small.save_parameters(tmp_path / "small.npz")
    with pytest.raises(errors.ParameterLoadError) as info:
        big.load_parameters(tmp_path / "small.npz")
    err = info.value
    assert isinstance(err, ValueError) and err.path == str(tmp_path / "small.npz")
    assert err.wrong_shape == [("0.weight", (5, 2), (3, 2)), ("0.bias", (5,), (3,))]
    assert err.missing == [("1.weight", (1, 5)), ("1.bias", (1,))]
    assert err.extra == [] and err.wrong_dtype == [] and len(err.problems) == 2
    assert "allow_missing=True" in str(err)   # the library's message names the Python option
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.wrong_shape, back.missing) == (str(err), err.wrong_shape, err.missing)
    # With allow_missing, the missing ones are no problem (and not listed).
    with pytest.raises(errors.ParameterLoadError) as info:
        big.load_parameters(tmp_path / "small.npz", allow_missing=True)
    assert info.value.missing == [] and len(info.value.problems) == 1
