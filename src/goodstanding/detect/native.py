"""The detectors' C module (`_native.c`), or None where it was not built (no C compiler at
install): every caller then runs its Python path, with the same verdicts."""

try:
    from goodstanding.detect import _native as native
except ImportError:
    native = None

__all__ = ["native"]
