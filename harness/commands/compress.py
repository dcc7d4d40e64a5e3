"""`harness compress`: a file (or stdin, or a corpus member) into a .hz container."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import harness.trust
from harness import container, files, ui
from harness.errors import HarnessError, predictor_errors


def _compress_target(args: argparse.Namespace) -> str:
    if args.stdout or (args.file == files.STDIO and not args.output):  # as xz: reading stdin means writing stdout
        return files.STDIO
    if args.output:
        return args.output
    # Beside a local input; a corpus member (calgary/book1) goes to the working folder.
    return f"{args.file}.hz" if os.path.lexists(args.file) else f"{Path(args.file).name}.hz"


def run(args: argparse.Namespace) -> None:
    registry = ui.registry(args)
    _, _, spec = registry.predictor(args.predictor)
    target, name = _compress_target(args), "stdin" if args.file == files.STDIO else args.file
    if target == files.STDIO and sys.stdout.isatty():
        raise HarnessError("compressed data is not written to a terminal; redirect stdout or give -o FILE")
    source_file = files.open_input(args.file, registry, args.data_dir)
    with source_file as (source, size, identity), files.output(target, args.force, identity) as out:
        with predictor_errors(spec, name), harness.trust.policy(user_trust(args)):
            predictor = registry.build(spec)
            with ui.bar(f"encode {name} with {spec}", size) as (advance, expect):
                header_spec = registry.portable_spec(spec)
                encoded = container.encode_stream(source, size, out, header_spec, predictor, advance, expect)
    bits = 8 * encoded.container_bytes / size if size else 0.0
    written = f"{encoded.container_bytes:,} bytes ({bits:.3f} bits/byte)"
    ui.console.print(f"{name}: {size:,} -> {written} -> {files.shown(target)}")


def user_trust(args: argparse.Namespace) -> harness.trust.Trust:
    """The user typed the spec: any path, downloads; pickled weights only when asked for."""
    return harness.trust.Trust(pickles=args.allow_pickle)
