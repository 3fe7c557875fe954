"""Losses and Trainer updates agree with values recorded from MXNet 1.9.1 running the same code."""
import json
import os
import sys

import numpy as np
import pytest

from gpuparams import autograd, backend, gluon, nd
from gpuparams.gluon import loss as gloss, nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "data"))
import mxnet_reference_cases  # noqa: E402

# Every test here runs under both front ends: nd, and np after npx.set_np() (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("front_end")

with open(os.path.join(HERE, "data", "mxnet_1_9_1_reference.json")) as f:
    REFERENCE = json.load(f)


@pytest.fixture(scope="module")
def ours():
    with backend.emulation(False):
        return mxnet_reference_cases.run(nd, autograd, gluon, nn, gloss)


@pytest.mark.parametrize("key", sorted(REFERENCE))
def test_matches_mxnet(ours, key):
    got, want = ours[key], REFERENCE[key]
    # Loss entries are one array; optimizer entries are [first layer's weight, second layer's bias].
    pairs = [(got, want)] if key.startswith("loss_") else list(zip(got, want))
    assert pairs
    for g, w in pairs:
        np.testing.assert_allclose(np.array(g), np.array(w), rtol=1e-5, atol=1e-5, err_msg=key)
