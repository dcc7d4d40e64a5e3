"""The results store as untrusted input: bad paths, damaged lines, records that must never be stored."""

import json
import os
import signal
import subprocess
from functools import partial
from pathlib import Path

import pytest

from harness import cli, leaderboard, results
from harness.errors import HarnessError
from harness.record import RECORD_VERSION, STORED, Record
from tests.conftest import run_cli
from tests.test_leaderboard import record

GOOD = record("ngram", "g/a", 1000, 250, params=10, flops=20)


def fixed(**changes):
    """GOOD with `changes`; a value of ... removes the field."""
    return {k: v for k, v in {**GOOD.to_json(), **changes}.items() if v is not ...}


def unchecked(data: dict) -> Record:
    """A Record holding `data`'s fields as they are, checked by nothing (as a buggy plugin could make)."""
    return Record(**{f.name: data.get(f.name) for f in STORED})


def line(value) -> bytes:
    return json.dumps(value.to_json() if isinstance(value, Record) else value).encode()


DAMAGED = {
    "bits_per_byte as a string": (line(fixed(bits_per_byte="2.5")), 'bits_per_byte is "2.5"'),
    "bits_per_byte null (an empty input)": (line(fixed(bits_per_byte=None)), "bits_per_byte is null"),
    "bits_per_byte NaN": (line(fixed(bits_per_byte=float("nan"))), "bits_per_byte is NaN"),
    "bits_per_byte Infinity": (line(fixed(bits_per_byte=float("inf"))), "bits_per_byte is Infinity"),
    "bits_per_byte 1e999": (
        line(fixed(bits_per_byte=0)).replace(b'"bits_per_byte": 0', b'"bits_per_byte": 1e999'),
        "bits_per_byte is Infinity",
    ),
    "bits_per_byte negative": (line(fixed(bits_per_byte=-1.0)), "bits_per_byte is -1.0"),
    "bits_per_byte true": (line(fixed(bits_per_byte=True)), "bits_per_byte is true"),
    "missing corpus": (line(fixed(corpus=...)), "no corpus"),
    "empty corpus": (line(fixed(corpus="")), 'corpus is ""'),
    "corpus a number": (line(fixed(corpus=5)), "corpus is 5"),
    "no timestamp": (line(fixed(timestamp=...)), "no timestamp"),
    "timestamp a number": (line(fixed(timestamp=20260101)), "timestamp is 20260101"),
    "spec as a list": (line(fixed(spec=["ngram"])), "spec is a JSON array"),
    "spec as an object": (line(fixed(spec={"name": "ngram"})), "spec is a JSON object"),
    "missing spec": (line(fixed(spec=...)), "no spec"),
    "verified the string false": (line(fixed(verified="false")), 'verified is "false"'),
    "verified 1": (line(fixed(verified=1)), "verified is 1"),
    "no verified": (line(fixed(verified=...)), "no verified"),
    "unknown kind": (line(fixed(kind="compressor")), 'kind is "compressor"'),
    "raw_bytes 0": (line(fixed(raw_bytes=0)), "raw_bytes is 0"),
    "raw_bytes huge": (line(fixed(raw_bytes=10**400)), "raw_bytes is 1000"),
    "raw_bytes with 5000 digits": (
        line(fixed(raw_bytes=0)).replace(b'"raw_bytes": 0', b'"raw_bytes": ' + b"9" * 5000),
        "not JSON",
    ),
    "raw_bytes a float": (line(fixed(raw_bytes=1000.5)), "raw_bytes is 1000.5"),
    "compressed_bytes negative": (line(fixed(compressed_bytes=-1)), "compressed_bytes is -1"),
    "params a string": (line(fixed(params="big")), 'params is "big"'),
    "flops_per_byte NaN": (line(fixed(flops_per_byte=float("nan"))), "flops_per_byte is NaN"),
    "encode_seconds a string": (line(fixed(encode_seconds="fast")), 'encode_seconds is "fast"'),
    "max_bytes a string": (line(fixed(max_bytes="20000")), 'max_bytes is "20000"'),
    "predictor_version a string": (line(fixed(predictor_version="3")), 'predictor_version is "3"'),
    "settings a list": (line(fixed(settings=[1], predictor_version=1)), "settings is a JSON array"),
    "settings without a version": (line(fixed(settings={})), "settings without predictor_version"),
    "a member version a string": (line(fixed(member_versions={"cm": "9"})), "member_versions is a JSON object, not an"),
    "member versions a list": (line(fixed(member_versions=["cm"])), "member_versions is a JSON array"),
    "curve without symbols": (line(fixed(curve="curves/x.npz")), "curve without symbols"),
    "a newline in a spec": (line(fixed(spec="x\n## forged heading")), "without control characters"),
    "an escape sequence in a corpus": (line(fixed(corpus="g/\x1b]0;owned\x07a")), "without control characters"),
    "an array": (b"[1, 2]", "a JSON array, not a JSON object"),
    "a number": (b"42", "42, not a JSON object"),
    "null": (b"null", "null, not a JSON object"),
    "a torn line": (line(GOOD)[:40], "not JSON"),
    "invalid UTF-8": (line(fixed(spec="x")).replace(b'"x"', b'"\xff\xfe"'), "not UTF-8"),
    "deeply nested JSON": (b'{"spec": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    "a line over MAX_LINE": (b'{"spec": "' + b"x" * (results.MAX_LINE + 10) + b'"}', "longer than 1,048,576 bytes"),
    "binary garbage": (bytes(range(1, 9)) + b"\x00\x80", "not UTF-8"),
}


@pytest.mark.parametrize("name", DAMAGED)
def test_damaged_line_is_skipped_with_a_warning_naming_it(tmp_path, name):
    damaged, reason = DAMAGED[name]
    store = tmp_path / "results.jsonl"
    store.write_bytes(line(GOOD) + b"\n" + damaged + b"\n" + line(fixed(corpus="g/b")) + b"\n")
    warnings = []
    records = results.read(store, warnings.append)
    assert [r.corpus for r in records] == ["g/a", "g/b"]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {store} line 2: ") and reason in warnings[0]
    assert len(warnings[0]) < 300  # one line, however long the damaged one
    try:
        parsed = json.loads(damaged)
    except (ValueError, RecursionError):
        return
    if isinstance(parsed, dict) and "record_version" not in parsed:  # what a reader skips is never written
        with pytest.raises(HarnessError, match="not stored"):
            results.append(tmp_path / "other.jsonl", unchecked(parsed))


def test_warnings_show_a_few_lines_then_a_count(tmp_path):
    store = tmp_path / "results.jsonl"
    store.write_bytes(b"\n".join([b"nonsense"] * 12 + [line(GOOD), b"", b"   "]) + b"\n")
    warnings = []
    assert len(results.read(store, warnings.append)) == 1  # blank lines are no damage
    assert len(warnings) == results.SHOWN_WARNINGS + 1
    assert [w.split(":")[1] for w in warnings[:2]] == [f" {store} line 1", f" {store} line 2"]
    assert warnings[-1] == f"warning: {store}: {12 - results.SHOWN_WARNINGS} more lines skipped"


def test_a_long_line_is_read_past_in_pieces(tmp_path, monkeypatch):
    store = tmp_path / "results.jsonl"
    store.write_bytes(b"x" * 5000 + b"\n" + line(GOOD) + b"\n" + b"y" * 5000)  # the last one has no newline
    monkeypatch.setattr(results, "MAX_LINE", 1000)
    reads = []

    class Logged:
        def __init__(self, stream):
            self.stream = stream

        def readline(self, limit):
            reads.append(limit)
            return self.stream.readline(limit)

    lines = results._lines
    monkeypatch.setattr(results, "_lines", lambda stream: lines(Logged(stream)))
    warnings = []
    assert results.read(store, warnings.append) == [GOOD]
    assert set(reads) == {1001}  # never more than MAX_LINE + 1 bytes in memory for one line
    assert [w.split(": ", 2)[1] for w in warnings] == [f"{store} line 1", f"{store} line 3"]


def test_verified_counts_only_when_true(tmp_path):
    store = tmp_path / "results.jsonl"
    lines = [fixed(spec="real"), fixed(spec="fake", verified="true"), fixed(spec="failed", verified=False)]
    store.write_text("".join(json.dumps(r) + "\n" for r in lines))
    df = leaderboard.frame(results.read(store, lambda _: None))
    assert dict(zip(df["predictor"], df["verified"], strict=True)) == {"real": True, "failed": False}


def test_missing_store_reads_as_empty(tmp_path):
    assert results.read(tmp_path / "none.jsonl") == []
    assert results.read(tmp_path / "no" / "folder" / "r.jsonl") == []


def special_paths(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return {
        "directory": (tmp_path, "is a directory"),
        "/dev/null": (Path("/dev/null"), "is a character device"),
        "/dev/zero": (Path("/dev/zero"), "is a character device"),
        "FIFO": (fifo, "is a FIFO (named pipe)"),
        "/proc file": (Path("/proc/self/status"), "is a kernel pseudo-file"),
    }


def in_time(call, seconds=10):
    """`call`'s result or exception; a TimeoutError rather than a hang if it blocks (on a FIFO)."""

    def expire(signum, frame):
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        return call()
    except Exception as error:  # noqa: BLE001 (the test looks at what came back)
        return error
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_special_files_are_refused_without_opening_them(tmp_path):
    for path, complaint in special_paths(tmp_path).values():
        for call in (results.read, lambda p: results.store_path(str(p), write=True), lambda p: results.append(p, GOOD)):
            error = in_time(partial(call, path))
            assert isinstance(error, HarnessError) and f"results store {path} {complaint}, not a regular" in str(error)
    assert not (tmp_path / "results.jsonl").exists()


def test_unusable_paths_for_writing(tmp_path, monkeypatch):
    with pytest.raises(HarnessError, match="--results '' names no file"):
        results.store_path("")
    afile = tmp_path / "a.txt"
    afile.write_text("x")
    for path, complaint in [
        (tmp_path / "missing" / "r.jsonl", "is not an existing folder"),
        (afile / "r.jsonl", "is not an existing folder"),
    ]:
        with pytest.raises(HarnessError, match=complaint):
            results.store_path(str(path), write=True)
    monkeypatch.setenv("HARNESS_RESULTS", "")  # an empty variable is an unset one
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert results.store_path() == tmp_path / "data" / "harness" / "results.jsonl"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert results.store_path() == Path.home() / ".local" / "share" / "harness" / "results.jsonl"


def test_run_from_the_repository_leaves_it_clean(tmp_path):
    """The default store is the user's, never the published results/results.jsonl."""
    repo = Path(__file__).resolve().parents[1]
    data = tmp_path / "data"

    def status() -> str:
        done = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo, capture_output=True, text=True
        )
        return done.stdout

    before = status()
    done = run_cli(
        "run",
        "-p",
        "order0",
        "-c",
        "synthetic/iid",
        "--no-baselines",
        cwd=repo,
        env={"XDG_DATA_HOME": str(data), "HARNESS_RESULTS": ""},
    )
    assert done.returncode == 0, done.stderr
    assert len(results.read(data / "harness" / "results.jsonl")) == 1
    assert status() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_store_and_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    store = locked / "r.jsonl"
    store.write_text("")
    store.chmod(0o444)
    with pytest.raises(HarnessError, match="is not writable"):
        results.store_path(str(store), write=True)
    locked.chmod(0o555)
    try:
        with pytest.raises(HarnessError, match="folder .* is not writable"):
            results.store_path(str(locked / "new.jsonl"), write=True)
    finally:
        locked.chmod(0o755)


def test_append_refuses_records_a_reader_would_skip(tmp_path):
    store = tmp_path / "results.jsonl"
    results.append(store, GOOD)
    empty_input = fixed(raw_bytes=0, compressed_bytes=0, bits_per_byte=None, ratio=None)
    with pytest.raises(HarnessError, match="not stored in .*raw_bytes is 0.*empty input"):
        results.append(store, unchecked(empty_input))
    with pytest.raises(HarnessError, match="over the 1,048,576 of a store line"):
        results.append(store, GOOD.replace(fingerprint="x" * results.MAX_LINE))
    assert results.read(store) == [GOOD]


def harness(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "command", ["leaderboard", "plot size", "publish", "run -p order0 --no-baselines", "sweep -p order0 --no-baselines"]
)
def test_every_store_command_refuses_a_bad_store_in_one_line(capsys, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)  # where the default store would go
    source = tmp_path / "in.txt"
    source.write_text("some text to measure\n")
    extra = ["-c", source] if "-p" in command else ["-o", tmp_path / "out"]
    for name, (path, complaint) in special_paths(tmp_path).items():
        outcome = in_time(partial(harness, capsys, *command.split(), *extra, "--results", path))
        assert not isinstance(outcome, Exception), (name, outcome)
        code, _, err = outcome
        assert code == 2 and err.strip() == f"harness: error: results store {path} {complaint}, not a regular file"
    code, _, err = harness(capsys, *command.split(), *extra, "--results", "")
    assert code == 2 and err.strip().startswith("harness: error: --results '' names no file")
    assert not list(tmp_path.glob("**/*.jsonl")) and not (tmp_path / "results").exists()


def test_damaged_store_still_gives_leaderboard_and_publish(capsys, tmp_path):
    store = tmp_path / "results.jsonl"
    rows = [line(GOOD), line(fixed(corpus="g/b")), line(fixed(spec="nulls", bits_per_byte=None))]
    store.write_bytes(b"\n".join(rows + [b'{"torn": ']))
    code, out, err = harness(capsys, "leaderboard", "--results", store, "--format", "csv")
    assert code == 0 and "nulls" not in out and out.count("\n") == 1 + 3  # header, the group, two files
    assert err.splitlines() == [
        f"warning: {store} line 3: bits_per_byte is null, not a finite number >= 0; skipped",
        f"warning: {store} line 4: not JSON (Expecting value: line 1 column 10 (char 9)); skipped",
    ]
    code, _, err = harness(capsys, "publish", "--results", store, "-o", tmp_path / "published")
    assert code == 0 and "published 7 files into" in err and (tmp_path / "published" / "g.md").exists()


def test_the_schema_covers_every_field_the_leaderboard_reads():
    assert set(leaderboard.FIELDS) <= {f.name for f in STORED}


def test_an_old_record_is_read_through_the_migration_and_a_newer_one_is_refused(tmp_path):
    store = tmp_path / "results.jsonl"
    old = {k: v for k, v in GOOD.to_json().items() if k not in ("record_version", "peak_memory_bytes")}
    newer = {**GOOD.to_json(), "record_version": RECORD_VERSION + 1, "spec": "future"}
    store.write_text(json.dumps({**old, "peak_rss_bytes": 400 * 2**20}) + "\n" + json.dumps(newer) + "\n")
    warnings = []
    (record,) = results.read(store, warnings.append)
    # version 1's peak was the whole harness process's, imports included: not the measurement's own
    assert record.record_version == RECORD_VERSION and record.peak_memory_bytes is None
    assert record.replace(peak_memory_bytes=GOOD.peak_memory_bytes) == GOOD
    assert len(warnings) == 1 and f"record version {RECORD_VERSION + 1}, newer than this harness reads" in warnings[0]
