"""Issue 12: a machine that has CuPy and a GPU must never silently skip its GPU tests.

Two ways it used to: an import-time warning from CuPy or a newer NumPy, which ``filterwarnings =
error`` turns into an exception that the backend probe swallowed (every GPU test then *skipped*);
and a GPU that is expected (``GPUPARAMS_REQUIRE_GPU=1``, set by benchmarks/gpu_check.sh) but absent
or broken, which must *fail* with the reason.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gpuparams import backend
from gpuparams.backend import devices

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_cupy_that_warns(tmp_path, monkeypatch):
    pkg = tmp_path / "cupy"
    (pkg / "cuda").mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent("""\
        import warnings
        warnings.warn("numpy.core is deprecated", DeprecationWarning)
        from . import cuda
    """))
    (pkg / "cuda" / "__init__.py").write_text(textwrap.dedent("""\
        class runtime:
            @staticmethod
            def getDeviceCount():
                return 1
    """))
    for name in [m for m in sys.modules if m == "cupy" or m.startswith("cupy.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(devices, "_cupy", None)
    monkeypatch.setattr(devices, "_cupy_import_error", None)
    monkeypatch.setattr(devices, "_device_count", None)
    monkeypatch.setattr(devices, "cupy_import_warnings", [])
    yield
    for name in [m for m in sys.modules if m == "cupy" or m.startswith("cupy.")]:
        sys.modules.pop(name, None)


def test_an_import_warning_does_not_hide_the_gpu(fake_cupy_that_warns):
    # filterwarnings = error is in force here (pyproject.toml), as in every test.
    cupy = devices._import_cupy()
    assert cupy is not None and devices._cupy_import_error is None
    assert devices.cupy_import_warnings == ["DeprecationWarning: numpy.core is deprecated"]
    assert backend.gpu_unavailable_reason() is None
    with backend.emulation(False):
        assert backend.gpu_count() == 1


def test_reason_names_the_failed_import(monkeypatch):
    monkeypatch.setattr(devices, "_cupy", None)
    monkeypatch.setattr(devices, "_cupy_import_error", ImportError("libcudart.so.13: cannot open"))
    assert "libcudart.so.13" in backend.gpu_unavailable_reason()


def test_gpu_tests_skip_or_fail():
    import conftest
    assert conftest.gpu_test_action(True, True, "") is None
    assert conftest.gpu_test_action(False, False, "no driver") == (
        "skip", "needs a real NVIDIA GPU with CuPy (no driver)")
    assert conftest.gpu_test_action(False, True, "no driver") == (
        "fail", "GPUPARAMS_REQUIRE_GPU=1 but no GPU is usable: no driver")


@pytest.mark.skipif(backend.gpu_unavailable_reason() is None, reason="this machine has a GPU")
def test_required_gpu_that_is_missing_fails_the_run():
    env = dict(os.environ, GPUPARAMS_REQUIRE_GPU="1")
    env.pop("GPUPARAMS_EMULATE_GPU", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu",
         "tests/test_kernels.py::test_dense_gpu"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "GPUPARAMS_REQUIRE_GPU=1 but no GPU is usable" in out and "skipped" not in out.split("\n")[-2]
