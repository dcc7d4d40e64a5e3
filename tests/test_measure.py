"""`harness run`'s measurement: streamed from the corpus file through a temporary file both ways,
the same record as coding in memory, and `verified` only for the original's exact bytes."""

from __future__ import annotations

import collections
import hashlib
import io
import os
import weakref
import zipfile
from pathlib import Path

import numpy as np
import pytest

from corpora import synthetic
from harness import baselines, cli, container, corpus, curves, measure, registry, results, sweep, wire
from harness.corpus import CorpusFile
from harness.errors import HarnessError
from harness.registry import load_registry
from plugins import baselines as classic
from plugins.baselines import standard_baselines
from tests.conftest import ReadLog

TEXT = Path(container.__file__).read_bytes() * 3
BASELINES = {b.name: b for b in standard_baselines()}


def local_file(tmp_path: Path, data: bytes) -> CorpusFile:
    path = tmp_path / "input.txt"
    path.write_bytes(data)
    (file,) = corpus.resolve(str(path), {})
    return file


def never_read_whole() -> bytes:
    raise AssertionError("the measurement read the whole file into memory")


@pytest.mark.parametrize("spec", ["order0", "ngram"])
def test_predictor_record_is_that_of_coding_in_memory(registry, tmp_path, spec):
    file = local_file(tmp_path, TEXT)
    store = tmp_path / "results.jsonl"
    record = results.append(store, measure.measure_predictor(registry, spec, file, keep_curve=True, max_bytes=20_000))
    data = TEXT[:20_000]
    encoded = container.encode(data, spec, registry.build(spec))
    assert record.verified is True
    assert (record.raw_bytes, record.max_bytes, record.symbols) == (20_000, 20_000, 20_000)
    assert record.compressed_bytes == len(encoded.container)
    assert record.payload_bytes == encoded.payload_bytes
    assert record.ideal_bits == float(encoded.symbol_bits.sum(dtype=np.float64))
    assert record.corpus_sha256 == hashlib.sha256(data).hexdigest()
    assert np.array_equal(curves.load(store, record), encoded.symbol_bits.astype(np.float32))


def test_generated_corpora_are_measured_from_memory(registry):
    file = synthetic.markov(n=5_000)
    record = measure.measure_predictor(registry, "order0", file)
    assert record.verified and record.raw_bytes == 5_000
    assert record.corpus_sha256 == hashlib.sha256(file.read()).hexdigest()
    assert record.entropy_bits == pytest.approx(file.entropy_bits(5_000))


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_record_is_that_of_the_one_shot_compressor(tmp_path, name):
    baseline = BASELINES[name]
    record = measure.measure_baseline(baseline, local_file(tmp_path, TEXT), max_bytes=20_000)
    data = TEXT[:20_000]
    assert record.verified is True and record.raw_bytes == 20_000
    assert record.compressed_bytes == len(baselines.compress(baseline, data))
    assert record.corpus_sha256 == hashlib.sha256(data).hexdigest()


def test_files_are_read_a_piece_at_a_time(registry, monkeypatch):
    """Encode, decode and compare each hold one piece of the input, never the file."""
    monkeypatch.setattr(wire, "SEGMENT_SYMBOLS", 1000)
    monkeypatch.setattr(baselines, "STREAM_CHUNK", 1000)
    monkeypatch.setattr(classic, "PPMD_BLOCK", 1000)
    opened: list[ReadLog] = []

    def opener() -> ReadLog:
        opened.append(ReadLog(TEXT[:9_500]))
        return opened[-1]

    file = CorpusFile("pieces", never_read_whole, opener=opener)
    records = [
        measure.measure_predictor(registry, "order0", file),
        measure.measure_baseline(BASELINES["gzip -9"], file),
        measure.measure_baseline(BASELINES["ppmd -o6"], file),
    ]
    assert all(r.verified and r.raw_bytes == 9_500 for r in records)
    reads = [n for source in opened for n in source.reads]
    assert len(reads) > 3 * 2 * 9 and all(0 <= n <= 1000 for n in reads), sorted(set(reads))


def test_only_short_curves_are_kept_for_streaming_predictors(registry, tmp_path, monkeypatch):
    monkeypatch.setattr(measure, "CURVE_MAX_SYMBOLS", 1000)
    (tmp_path / "short").mkdir()
    (tmp_path / "long").mkdir()
    short, long = local_file(tmp_path / "short", TEXT[:1000]), local_file(tmp_path / "long", TEXT[:1001])
    assert len(measure.measure_predictor(registry, "order0", short, keep_curve=True).curve_bits) == 1000
    record = measure.measure_predictor(registry, "order0", long, keep_curve=True)
    assert record.curve_bits is None and record.verified and record.ideal_bits > 0


def damage(stream, size: int, how: str) -> int:
    """Flip a byte in the middle of a coded file, or cut it in half; return its new size."""
    if how == "flip":
        stream.seek(size // 2)
        byte = stream.read(1)
        stream.seek(size // 2)
        stream.write(bytes([byte[0] ^ 0x55]))
    else:
        stream.truncate(size // 2)
    stream.seek(0)
    return size if how == "flip" else size // 2


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_a_damaged_stream_is_not_verified(registry, tmp_path, monkeypatch, how):
    file = local_file(tmp_path, TEXT[:5000])
    read_header = wire.read_header

    def damaged_header(stream, size):
        return read_header(stream, damage(stream, size, how))

    monkeypatch.setattr(wire, "read_header", damaged_header)
    record = measure.measure_predictor(registry, "order0", file)
    assert record.verified is False and record.raw_bytes == 5000


def test_verified_means_the_file_decodes_as_harness_decompress_decodes_it(registry, tmp_path, monkeypatch):
    """The decode builds its predictor from the header, as `harness decompress` does: a header
    naming another predictor than the one that coded (a bug in the spec it writes) is caught,
    where rebuilding from the measured spec would have decoded and passed."""
    file = local_file(tmp_path, TEXT[:5000])
    assert measure.measure_predictor(registry, "ngram:order=3", file).verified is True
    monkeypatch.setattr(type(registry), "portable_spec", lambda self, spec: "ngram:order=2")
    record = measure.measure_predictor(registry, "ngram:order=3", file)
    assert record.verified is False and record.spec == "ngram:order=3"


def test_the_encoder_is_gone_before_the_decoder_is_built(registry, tmp_path, monkeypatch):
    """A user's compress or decompress holds one model: a measurement holding the encoder's
    tables while the decoder builds its own would report twice the peak memory of either."""
    encoders, alive_at_decode = [], []
    build, decoder = type(registry).build, type(registry).decoder

    def tracked_build(self, spec, symbols=0):
        predictor = build(self, spec, symbols)
        encoders.append(weakref.ref(predictor))
        return predictor

    def tracked_decoder(self, header):
        alive_at_decode.append(any(ref() is not None for ref in encoders))
        return decoder(self, header)

    monkeypatch.setattr(type(registry), "build", tracked_build)
    monkeypatch.setattr(type(registry), "decoder", tracked_decoder)
    record = measure.measure_predictor(registry, "cm", local_file(tmp_path, TEXT[:5000]), keep_curve=True)
    assert record.verified and record.params > 0 and record.curve_bits is not None
    assert encoders and alive_at_decode == [False]


def _bytes_read() -> int:
    """All this process has read, files and pipes alike (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/self/io")
def test_a_run_reads_its_file_once_to_encode_and_once_to_compare(tmp_path, capsys):
    """Not also to hash it (the encode hashes as it reads), nor for a stored result that cannot
    be there; a re-run that reuses the stored result reads it once, to hash it."""
    rng = np.random.default_rng(0)
    data = np.where(rng.random(2 << 20) < 0.98, 97, rng.integers(0, 256, 2 << 20)).astype(np.uint8).tobytes()
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    store = tmp_path / "results.jsonl"
    args = ["run", "-p", "order0", "--no-baselines", "--results", str(store), "-c"]
    (tmp_path / "small.bin").write_bytes(data[:1000])
    assert cli.main([*args, str(tmp_path / "small.bin")]) == 0  # imports and compiles first

    def read_by(*more: str) -> float:
        before = _bytes_read()
        assert cli.main([*args, str(path), *more]) == 0
        return (_bytes_read() - before) / len(data)

    assert read_by() < 2.2  # a first run
    assert read_by("--force") < 2.2
    assert read_by() < 1.2  # reused: hashed once
    capsys.readouterr()


def test_a_run_resolves_each_predictor_spec_once(tmp_path, monkeypatch, capsys):
    """The sweep, the measurement, the decoder and mix's members all ask the registry for the
    spec they hold; it is parsed and typed once."""
    parsed = collections.Counter()
    parse = registry.parse_spec
    monkeypatch.setattr(registry, "parse_spec", lambda spec: parsed.update([spec]) or parse(spec))
    (tmp_path / "a.txt").write_bytes(TEXT[:3000])
    args = ["run", "-p", "mix:order0+ngram", "--no-baselines", "--results", str(tmp_path / "results.jsonl")]
    assert cli.main([*args, "-c", str(tmp_path / "a.txt")]) == 0
    assert parsed["mix:order0+ngram"] == 1 and parsed["order0"] == 1
    assert set(parsed.values()) == {1}, parsed
    capsys.readouterr()


def test_a_run_records_the_commit_it_started_from(tmp_path, monkeypatch, capsys):
    """A long run's records name the checkout as the run began (the code it runs), not as it
    was when the first one came, after hours in which commits may have landed."""
    from harness import provenance

    seen = []
    execute = sweep.execute

    def watched(*args, **kwargs):
        seen.append(provenance.git_commit.cache_info().currsize)  # 1: already asked
        return execute(*args, **kwargs)

    monkeypatch.setattr(sweep, "execute", watched)
    provenance.git_commit.cache_clear()
    (tmp_path / "a.txt").write_bytes(TEXT[:500])
    args = ["run", "-p", "order0", "--no-baselines", "--results", str(tmp_path / "results.jsonl")]
    assert cli.main([*args, "-c", str(tmp_path / "a.txt")]) == 0
    assert seen == [1]
    capsys.readouterr()


def test_a_checked_corpus_file_is_hashed_once_per_process(tmp_path, shared_corpora):
    """A standard corpus member's copy in the data dir is checked against its known sha256 on
    first opening, not at each of a run's openings."""
    data = tmp_path / "data" / "canterbury" / "alice29.txt"
    data.parent.mkdir(parents=True)
    data.write_bytes((shared_corpora / "canterbury" / "alice29.txt").read_bytes())
    (member,) = load_registry().corpus_files(["canterbury/alice29.txt"], str(tmp_path / "data"))
    before = _bytes_read()
    for _ in range(3):
        with member.open() as stream:
            stream.read(10)
    assert _bytes_read() - before < 1.2 * data.stat().st_size
    data.write_bytes(data.read_bytes()[:-1] + b"!")  # a changed file is checked again
    with pytest.raises(HarnessError, match="not the expected file"):
        member.open()


def test_decoded_bytes_that_differ_are_not_verified(registry, tmp_path, monkeypatch):
    """Wrong bytes that pass the decoder's own checks are still caught by the comparison."""
    file = local_file(tmp_path, TEXT[:5000])
    decode_stream = container.decode_stream

    class Altered:
        def __init__(self, out, change):
            self.out, self.change = out, change

        def write(self, data: bytes) -> int:
            return self.out.write(self.change(data))

    for change in (lambda d: d[:-1], lambda d: d + b"!", lambda d: bytes([d[0] ^ 1]) + d[1:]):
        monkeypatch.setattr(
            container,
            "decode_stream",
            lambda header, segments, out, *rest, change=change: decode_stream(
                header, segments, Altered(out, change), *rest
            ),
        )
        assert measure.measure_predictor(registry, "order0", file).verified is False


@pytest.mark.parametrize("how", ["flip", "truncate"])
@pytest.mark.parametrize("name", BASELINES)
def test_a_damaged_baseline_stream_is_not_verified(tmp_path, monkeypatch, name, how):
    file = local_file(tmp_path, TEXT[:20_000])
    decompress_stream = baselines.decompress_stream

    def damaged(baseline, source, out):
        damage(source, source.seek(0, io.SEEK_END), how)
        return decompress_stream(baseline, source, out)

    monkeypatch.setattr(measure, "decompress_stream", damaged)
    record = measure.measure_baseline(BASELINES[name], file)
    assert record.verified is False and record.raw_bytes == 20_000


def test_a_stores_curve_is_read_only_from_its_curves_folder_and_only_as_code_lengths(registry, tmp_path):
    """A store is untrusted: its `curve` could name any path (a FIFO would block the reader)."""
    store = tmp_path / "results.jsonl"
    record = results.append(
        store, measure.measure_predictor(registry, "order0", local_file(tmp_path, TEXT[:500]), keep_curve=True)
    )
    assert len(curves.load(store, record)) == 500
    os.mkfifo(tmp_path / "curves" / "fifo.npz")
    (tmp_path / "elsewhere.npz").write_bytes((store.parent / record.curve).read_bytes())
    (tmp_path / "curves" / "link.npz").symlink_to(tmp_path / "elsewhere.npz")
    np.savez(tmp_path / "curves" / "short.npz", bits=np.zeros(499, dtype=np.float32))
    np.savez(tmp_path / "curves" / "words.npz", bits=np.array(["a"] * 500))
    np.savez(tmp_path / "curves" / "nan.npz", bits=np.full(500, np.nan, dtype=np.float32))
    for curve in (
        "curves/fifo.npz",
        "elsewhere.npz",
        "/etc/passwd",
        "curves/link.npz",
        "curves/short.npz",
        "curves/words.npz",
        "curves/nan.npz",
    ):
        with pytest.raises(HarnessError, match="cannot read the loss curve"):
            curves.load(store, record.replace(curve=curve))


@pytest.mark.parametrize("claimed", [500, 2**40])
def test_a_curve_declaring_more_values_than_memory_holds_is_refused_before_it_is_read(registry, tmp_path, claimed):
    """A few hundred bytes of .npz can declare 2^40 code lengths (4 TB): its header is checked
    against the record, and the memory it would take against this machine's, before any of it
    is allocated (once an `internal error: MemoryError`)."""
    store = tmp_path / "results.jsonl"
    record = results.append(
        store, measure.measure_predictor(registry, "order0", local_file(tmp_path, TEXT[:500]), keep_curve=True)
    )
    header = io.BytesIO()
    np.lib.format.write_array_header_2_0(header, {"descr": "<f4", "fortran_order": False, "shape": (2**40,)})
    with zipfile.ZipFile(tmp_path / "curves" / "bomb.npz", "w") as archive:
        archive.writestr("bits.npy", b"\x93NUMPY\x02\x00" + header.getvalue()[8:] + bytes(64))
    with pytest.raises(HarnessError, match="cannot read the loss curve.*(symbols|memory)"):
        curves.load(store, record.replace(curve="curves/bomb.npz", symbols=claimed))


def test_a_prefix_runs_loss_curve_is_named_with_its_prefix(registry, tmp_path):
    store = tmp_path / "results.jsonl"
    file = local_file(tmp_path, TEXT[:2000])
    record = results.append(store, measure.measure_predictor(registry, "order0", file, keep_curve=True, max_bytes=300))
    (legend,) = [t.get_text() for t in curves.figure(store, [record]).axes[0].get_legend().get_texts()]
    assert legend.startswith(f"order0 on {tmp_path}[:300]/input.txt")
