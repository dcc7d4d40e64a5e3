"""`harness decompress`: a .hz file back to its bytes (or only checked, or described). The file
is untrusted input: it runs under the `Trust` the options give (docs/security.md)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import harness.trust
from harness import container, files, ui, wire
from harness.errors import HarnessError, predictor_errors


def _file_trust(args: argparse.Namespace) -> harness.trust.Trust:
    """A .hz file named the spec: only the models, downloads, pickles and memory the user allows."""
    return harness.trust.Trust(
        downloads=args.allow_download,
        pickles=args.allow_pickle,
        models=tuple(Path(model) for model in args.model),
        max_memory=args.max_memory << 20,
    )


def _decompress_target(args: argparse.Namespace) -> str:
    if args.stdout or (args.file == files.STDIO and not args.output):
        return files.STDIO
    if args.output:
        return args.output
    return args.file[: -len(".hz")] if args.file.endswith(".hz") else args.file + ".out"


def _describe(name: str, header: wire.Header, size: int) -> str:
    """What `decompress --list` shows: the header's facts and what they mean, one per line."""
    rows = {
        "file": name,
        "predictor": header.spec,
        "original bytes": f"{header.length:,}",
        "symbols": f"{header.symbols:,}",
        "container bytes": f"{size:,}",
        "bits/byte": f"{8 * size / header.length:.3f}" if header.length else "-",
        "ratio": f"{header.length / size:.3f}",
    }
    return "".join(f"{key:<16} {value}\n" for key, value in rows.items())


def run(args: argparse.Namespace) -> None:
    name = "stdin" if args.file == files.STDIO else args.file
    with files.open_input(args.file) as (source, size, identity):
        header, segments = wire.read_header(source, size)
        if args.list:  # the header says it all: no plugins loaded, no predictor built
            sys.stdout.write(_describe(name, header, size))
            return
        if args.max_symbols is not None and header.symbols > args.max_symbols:
            raise HarnessError(
                f"{name} claims {header.symbols:,} symbols to decode, over --max-symbols {args.max_symbols:,}; "
                "nothing decoded"
            )
        registry = ui.registry(args)
        target = _decompress_target(args)
        # --test: decoded and checked, then dropped; nothing is written anywhere.
        sink = open(os.devnull, "wb") if args.test else files.output(target, args.force, identity)
        with sink as out, predictor_errors(header.spec, name), harness.trust.policy(_file_trust(args)):
            predictor = registry.decoder(header)  # checked against the header before it is built
            with ui.bar(f"decode {name} with {header.spec}", header.length) as (advance, expect):
                expect(header.symbols)
                container.decode_stream(header, segments, out, predictor, advance)
    if args.test:
        ui.console.print(f"{name}: OK: {header.length:,} bytes decoded, length and CRC match")
    else:
        ui.console.print(f"{name}: -> {header.length:,} bytes -> {files.shown(target)}")
