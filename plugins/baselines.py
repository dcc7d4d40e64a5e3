"""The classic compressors as reference rows (see harness.baselines)."""

from harness.baselines import standard_baselines
from harness.hookspecs import hookimpl


@hookimpl
def harness_baselines():
    return standard_baselines()
