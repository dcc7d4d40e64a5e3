"""Benchmark predictors by how well they compress.

Plugin authors need one import: `from harness import Predictor, Option, hookimpl, HarnessError`
(`SequenceCoder` for a model that codes whole sequences itself; `check_predictor`, the
conformance kit). What a model that codes in its own order or its own compiled loop needs is
here too: `Progress`, `no_progress`, `CodeOne`, `encode_in_any_order`, `decode_in_any_order`
(and `Split`, `Decide` for a symbol coded as several decisions),
`SYMBOL_BYTES`, the capabilities `Lockstep`, `Bitwise` and `TokenBytes`, `jit` (numba, cached), and in
`harness.coder` the coder's steps (`encode_step`, `decode_step`), `aligned_zeros` and `filled`. They are
loaded on first use, so that importing `harness` stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"  # 0.2: .hz format 3 (compact header, a CRC per segment): sizes differ from 0.1

_EXPORTS = {
    "Predictor": "harness.predictor",
    "SequenceCoder": "harness.predictor",
    "Option": "harness.predictor",
    "hookimpl": "harness.hookspecs",
    "HarnessError": "harness.errors",
    "check_predictor": "harness.conformance",
    "Progress": "harness.predictor",
    "no_progress": "harness.predictor",
    "CodeOne": "harness.predictor",
    "encode_in_any_order": "harness.predictor",
    "decode_in_any_order": "harness.predictor",
    "Split": "harness.predictor",
    "Decide": "harness.predictor",
    "SYMBOL_BYTES": "harness.predictor",
    "Lockstep": "harness.predictor",
    "Bitwise": "harness.predictor",
    "TokenBytes": "harness.predictor",
    "jit": "harness.jit",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
