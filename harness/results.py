"""The results store: one JSON line per (predictor, corpus file) measurement.

Appending whole lines (then fsync) means an interrupted run can at worst leave a torn last
line, which `read` skips: the store is never corrupted for the lines before it.

A store is untrusted input (hand-edited, copied, written by another version or program): `read`
returns only the lines that `record.from_json` makes a usable `Record` of, and warns about the
lines it skips, so that every reader (leaderboards, sweeps, publishing, curves) can rely on the
fields it uses.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from harness import curves
from harness.errors import HarnessError
from harness.record import Record, from_json, problem

MAX_LINE = 1 << 20
"""Longest line `read` takes (a record is a few KB); longer ones are skipped without being held
in memory, so that a damaged store cannot exhaust it."""
SHOWN_WARNINGS = 5

_SPECIAL = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def default_store() -> Path:
    """The user's working store, in their data directory (XDG): never the published
    `results/results.jsonl`, which only `harness publish` writes."""
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "harness" / "results.jsonl"


def store_path(explicit: str | None = None, *, write: bool = False) -> Path:
    """--results option, else HARNESS_RESULTS, else `default_store()`; with `write`, checked to
    be appendable before any work is done, so that a bad path never costs a measurement."""
    if explicit == "":
        raise HarnessError("--results '' names no file: give the path of a .jsonl results store")
    path = Path(explicit or os.environ.get("HARNESS_RESULTS") or default_store())
    if write:
        _check_writable(path)
    return path


def parts_path(store: Path, *, write: bool = False) -> Path:
    """Where the finished parts of chunked files are kept beside `store` (results.jsonl ->
    results.parts.jsonl), so that a run stopped part way, even across sessions, starts again
    from the parts it had; they are records of their own bytes only, never leaderboard rows.
    With `write`, checked as `store_path` checks a store."""
    path = store.with_name(f"{store.stem}.parts{store.suffix or '.jsonl'}")
    if write:
        _check_writable(path)
    return path


def _check_writable(path: Path) -> None:
    try:
        _refuse_special(path)
    except (FileNotFoundError, NotADirectoryError):
        folder = path.parent
        if folder == default_store().parent and not folder.exists():
            return  # `append` makes the data directory's harness/ folder
        if not folder.is_dir():
            raise HarnessError(f"results store {path}: {folder} is not an existing folder") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise HarnessError(f"results store {path}: folder {folder} is not writable") from None
        return
    except OSError as error:
        raise HarnessError(f"results store {path}: {error.strerror}") from None
    if not os.access(path, os.W_OK):
        raise HarnessError(f"results store {path} is not writable")


def _refuse_special(path: Path) -> None:
    """A HarnessError unless `path` is a regular file (OSError, FileNotFoundError included, if
    it cannot be looked at). Looked at before it is opened: opening a FIFO waits for a writer,
    opening a device can act on it, and files in /proc and /sys pass for regular ones."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        what = _SPECIAL.get(stat.S_IFMT(mode), "not a regular file")
    elif path.resolve().parts[1:2] in (("proc",), ("sys",)):
        what = "a kernel pseudo-file"
    else:
        return
    raise HarnessError(f"results store {path} is {what}, not a regular file")


def _nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NONBLOCK)  # a FIFO swapped in after the check still cannot hang us


def append(path: Path, record: Record) -> Record:
    """Add `record` at the end of the store, its loss curve (`curve_bits`) saved beside it;
    returns it as stored. A record that `read` would skip is refused."""
    what = f"result of {record.spec!r} on {record.corpus!r} not stored in {path}"
    if record.curve_bits is not None:
        record = record.replace(curve=curves.save(path, record.curve_bits), curve_bits=None)
    data = record.to_json()
    if reason := problem(data):
        raise HarnessError(f"{what}: {reason}")
    line = (json.dumps(data, sort_keys=True) + "\n").encode()
    if len(line) > MAX_LINE:
        raise HarnessError(f"{what}: its line would be {len(line):,} bytes, over the {MAX_LINE:,} of a store line")
    try:
        if path.exists():
            _refuse_special(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b", opener=_nonblocking) as store:  # "a": every write goes to the end
            size = store.seek(0, os.SEEK_END)
            if size:
                store.seek(size - 1)
                if store.read(1) != b"\n":
                    line = b"\n" + line  # a killed run left a torn line: end it, don't glue onto it
            store.write(line)
            store.flush()
            os.fsync(store.fileno())
    except OSError as error:
        raise HarnessError(f"{what}: {error.strerror or error}") from None
    return record


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def read(path: Path, warn: Callable[[str], None] = _stderr) -> list[Record]:
    """The usable records of the store, in order; none when it does not exist.

    Skipped lines (torn by a killed run, too long, not JSON, not a usable record) are named by
    `warn`, the first SHOWN_WARNINGS of them one a line, then a count of the others.
    """
    records, shown, skipped = [], [], 0
    try:
        _refuse_special(path)
        with open(path, "rb", opener=_nonblocking) as stream:
            for number, line in enumerate(_lines(stream), 1):
                if line is not None and not line.strip():
                    continue
                try:
                    records.append(_record(line))
                except ValueError as error:
                    skipped += 1
                    if skipped <= SHOWN_WARNINGS:  # only these are kept: a store may be all damage
                        shown.append(f"warning: {path} line {number}: {error}; skipped")
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as error:
        raise HarnessError(f"cannot read results store {path}: {error.strerror or error}") from None
    for message in shown:
        warn(message)
    if skipped > SHOWN_WARNINGS:
        warn(f"warning: {path}: {skipped - SHOWN_WARNINGS} more lines skipped")
    return records


def _lines(stream: BinaryIO) -> Iterator[bytes | None]:
    """Each line of `stream`, or None for a line longer than MAX_LINE (read past in pieces)."""
    while line := stream.readline(MAX_LINE + 1):
        if len(line) <= MAX_LINE or line.endswith(b"\n"):
            yield line
            continue
        while line and not line.endswith(b"\n"):
            line = stream.readline(MAX_LINE + 1)
        yield None


def _record(line: bytes | None) -> Record:
    """The usable record on `line`; a ValueError says why there is none."""
    if line is None:
        raise ValueError(f"longer than {MAX_LINE:,} bytes")
    try:
        record = json.loads(line.decode("utf-8").rstrip("\r\n"))
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except ValueError as error:
        raise ValueError(f"not JSON ({error})") from None
    return from_json(record)
