"""The command line, through the installed `harness` entry point."""

import json
import os

import pytest

from harness import results
from tests.conftest import run_cli

UNIFORM_PLUGIN = """
import numpy as np
from harness.hookspecs import hookimpl
from harness.predictor import Predictor

class Uniform(Predictor):
    name = "uniform"
    description = "every byte equally likely"

    def predict(self):
        return np.full(256, 1 / 256)

    def update(self, symbol):
        pass

@hookimpl
def harness_predictors():
    return [Uniform]
"""


@pytest.fixture
def plugin_file(tmp_path):
    path = tmp_path / "uniform_plugin.py"
    path.write_text(UNIFORM_PLUGIN)
    return path


def test_list_predictors_shows_description_and_plugin(plugin_file):
    result = run_cli("list", "predictors", "--plugin", str(plugin_file))
    assert result.returncode == 0, result.stderr
    lines = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") >= 3}
    assert "ngram" in lines and "order0" in lines and "uniform" in lines
    assert "uniform_plugin.py" in lines["uniform"] and "order0" in lines["order0"]


def test_list_corpora_and_baselines():
    corpora = run_cli("list", "corpora")
    assert corpora.returncode == 0 and "canterbury" in corpora.stdout and "synthetic" in corpora.stdout
    baselines = run_cli("list", "baselines")
    assert baselines.returncode == 0 and "xz -9e" in baselines.stdout


def test_unknown_predictor_names_close_matches(tmp_path):
    result = run_cli("compress", __file__, "-p", "ngarm", "-o", str(tmp_path / "x.hz"))
    assert result.returncode == 2
    assert "unknown predictor 'ngarm'; did you mean ngram?" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_options_after_a_comma_instead_of_a_colon_say_where_they_go(registry):
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match=r"options follow a ':', as in smollm2-135m:batch=16$"):
        registry.predictor("smollm2-135m,batch=16")


def test_bad_option_is_one_line_error(tmp_path):
    result = run_cli("compress", __file__, "-p", "ngram:colour=red", "-o", str(tmp_path / "x.hz"))
    assert result.returncode == 2 and "has no option 'colour'" in result.stderr


def test_duplicate_predictor_name_names_both_plugins(tmp_path):
    clash = tmp_path / "clash.py"
    clash.write_text(UNIFORM_PLUGIN.replace('name = "uniform"', 'name = "order0"'))
    result = run_cli("list", "predictors", "--plugin", str(clash))
    assert result.returncode == 2
    assert "'order0' is registered twice" in result.stderr and "clash.py" in result.stderr


def test_compress_decompress_binary_roundtrip_with_plugin_file(tmp_path, plugin_file):
    original = tmp_path / "blob.bin"
    original.write_bytes(os.urandom(3000) + bytes(500))
    result = run_cli("compress", str(original), "-p", "uniform", "--plugin", str(plugin_file))
    assert result.returncode == 0, result.stderr
    packed = tmp_path / "blob.bin.hz"
    assert packed.exists()
    restored = tmp_path / "restored.bin"
    result = run_cli("decompress", str(packed), "-o", str(restored), "--plugin", str(plugin_file))
    assert result.returncode == 0, result.stderr
    assert restored.read_bytes() == original.read_bytes()


def test_empty_file_roundtrip_and_no_overwrite_without_force(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert run_cli("compress", str(empty), "-p", "ngram").returncode == 0
    # decompressing next to the original would overwrite it: refused, original untouched
    result = run_cli("decompress", str(tmp_path / "empty.hz"))
    assert result.returncode == 2 and "--force" in result.stderr
    empty.write_bytes(b"keep me")
    assert run_cli("decompress", str(tmp_path / "empty.hz")).returncode == 2
    assert empty.read_bytes() == b"keep me"
    assert run_cli("decompress", str(tmp_path / "empty.hz"), "--force").returncode == 0
    assert empty.read_bytes() == b""


def test_corrupt_file_gives_error_and_no_output(tmp_path):
    source = tmp_path / "text.txt"
    source.write_bytes(b"compression is prediction " * 200)
    assert run_cli("compress", str(source), "-p", "ngram:order=3").returncode == 0
    packed = tmp_path / "text.txt.hz"
    blob = bytearray(packed.read_bytes())
    blob[-5] ^= 0x10
    packed.write_bytes(bytes(blob))
    result = run_cli("decompress", str(packed), "-o", str(tmp_path / "out.txt"))
    assert result.returncode == 2 and "corrupt" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.txt", "text.txt.hz"]


def test_truncated_and_missing_inputs(tmp_path):
    source = tmp_path / "a.txt"
    source.write_bytes(b"abc" * 100)
    assert run_cli("compress", str(source), "-p", "order0").returncode == 0
    packed = tmp_path / "a.txt.hz"
    packed.write_bytes(packed.read_bytes()[:-3])
    result = run_cli("decompress", str(packed), "-o", str(tmp_path / "b"))
    assert result.returncode == 2 and "truncated" in result.stderr
    assert run_cli("compress", str(tmp_path / "missing"), "-p", "order0").returncode == 2
    assert "is a directory" in run_cli("compress", str(tmp_path), "-p", "order0").stderr
    result = run_cli("compress", str(source), "-p", "order0", "-o", str(tmp_path / "no" / "such" / "dir.hz"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_run_stores_verified_records_and_leaderboard_formats(tmp_path):
    store = tmp_path / "results.jsonl"
    corpus = tmp_path / "notes.txt"
    corpus.write_bytes(b"to be or not to be, that is the question\n" * 300)
    result = run_cli("run", "-p", "order0", "-p", "ngram:order=3", "-c", str(corpus), "--results", str(store))
    assert result.returncode == 0, result.stderr
    records = results.read(store)
    by_spec = {r.spec: r for r in records}
    # stderr is a pipe, where no progress bar shows: a line per finished job says how far it got
    logged = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert len(logged) == len(records) and logged[0].startswith(f"[1/{len(records)}] order0 on {corpus}: ")
    assert f"{by_spec['order0'].bits_per_byte:.4f} bits/byte, verified" in logged[0]
    assert {"order0", "ngram:order=3", "gzip -9", "xz -9e"} <= set(by_spec)
    required = {
        "predictor",
        "spec",
        "corpus",
        "raw_bytes",
        "compressed_bytes",
        "bits_per_byte",
        "ratio",
        "verified",
        "params",
        "model_bytes",
        "flops_per_byte",
        "encode_seconds",
        "decode_seconds",
        "peak_memory_bytes",
        "harness_version",
        "python",
        "torch",
        "timestamp",
    }
    for record in records:
        unmeasured = {"params", "flops_per_byte"} if record.kind == "baseline" else set()  # no model
        assert {f for f in required if getattr(record, f) is None} <= unmeasured
        assert record.verified is True
        assert record.raw_bytes == 12300
        assert record.bits_per_byte == pytest.approx(8 * record.compressed_bytes / 12300)
    assert all(r.ideal_bits is not None for r in records if r.kind == "predictor")
    ngram = by_spec["ngram:order=3"]
    assert ngram.bits_per_byte < by_spec["order0"].bits_per_byte
    assert abs(ngram.coder_overhead_bits) < 64

    board = json.loads(run_cli("leaderboard", "--results", str(store), "--format", "json").stdout)
    bits = [row["bits_per_byte"] for row in board]
    assert bits == sorted(bits) and len(board) == len(records)
    assert {row["kind"] for row in board} == {"predictor", "baseline"}
    csv = run_cli("leaderboard", "--results", str(store), "--format", "csv").stdout
    assert csv.splitlines()[0].startswith("corpus,predictor,kind,bits_per_byte")
    md = run_cli("leaderboard", "--results", str(store), "--format", "md", "-c", "nothing")
    assert md.returncode == 2 and "no results" in md.stderr


def test_list_predictors_options_shows_declared_bounds_and_help(capsys, monkeypatch):
    from harness import cli

    monkeypatch.setenv("COLUMNS", "200")
    assert cli.main(["list", "predictors", "--options"]) == 0
    out = capsys.readouterr().out
    ngram = out[out.index("ngram options") :]
    assert "memory_mib" in ngram and "int in 1..1048576" in ngram and "longest context in bytes" in ngram
    assert "one of adam, sgd" in out[out.index("lstm options") :]
    assert "order0 options" not in out  # nothing to declare
    assert out.count("hf options") == 1 and "gpt2: the options of hf, with model=openai-community/gpt2" in out
    assert "gpt2 options" not in out  # an alias is one line, not the same table again


def test_run_over_many_files_shows_the_group_tables_only(tmp_path, capsys, monkeypatch):
    from harness import cli
    from harness.commands import run as run_command

    monkeypatch.setattr(run_command, "FILE_TABLES_SHOWN", 2)
    corpus = tmp_path / "many"
    corpus.mkdir()
    for i in range(3):
        (corpus / f"f{i}.txt").write_bytes(b"some text %d " % i * 20)
    args = ["run", "-p", "order0", "-c", str(corpus), "--no-baselines", "--results", str(tmp_path / "r.jsonl")]
    assert cli.main(args) == 0
    out, err = capsys.readouterr()
    assert "3 files: group tables only" in err and "f0.txt" not in out and "3 files" in out
    monkeypatch.setattr(run_command, "FILE_TABLES_SHOWN", 3)
    assert cli.main(args) == 0
    assert "f0.txt" in capsys.readouterr().out
