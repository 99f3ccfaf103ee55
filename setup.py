"""The one compiled piece: the always-on detectors' hot loops (src/goodstanding/detect/_native.c).

Everything else is in pyproject.toml. The extension is optional: without a C compiler the
install still succeeds and heads.py runs its numpy path, which gives the same scores to the
bit, only slower (docs/detectors.md, "CPU").
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "goodstanding.detect._native",
    ["src/goodstanding/detect/_native.c"],
    # no fused multiply-add: the C sums must round as numpy's float32 operations do
    extra_compile_args=["-O2", "-ffp-contract=off", "-std=c11"],
    optional=True,
)])
