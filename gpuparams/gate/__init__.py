"""Tooling that checks the CUDA kernels in CI, outside the runtime (DESIGN.md §5, layer 1).

:mod:`gpuparams.gate.nvrtc` compile-checks every ``kernels/*.cu`` with NVRTC (no GPU or driver
needed) against the register and shared-memory budgets stated in the sources;
:mod:`gpuparams.gate.sass` disassembles the result and checks the FFMA-share floors (the static
performance gate). Nothing at runtime imports this package: operators compile their kernels
through :mod:`gpuparams.backend.loader`.
"""
