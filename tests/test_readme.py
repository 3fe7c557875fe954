"""The README stays true: every Python snippet in it runs, and its two set-up commands are the ones
that .ci/run executes."""
import contextlib
import io
import os
import re

import pytest

from gpuparams import backend

from conftest import REPO

README = os.path.join(REPO, "README.md")


def _blocks(lang):
    with open(README, encoding="utf-8") as f:
        text = f.read()
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_python_snippet_runs(index):
    code = _blocks("python")[index]
    out = io.StringIO()
    from gpuparams import npx
    try:
        with backend.emulation(False), contextlib.redirect_stdout(out):
            exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "readme"})
    finally:
        npx.reset_np()  # a snippet's npx.set_np() must not leak into the next test
    assert out.getvalue().strip(), "each README snippet prints what it shows"


def test_ci_runs_the_readme_test_command():
    commands = [block.strip() for block in _blocks("bash")]
    test_command = next(c for c in commands if c.endswith("python -m pytest"))
    with open(os.path.join(REPO, ".ci", "run"), encoding="utf-8") as f:
        ci_lines = [line.strip() for line in f]
    assert test_command in ci_lines


def test_main_job_command_runs_train():
    commands = [block.strip() for block in _blocks("bash")]
    assert any(c.endswith("python -m gpuparams train") and "pip install" in c for c in commands)


def test_every_test_module_the_sources_name_exists():
    # Docstrings and comments point readers at the tests that check something; a renamed test
    # module must not leave them pointing nowhere.
    pattern = re.compile(r"\btests/(?:data/)?\w+\.py\b")
    named = {}
    for top in ("README.md", "gpuparams", "tests", "benchmarks"):
        root = os.path.join(REPO, top)
        files = [root] if os.path.isfile(root) else [
            os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names
            if name.endswith((".py", ".md"))]
        for path in files:
            with open(path, encoding="utf-8") as f:
                for ref in pattern.findall(f.read()):
                    named.setdefault(ref, os.path.relpath(path, REPO))
    assert "tests/test_data_pipeline.py" in named  # the scan sees the references at all
    missing = {ref: where for ref, where in named.items() if not os.path.isfile(os.path.join(REPO, ref))}
    assert missing == {}
