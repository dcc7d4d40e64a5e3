"""Corpora shipped with the harness (installed as the package `harness_corpora`)."""

from harness.hookspecs import hookimpl

from . import python, standard, synthetic


@hookimpl
def harness_corpora():
    return [python.corpus(), synthetic.corpus(), *standard.CORPORA]
