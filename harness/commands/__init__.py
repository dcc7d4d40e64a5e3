"""One module per command (as lm-evaluation-harness's `_cli/`), each with `run(args)`; the
argparse wiring is in harness/cli.py, which imports a command's module only when it runs, so
`harness --help` loads none of them."""

DEFAULT_PREDICTORS = ["order0", "ngram"]
DEFAULT_CORPUS = "python"
