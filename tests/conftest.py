"""Shared fixtures: the ``ctx`` fixture runs a test on every context this machine can offer.

- ``cpu(0)``: always.
- ``gpu(0)`` emulated: the CPU emulator of the CUDA model runs our kernels (DESIGN.md §5, layer 2).
- ``gpu(0)`` real: CuPy on an NVIDIA GPU, marked ``gpu`` and skipped where none is present.
"""
import os

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import backend

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _real_gpu_present():
    with backend.emulation(False):
        return backend.gpu_count() > 0


REAL_GPU = _real_gpu_present()
#: GPUPARAMS_REQUIRE_GPU=1 (benchmarks/gpu_check.sh sets it): a GPU is expected, so a GPU test that
#: cannot run fails with the reason instead of being skipped.
REQUIRE_GPU = os.environ.get("GPUPARAMS_REQUIRE_GPU", "").strip().lower() in ("1", "true", "yes", "on")


def gpu_test_action(present, required, reason):
    """What happens to a ``gpu`` test: None (it runs), ``('skip', why)`` or ``('fail', why)``."""
    if present:
        return None
    if required:
        return ("fail", f"GPUPARAMS_REQUIRE_GPU=1 but no GPU is usable: {reason}")
    return ("skip", f"needs a real NVIDIA GPU with CuPy ({reason})")


def _gpu_action():
    if REAL_GPU:
        return None
    return gpu_test_action(False, REQUIRE_GPU, backend.gpu_unavailable_reason() or "none found")


def pytest_configure(config):
    # Every recorded operator in the suite has its backward closure audited against its saved=
    # declaration (gpuparams.ops._registry), so an operator that forgets one fails loudly.
    from gpuparams.ops import _registry
    _registry.set_strict(True)
    config.addinivalue_line("markers", "emulated: runs on the emulated gpu(0)")


def pytest_collection_modifyitems(config, items):
    action = _gpu_action()
    if action is None or action[0] != "skip":
        return
    skip = pytest.mark.skip(reason=action[1])
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def pytest_runtest_setup(item):
    # Before any fixture: a test's own "no GPU here" skip must not hide a GPU that is expected.
    action = _gpu_action()
    if action is not None and action[0] == "fail" and "gpu" in item.keywords:
        pytest.fail(action[1], pytrace=False)


CONTEXT_PARAMS = [
    pytest.param("cpu", id="cpu0"),
    pytest.param("emulated", id="gpu0-emulated", marks=pytest.mark.emulated),
    pytest.param("gpu", id="gpu0", marks=pytest.mark.gpu),
]


@pytest.fixture(params=CONTEXT_PARAMS)
def ctx(request):
    """Each test using ``ctx`` runs on cpu(0), the emulated gpu(0) and (where present) a real gpu(0)."""
    kind = request.param
    if kind == "cpu":
        with backend.emulation(False):
            yield gp.cpu(0)
    elif kind == "emulated":
        with backend.emulation(True):
            yield gp.gpu(0)
    else:
        with backend.emulation(False):
            yield gp.gpu(0)


@pytest.fixture
def fresh_names():
    """Restart Gluon's per-class name counters, so a test sees ``dense0_``, ``sequential0_`` ..."""
    from gpuparams import nn
    with nn.NameManager():
        yield


def reference_rng(seed):
    """A NumPy generator of the same kind as gp.random's, to recompute what initializers draw."""
    return np.random.Generator(np.random.PCG64(seed))


@pytest.fixture
def rng():
    """A NumPy generator with a fixed seed, for test inputs (independent of gp.random)."""
    return np.random.default_rng(12345)


@pytest.fixture(params=["nd", "np"])
def front_end(request):
    """Runs a Gluon test under both front ends: as written (legacy ``nd``), and after
    ``npx.set_np()``, where parameters, initializers, blocks, losses and DataLoader batches work in
    ``gpuparams.np`` arrays (a block takes the test's nd inputs as np views without a copy).
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("front_end")``."""
    from gpuparams import npx
    if request.param == "np":
        npx.set_np()
        try:
            yield "np"
        finally:
            npx.reset_np()
    else:
        yield "nd"


@pytest.fixture(params=["imperative", "hybridized"])
def hybrid_mode(request, monkeypatch):
    """Run a test twice: as written, and with every HybridBlock hybridized at its first call.

    Modules opt in with ``pytestmark = pytest.mark.usefixtures("hybrid_mode")``, so that each nn test
    also checks the traced-and-replayed path (the second and later calls of a block replay its
    plan). A block whose children include a plain Block cannot be hybridized and stays imperative,
    as it would in MXNet; a test that calls ``hybridize()`` itself keeps its own settings.
    """
    if request.param == "hybridized":
        from gpuparams import nn
        original = nn.HybridBlock.forward

        def forward(self, x, *args):
            if not self._active and "_auto_hybridized" not in self.__dict__:
                self.__dict__["_auto_hybridized"] = True
                try:
                    self.hybridize()
                except ValueError:  # a plain Block child: it runs imperatively
                    pass
            return original(self, x, *args)

        monkeypatch.setattr(nn.HybridBlock, "forward", forward)
    yield request.param
