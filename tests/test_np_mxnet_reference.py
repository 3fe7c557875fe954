"""``gpuparams.np`` / ``npx`` against values, shapes, dtypes and error types recorded from MXNet
1.9.1's ``mxnet.np`` running the same cases (tests/data/mxnet_np_cases.py,
tests/data/mxnet_1_9_1_np_reference.json)."""
import json
import os
import sys

import numpy
import pytest

from gpuparams import autograd, np, npx

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "data"))
import mxnet_np_cases  # noqa: E402

with open(os.path.join(HERE, "data", "mxnet_1_9_1_np_reference.json")) as f:
    REFERENCE = json.load(f)["cases"]

# Where we follow NumPy's rules (with float32 as the default float) and MXNet 1.9.1 does not; each is
# listed in the README under "Where we differ from MXNet".
DIFFERENT = {
    # MXNet casts the Python float to the array's integer dtype (giving [2, 3, 4]); NumPy gives floats.
    "int32_plus_float": {"shape": [3], "dtype": "float32", "value": [2.5, 3.5, 4.5]},
    # MXNet's exp of an int32 array is int32 (truncated); NumPy's is a float.
    "exp_int": {"shape": [2], "dtype": "float32", "value": [1.0, 2.718281828459045]},
    # MXNet refuses to mix uint8 and int8; NumPy promotes to int16, which we widen to int32 (no int16).
    "uint8_plus_int8": {"shape": [2], "dtype": "int32", "value": [2.0, 2.0]},
}


def _compare(ours, ref, where):
    if "list" in ref:
        assert "list" in ours and len(ours["list"]) == len(ref["list"]), where
        for i, (o, r) in enumerate(zip(ours["list"], ref["list"])):
            _compare(o, r, f"{where}[{i}]")
        return
    if "text" in ref:
        assert ours == ref, where
        return
    if "scalar" in ref:
        assert ours.get("type") == ref["type"], where
        assert ours["scalar"] == pytest.approx(ref["scalar"], rel=1e-6), where
        return
    assert "error" not in ours, f"{where}: raised {ours['error']}"
    assert ours["shape"] == ref["shape"], where
    assert ours["dtype"] == ref["dtype"], where
    numpy.testing.assert_allclose(numpy.asarray(ours["value"], dtype=float),
                                  numpy.asarray(ref["value"], dtype=float), rtol=1e-5, atol=1e-6,
                                  err_msg=where)


@pytest.fixture(autouse=True)
def np_mode():
    npx.set_np()
    yield
    npx.reset_np()


@pytest.mark.parametrize("name", sorted(mxnet_np_cases.CASES))
def test_case_matches_mxnet(name):
    ours = mxnet_np_cases.run_case(name, np, npx, autograd)
    ref = REFERENCE[name]
    if name in DIFFERENT:
        assert "error" in ref or ref != DIFFERENT[name], f"{name}: MXNet now agrees; drop it from DIFFERENT"
        ref = DIFFERENT[name]
    if "error" in ref:
        assert "error" in ours, f"{name}: MXNet raised {ref['error']}, we returned {ours}"
        if ref["error"] == "MXNetError":
            # MXNet's one error class (a RuntimeError) for bad shapes and axes; ours are specific
            # errors that are ValueErrors (ShapeError, AxisError) or IndexErrors.
            assert set(ours["bases"]) & {"ValueError", "IndexError"}, (name, ours)
        else:
            assert set(ref["bases"]) <= set(ours["bases"]), (name, ours, ref)
        return
    _compare(ours, ref, name)
