"""``import gpuparams`` needs only NumPy and never touches CUDA (issue 2, item 2; DESIGN.md §3)."""
import json
import os
import subprocess
import sys
import textwrap

import gpuparams as gp

from conftest import REPO


def _run(code, extra_env=None):
    env = {k: v for k, v in os.environ.items() if k != "GPUPARAMS_EMULATE_GPU"}
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra_env or {})
    proc = subprocess.run([sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_and_cpu_arrays_do_not_import_cupy():
    out = _run("""
        import json, sys
        import gpuparams as gp
        after_import = "cupy" in sys.modules
        from gpuparams import nd, autograd
        x = nd.array([[1.0, 2.0], [3.0, 4.0]], ctx=gp.cpu())
        x.attach_grad()
        with autograd.record():
            y = (nd.dot(x, x.T).relu() + nd.random.uniform(shape=(2, 2))).sum()
        y.backward()
        z = x.as_in_context(gp.cpu(1)).asnumpy()
        _ = gp.gpu(0), gp.gpu(3), repr(gp.gpu(1)), gp.current_context()
        print(json.dumps({"after_import": after_import, "after_arrays": "cupy" in sys.modules,
                          "cuda_modules": sorted(m for m in sys.modules if m.split(".")[0] in
                                                 ("cupy", "cupy_backends", "pynvml", "cuda"))}))
    """)
    assert out == {"after_import": False, "after_arrays": False, "cuda_modules": []}


_ONLY_NUMPY = """
    import importlib.abc, sys
    ALLOWED = set(sys.stdlib_module_names) | {"numpy", "gpuparams"}

    class OnlyNumpy(importlib.abc.MetaPathFinder):
        # Behaves as if nothing but NumPy were installed next to the standard library.
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] not in ALLOWED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
            return None

    sys.meta_path.insert(0, OnlyNumpy())
"""


def test_gpuparams_works_with_only_numpy_installed():
    out = _run(_ONLY_NUMPY + """
    import json
    import gpuparams as gp
    from gpuparams import nd, autograd, backend
    x = nd.arange(6).reshape((2, 3))
    x.attach_grad()
    with autograd.record():
        y = (x * x).sum()
    y.backward()
    result = {"grad": x.grad.asnumpy().tolist(), "num_gpus": gp.num_gpus()}
    try:
        nd.zeros((1,), ctx=gp.gpu(0))
    except backend.GPUUnavailableError as exc:
        result["error"] = str(exc)
    print(json.dumps(result))
    """)
    assert out["grad"] == [[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]
    assert out["num_gpus"] == 0
    assert "CuPy" in out["error"] and "pip install" in out["error"]


def test_emulated_gpu_arrays_do_not_import_cupy():
    out = _run("""
        import json, sys
        import gpuparams as gp
        from gpuparams import nd
        x = nd.ones((2, 3), ctx=gp.gpu(0)) * 2 + 1
        print(json.dumps({"num_gpus": gp.num_gpus(), "sum": float(x.sum().asscalar()),
                          "cupy": "cupy" in sys.modules}))
    """, extra_env={"GPUPARAMS_EMULATE_GPU": "1"})
    assert out == {"num_gpus": 1, "sum": 18.0, "cupy": False}


def test_public_names():
    for name in ("Context", "cpu", "gpu", "current_context", "num_gpus", "random", "NDArray",
                 "autograd", "nd"):
        assert name in gp.__all__ and hasattr(gp, name)
    assert gp.nd.NDArray is gp.NDArray
    assert callable(gp.random.seed)
