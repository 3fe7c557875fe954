"""Optimizers, schedulers, multi-precision updates and parameter-file keys against MXNet 1.9.1.

The cases live in ``tests/data/mxnet_optimizer_cases.py``; ``record_mxnet_optimizers.py`` ran the
same code under MXNet 1.9.1 to write ``mxnet_1_9_1_optimizers.json``. Here it runs with gpuparams on
every context.
"""
import json
import os
import sys

import numpy as np
import pytest

import gpuparams

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "data"))
import mxnet_optimizer_cases as cases  # noqa: E402

with open(os.path.join(HERE, "data", "mxnet_1_9_1_optimizers.json")) as f:
    REFERENCE = json.load(f)


def _keys(prefix):
    return sorted(k for k in REFERENCE if k.startswith(prefix))


def test_every_case_was_recorded():
    assert len(_keys("opt:")) == len(cases.OPTIMIZER_CASES)
    assert len(_keys("sched:")) == len(cases.SCHEDULER_CASES)
    assert len(_keys("trainer_sched:")) == len(cases.TRAINER_SCHEDULER_CASES)
    assert len(_keys("mp:")) == len(cases.MULTI_PRECISION_CASES)
    names = {k.split(":")[1].split("{")[0] for k in _keys("opt:")}
    assert names == {"sgd", "adam", "nag", "rmsprop", "adagrad", "adadelta", "adamw", "signum", "ftml"}


@pytest.fixture(scope="module")
def ours_by_ctx():
    return {}


def _ours(cache, part, ctx):
    key = (part.__name__, str(ctx))
    if key not in cache:
        cache[key] = part(gpuparams, ctx)
    return cache[key]


@pytest.mark.parametrize("key", _keys("opt:"))
def test_optimizer_matches_mxnet(ours_by_ctx, key, ctx):
    got = _ours(ours_by_ctx, cases.run_optimizers, ctx)[key]
    for g, w in zip(got, REFERENCE[key], strict=True):
        np.testing.assert_allclose(np.array(g), np.array(w), rtol=2e-5, atol=2e-6, err_msg=key)


@pytest.mark.parametrize("key", _keys("sched:"))
def test_scheduler_matches_mxnet(key):
    got = cases.run_schedulers(gpuparams, gpuparams.cpu(0))[key]
    np.testing.assert_allclose(got, REFERENCE[key], rtol=1e-12, atol=0, err_msg=key)


@pytest.mark.parametrize("key", _keys("trainer_sched:"))
def test_scheduler_through_trainer_matches_mxnet(ours_by_ctx, key, ctx):
    got = _ours(ours_by_ctx, cases.run_schedulers, ctx)[key]
    np.testing.assert_allclose(got["lrs"], REFERENCE[key]["lrs"], rtol=1e-12, err_msg=key)
    for g, w in zip(got["weights"], REFERENCE[key]["weights"], strict=True):
        np.testing.assert_allclose(np.array(g), np.array(w), rtol=2e-5, atol=2e-6, err_msg=key)


@pytest.mark.parametrize("key", _keys("mp:"))
def test_multi_precision_matches_mxnet(ours_by_ctx, key, ctx):
    got = np.array(_ours(ours_by_ctx, cases.run_multi_precision, ctx)[key])
    want = np.array(REFERENCE[key])
    # float16 results: equal up to one unit in the last place of float16 (float32 rounding inside).
    ulp = np.spacing(np.abs(want).astype(np.float16)).astype(np.float64)
    assert np.all(np.abs(got - want) <= ulp), (key, got, want)


def test_file_keys_match_mxnet(ctx):
    got = cases.run_files(gpuparams, ctx)
    for key in _keys("files:"):
        assert got[key] == REFERENCE[key], key
