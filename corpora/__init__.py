"""Corpora shipped with the harness (installed as the package `corpora`)."""

from harness.hookspecs import hookimpl

from . import python, standard, synthetic


@hookimpl
def corpora():
    return [python.corpus(), synthetic.corpus(), *standard.CORPORA]
