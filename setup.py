"""Build hook: ship the CUDA sources of ``kernels/`` inside the wheel as ``gpuparams/_kernels/``.

``kernels/`` stays at the top of the repository (DESIGN.md §3: the single source of truth for GPU
maths); the kernel loader reads it from a checkout and ``gpuparams/_kernels`` from an installed wheel.
Everything else about the package is declared in pyproject.toml.
"""
import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPyWithKernels(build_py):
    """``build_py`` that also copies ``kernels/*.cu`` into the built package."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "gpuparams", "_kernels")
        os.makedirs(target, exist_ok=True)
        for source in sorted(glob.glob(os.path.join(HERE, "kernels", "*.cu"))):
            shutil.copy2(source, target)


setup(cmdclass={"build_py": BuildPyWithKernels})
