"""`mix`: a learnt log-linear mixture of other predictors, decoded exactly."""

from pathlib import Path

import numpy as np
import pytest

from harness import coder, container, wire
from harness.conformance import check_predictor
from harness.errors import HarnessError
from plugins.mix import Mix, member_specs

TEXT = b"the cat sat on the mat; the dog sat on the log. " * 60


def round_trip(registry, spec: str, data: bytes) -> container.Encoded:
    encoded = container.encode(data, registry.portable_spec(spec), registry.build(spec))
    header = wire.unpack(encoded.container)
    assert container.decode(header, registry.decoder(header)) == data
    return encoded


def test_member_syntax():
    assert member_specs("gpt(width=128;lr=1e-3)+ngram") == ["gpt:width=128,lr=1e-3", "ngram"]
    with pytest.raises(HarnessError, match="bad member"):
        member_specs("gpt(width=1")


def test_conformance():
    check_predictor(Mix, long_bytes=2_000)


def test_the_weights_learn_to_trust_the_better_member(registry):
    """order0 knows nothing of context: the mixture learns to follow ngram, and comes out no
    worse than ngram alone by more than the learning costs."""
    alone = round_trip(registry, "ngram:order=3,memory_mib=1", TEXT)
    mixed = Mix(members="order0+ngram(order=3;memory_mib=1)")
    symbols = mixed.to_symbols(TEXT)
    payload, _ = mixed.encode_symbols(symbols)
    assert mixed.weights[1] > mixed.weights[0]
    assert len(payload) < 1.1 * alone.payload_bytes
    spec = registry.predictor("mix:order0+ngram(order=3;memory_mib=1)")[2]
    assert round_trip(registry, spec, TEXT).payload_bytes == len(payload)


def test_an_online_member_drives_and_step_members_run_per_stream(registry):
    spec = "mix:gpt(layers=1;width=16;heads=2;batch=4;context=8;ngrams=0)+ngram(order=2;memory_mib=1)"
    round_trip(registry, spec, TEXT[:1500])
    predictor = registry.build(spec)
    assert predictor.driver is not None  # gpt lays the input out in 4 streams and codes in their order
    assert sorted(predictor.coding_order(100)) == list(range(100))
    predictor.encode_symbols(predictor.to_symbols(TEXT[:1500]))
    gpt, ngram = predictor.members
    assert len(predictor._stream_members) == 3 and all(m.shares_streams for m in predictor._stream_members)
    assert predictor.params == gpt.params + ngram.params  # the 4 streams' n-gram tables are one
    ngram_alone = registry.predictor("ngram:order=2,memory_mib=1")
    assert Mix.memory_estimate(predictor.settings, 1500) == (
        type(gpt).memory_estimate(gpt.settings, 1500)
        + ngram_alone[0].memory_estimate(ngram_alone[1], 1500)
        + 16 * 1500  # the mix's own symbols and code lengths
    )


def test_conformance_of_a_bitwise_mix():
    check_predictor(Mix, {"members": "cm(memory_mib=1;history_mib=1)+ngram(order=2;memory_mib=1)"}, long_bytes=2_000)


CM = "cm(memory_mib=1;history_mib=1)"


def test_a_bitwise_member_makes_the_mix_bitwise_and_it_beats_both_members(registry):
    """cm codes bits: the mixture codes 8 decisions a byte, ngram's distribution turned into bit
    probabilities, and comes out below either member on real text (our own source, 30 KB)."""
    data = Path(coder.__file__).read_bytes() + Path(container.__file__).read_bytes()
    cm_alone = round_trip(registry, "cm:memory_mib=1,history_mib=1", data).payload_bytes
    ngram_alone = round_trip(registry, "ngram:order=3,memory_mib=1", data).payload_bytes
    spec = registry.predictor(f"mix:{CM}+ngram(order=3;memory_mib=1)")[2]
    mixed = round_trip(registry, spec, data).payload_bytes
    assert mixed < min(cm_alone, ngram_alone)
    predictor = registry.build(spec)
    predictor.encode_symbols(predictor.to_symbols(data))
    assert predictor.bit_member is predictor.members[0] and predictor.weights.shape == (256, 1)
    assert not np.allclose(predictor.weights, 1.0)  # learnt, per node of the byte's tree


def test_a_bitwise_member_runs_a_stream_per_online_stream_over_shared_tables(registry):
    spec = f"mix:gpt(layers=1;width=16;heads=2;batch=4;context=8;ngrams=0)+{CM}"
    round_trip(registry, spec, TEXT[:1500])
    cm = registry.build("cm:memory_mib=1,history_mib=1")
    streams = cm.bit_streams(1500, [0, 375, 750, 1125])
    assert all(s.t is streams[0].t and s.w is streams[0].w and s.buf is streams[0].buf for s in streams)
    assert len({id(s.reg) for s in streams}) == 4 and [int(s.reg[4]) for s in streams] == [0, 375, 750, 1125]


@pytest.mark.parametrize(
    "members, complaint",
    [
        ("ngram", "two or more members"),
        ("cm+cm", "at most one bitwise model"),
        ("cm+ngram+order0+ngram", "hints from at most 2 other members"),
        ("hf(model=gpt2)+ngram", "through a bitwise member"),
        ("gpt+lstm", "at most one online model"),
        ("nothing+ngram", "unknown predictor"),
    ],
)
def test_members_it_cannot_mix_are_refused_with_a_reason(registry, members, complaint):
    with pytest.raises(HarnessError, match=complaint):
        registry.build(f"mix:{members}")


def test_a_member_may_come_from_a_plugin_file(tmp_path, capsys):
    """Members resolve through the registry the command loaded, --plugin files included (mix once
    loaded its own registry, which knew only the installed plugins)."""
    from harness import cli, results

    plugin = Path(__file__).resolve().parents[1] / "examples" / "harness-bigram" / "harness_bigram" / "__init__.py"
    source = tmp_path / "in.txt"
    source.write_bytes(TEXT)
    store = tmp_path / "results.jsonl"
    run = ["run", "--plugin", str(plugin), "-p", "mix:bigram+order0", "-c", str(source), "--no-baselines"]
    assert cli.main([*run, "--results", str(store)]) == 0
    (record,) = results.read(store)
    assert record.spec == "mix:bigram+order0" and record.verified
    coded = tmp_path / "in.hz"
    compress = ["compress", str(source), "--plugin", str(plugin), "-p", "mix:bigram+order0", "-o", str(coded)]
    assert cli.main(compress) == 0
    assert cli.main(["decompress", str(coded), "--plugin", str(plugin), "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out").read_bytes() == TEXT
    capsys.readouterr()


@pytest.mark.parametrize(
    "members", [f"{CM}+ngram(order=3;memory_mib=1)", "gpt(layers=1;width=16;heads=2;batch=2;context=8;ngrams=0)+order0"]
)
def test_chunks_are_coded_by_fresh_members_as_files_of_their_own(registry, members):
    """chunk=N: each N bytes coded as if it were a whole file (its payload and code lengths are
    those of the same mix on that chunk alone), the decoder building members afresh per chunk;
    the loss curve is in file order."""
    data = Path(coder.__file__).read_bytes()[:2_500]
    spec = registry.predictor(f"mix:{members},chunk=1000")[2]
    encoded = round_trip(registry, spec, data)
    payload, bits = registry.build(spec).encode_symbols(np.frombuffer(data, np.uint8))
    alone = [
        registry.build(f"mix:{members}").encode_symbols(np.frombuffer(data[i : i + 1000], np.uint8))
        for i in (0, 1000, 2000)
    ]
    sizes = [len(p) for p, _ in alone]
    assert payload == b"".join(map(wire.varint, sizes)) + b"".join(p for p, _ in alone)
    assert np.allclose(bits, np.concatenate([b for _, b in alone]))
    assert encoded.payload_bytes == len(payload)
    order = registry.build(spec).coding_order(len(data))
    assert order is None or sorted(order) == list(range(len(data)))


def test_chunk_sizes_that_do_not_add_up_or_more_chunks_than_payload_bytes_are_refused(registry):
    spec = registry.predictor(f"mix:{CM}+ngram(order=2;memory_mib=1),chunk=500")[2]
    payload, _ = registry.build(spec).encode_symbols(np.frombuffer(TEXT[:1200], np.uint8))
    with pytest.raises(HarnessError, match="payload sizes do not add up"):
        registry.build(spec).decode_symbols(payload[:-1], 1200)
    with pytest.raises(HarnessError, match="more chunks than payload bytes"):  # refused before a list of them
        registry.build(spec).decode_symbols(payload, 500 * 10**12)


def test_a_mix_written_before_a_member_recorded_a_key_decodes_and_without_earlier_configs_is_refused(
    registry, monkeypatch
):
    """A member's `earlier_configs` (the configs its files had before an option or key was added)
    hold for it inside a mix too: a mix is not refused for what its member accepts alone."""
    spec = "mix:order0+ngram(order=2;memory_mib=1)"
    encoded = container.encode(TEXT[:600], spec, registry.build(spec))
    ngram = registry.predictor("ngram")[0]
    recorded = ngram.static_config
    monkeypatch.setattr(ngram, "static_config", classmethod(lambda cls, settings: {**recorded(settings), "isa": "X"}))
    without = classmethod(lambda cls, config: iter([config, {k: v for k, v in config.items() if k != "isa"}]))
    monkeypatch.setattr(ngram, "earlier_configs", without)
    assert container.decode(wire.unpack(encoded.container), registry.build(spec)) == TEXT[:600]
    monkeypatch.setattr(ngram, "earlier_configs", classmethod(lambda cls, config: iter([config])))
    with pytest.raises(HarnessError, match="members"):
        container.decode(wire.unpack(encoded.container), registry.build(spec))
