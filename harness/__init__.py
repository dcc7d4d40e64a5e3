"""Benchmark predictors by how well they compress.

Plugin authors need one import: `from harness import Predictor, Option, hookimpl, HarnessError`
(`SequenceCoder` for a model that codes whole sequences itself; `check_predictor`, the
conformance kit). They are loaded on first use, so that importing
`harness` stays cheap.
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
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
