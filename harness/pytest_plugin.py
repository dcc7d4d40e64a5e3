"""pytest plugin (entry point `pytest11`): the conformance kit as a fixture for plugin authors.

def test_my_predictor(predictor_conformance):
    predictor_conformance(MyPredictor)
"""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def predictor_conformance() -> Callable[..., list[str]]:
    """`harness.conformance.check_predictor`: fails the test naming every broken check."""
    from harness.conformance import check_predictor  # imported on use: numba is slow to import

    return check_predictor
