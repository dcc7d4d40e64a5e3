"""The context-mixing predictor `cm`: round trips, what its models are for, segments, options."""

from __future__ import annotations

import numpy as np
import pytest

from harness import container, wire
from harness.errors import HarnessError
from harness.predictor import Predictor, SequenceCoder, typed_options
from plugins import cm
from plugins.cm import ContextMixing

SMALL = {"memory_mib": 2, "history_mib": 1}
RNG = np.random.default_rng(7)
TEXT = b"".join(
    b"%d. The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n" % i
    for i in range(200)
)


def _code(data: bytes, **settings: object) -> tuple[container.Encoded, ContextMixing]:
    """Encode with one instance, decode with a fresh one, check; return the encoding and encoder."""
    encoder = ContextMixing(**{**SMALL, **settings})
    encoded = container.encode(data, "cm", encoder)
    decoded = container.decode(wire.unpack(encoded.container), ContextMixing(**{**SMALL, **settings}))
    assert decoded == data
    assert encoded.symbols == len(data)  # byte-level: the container streams it
    return encoded, encoder


def _records(rows: int) -> bytes:
    """Rows of 37 bytes: a 4-byte counter, a separator, one of four 8-byte labels, 20 columns that
    each drift slowly (a random walk that moves one step in 1 row of 5) and 4 random bytes."""
    i = np.arange(rows)[:, None]
    counter = (i >> np.array([24, 16, 8, 0])) & 255
    labels = np.frombuffer(b"alpha   beta    gamma   delta   ", dtype=np.uint8).reshape(4, 8)
    walk = np.cumsum(RNG.choice([-1, 0, 0, 0, 0, 0, 0, 0, 0, 1], (rows, 20)), axis=0) + RNG.integers(0, 256, 20)
    table = np.hstack(
        [counter, np.full((rows, 1), 0x1F), labels[RNG.integers(0, 4, rows)], walk, RNG.integers(0, 256, (rows, 4))]
    )
    return (table % 256).astype(np.uint8).tobytes()


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"a", TEXT, RNG.bytes(5000), bytes(3000), b"abc" * 2000, _records(100)],
    ids=["empty", "zero", "one", "text", "random", "zeros", "repeats", "records"],
)
def test_round_trip(data):
    _code(data)


def test_text_codes_well():
    encoded, _ = _code(TEXT)
    assert 8 * encoded.payload_bytes / len(TEXT) < 0.2  # the lines differ only in their numbers (0.06)


def test_random_bytes_cost_about_eight_bits():
    data = RNG.bytes(20_000)
    encoded, _ = _code(data)
    assert 8 * encoded.payload_bytes / len(data) < 8.05  # 8.014 measured
    assert encoded.symbol_bits.shape == (len(data),)
    assert abs(encoded.symbol_bits.sum() - 8 * encoded.payload_bytes) < 64


def test_match_model_codes_a_repeated_random_block():
    block = RNG.bytes(20_000)
    encoded, _ = _code(block + block)
    first, repeat = encoded.symbol_bits[: len(block)], encoded.symbol_bits[len(block) :]
    assert first.mean() > 7.9
    assert repeat.mean() < 0.2  # 0.08 measured; no context model has seen random bytes twice: the match model


def test_a_run_context_keeps_the_byte_that_followed_it_last_and_how_often_in_a_row():
    _, encoder = _code(b"abcX." * 5 + b"abcY." + b"abcX." * 2 + b"abc")
    order3 = cm._RUN_CONTEXTS.index(1)  # the order-3 context: "abc" before the next byte
    registers = encoder._model.reg
    assert registers[cm._RUN + order3] == ord("X") | 256  # the byte it predicts
    assert registers[cm._RUN + cm._N_RUN + order3] == 2  # the Y ended the run of 5


def _word(letters: bytes) -> int:
    """A word's hash as the model folds it, letter by letter."""
    h = 0
    for letter in letters:
        h = cm._hash(h, letter)
    return h


def test_the_word_contexts_know_what_followed_the_word_before_and_the_letters_across_words():
    _, encoder = _code(b"the cat sat. the dog ran. THE cow, the ")
    registers, model = encoder._model.reg, encoder._model
    assert registers[cm._W1] == _word(b"the") and registers[cm._W0] == 0
    # The word that followed "the" last time (case folded: "THE cow"), the indirect word context's key.
    assert model.wnext[registers[cm._W1] & (cm._WORDS - 1)] == _word(b"cow")
    # The last 6 letters whatever separates them: "wthe" of "cow, the ", 5 bits each (a = 1).
    assert registers[cm._TEXT0] & 0xFFFFF == (ord("w") - 96) << 15 | (ord("t") - 96) << 10 | (ord("h") - 96) << 5 | 5
    assert registers[cm._TEXT0] >> 20 == (ord("c") - 96) << 5 | (ord("o") - 96)


def test_the_text_contexts_know_the_nesting_the_lines_first_word_and_what_followed_a_word():
    _, encoder = _code(b'if (a[i] == "x") {\n  call(f(b), "a [b')
    registers, model = encoder._model.reg, encoder._model
    # Open: { and the ( of call, a quote, a [ (brackets count inside quotes); [i], "x", (...) and f(b) closed.
    assert registers[cm._NEST] == ord("{") << 24 | ord("(") << 16 | ord('"') << 8 | ord("[")
    assert registers[cm._LINE_WORD] == _word(b"call")  # the first word this line (the first line's was "if")
    _, encoder = _code(b"the cat, the; the")
    model, registers = encoder._model, encoder._model.reg
    # The bytes that followed the last two occurrences of "the" before this one.
    assert model.wtail[registers[cm._W0] & (cm._WORDS - 1)] == ord(" ") << 8 | ord(";")
    # And where the last whole "the" ended: after its ";", 13 bytes in (the word's distance context).
    assert model.wlast[_word(b"the") & (cm._WORDS - 1)] == 13


def test_the_binary_contexts_say_nothing_in_text():
    text, binary = _code(TEXT[:3000])[1], _code(_records(100))[1]
    binary_contexts = range(cm._IN_BINARY, cm._N_HASHED)
    assert list(text._model.h[binary_contexts]) == list(binary_contexts)  # constants: no slots taken
    assert cm._lagged(binary._model.reg)
    assert all(binary._model.h[k] != k for k in binary_contexts)


def test_a_mixer_sure_and_right_does_not_move_its_weights():
    """A first-layer mixer learns nothing from a bit it predicted within _SURE / 4096: after a
    long run of zeros every mixer is sure, and more zeros leave every weight as it was."""
    model = ContextMixing(**SMALL).bit_streams(6000, [0])[0]

    def zeros(count: int) -> None:
        for _ in range(8 * count):
            cm._predict(model)
            cm._update(model, 0)

    zeros(5000)
    weights, counts = model.w.copy(), model.wn.copy()
    zeros(1000)
    assert (model.wn - counts).sum() == cm._mixers(model.reg) * 8 * 1000  # every mixer on saw every bit
    assert np.array_equal(model.w, weights)


def test_the_hashed_mixers_mix_text_and_binary_data_but_not_a_tables_records():
    text, binary = _code(b"plain words in a line of text " * 40)[1], _code(RNG.bytes(4000))[1]
    table = _code(_records(2000))[1]
    hashed_sets = slice(cm._MIX_AT[cm._N_MIX - cm._N_TEXT_MIX], None)
    assert cm._mixers(text._model.reg) == cm._N_MIX
    assert text._model.wn[hashed_sets].sum() == cm._N_TEXT_MIX * 8 * 1200  # every bit of the 1,200 bytes
    assert cm._lagged(binary._model.reg) and cm._mixers(binary._model.reg) == cm._N_MIX
    assert binary._model.wn[hashed_sets].sum() == cm._N_TEXT_MIX * 8 * 4000
    assert table._model.reg[cm._IMAGE] == 1 and cm._mixers(table._model.reg) == cm._N_MIX - cm._N_TEXT_MIX
    # In the table only while the image model was off (its first rows, before the record length was found).
    assert table._model.wn[hashed_sets].sum() < cm._N_TEXT_MIX * 8 * len(_records(2000)) / 4


def test_record_length_is_found_and_used():
    data = _records(400)
    encoded, encoder = _code(data)
    assert encoder._model.reg[cm._RLEN] == 37  # the record length the record model uses
    # About 46 bits of noise per row (1.25 bits/byte); 1.88 measured, xz -9e takes 2.65.
    assert 8 * encoded.payload_bytes / len(data) < 2.2


def _sheet(rows: int, columns: int) -> bytes:
    """A spreadsheet as BIFF2 (kennedy.xls) writes it: a 13-byte record per cell, row by row: a
    4-byte header (the type, 2 a number or 5 a blank; the length, 9), the row, the column, 3
    attribute bytes and 2 of value. Each column has answers of its own (4 codes of 0-99 in
    proportions of its own, 1.57 bits a cell on average), and a cell in 3 is blank, at random:
    the cell above says little, the column and the type say it all."""
    rng = np.random.default_rng(5)
    codes, weights = rng.integers(0, 100, (columns, 4)), rng.dirichlet(np.ones(4), columns)
    out = bytearray()
    for row in range(rows):
        for col in range(columns):
            blank = rng.random() < 1 / 3
            value = 0 if blank else codes[col, rng.choice(4, p=weights[col])]
            out += bytes([5 if blank else 2, 0, 9, 0, row & 255, row >> 8, col, 0, 0, 0, 0, value, blank])
    return bytes(out)


def test_a_tables_columns_are_coded_by_their_own_values_and_type():
    data = _sheet(200, 40)
    encoded, _ = _code(data)
    # The floor (the types and the answers, known distributions) is 1,968 bytes; v9, with the
    # column and the cell above but not the type nor the column's stationary map, took 3,834; v10 2,840; v12 2,768.
    assert encoded.payload_bytes < 3000


def _picture(rows: int = 400, width: int = 32) -> bytes:
    """A bilevel image, rows of `width` bytes (8 pixels each, the first the high bit): 25 discs
    (each flips the pixels it covers) and 10 lines of random slopes, 2-D shapes whose pixels the
    pixels above them predict, not the bytes before them."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[:rows, : width * 8]
    ink = np.zeros((rows, width * 8), dtype=bool)
    for _ in range(25 * rows // 400):
        cy, cx, radius = rng.integers(0, rows), rng.integers(0, width * 8), rng.integers(4, 20)
        ink ^= (y - cy) ** 2 + (x - cx) ** 2 < radius**2
    for _ in range(10 * rows // 400):
        slope, start = rng.uniform(-2, 2), rng.integers(0, rows)
        ink |= np.abs(y - (slope * x + start)) < 1.5
    return np.packbits(ink, axis=1).tobytes()


def test_a_bilevel_image_is_coded_by_its_pixel_templates():
    data = _picture()
    encoded, encoder = _code(data)
    registers = encoder._model.reg
    assert registers[cm._RLEN] == 32 and registers[cm._IMAGE] == 1  # rows found, the image model on
    # v3, with the bytes above but no per-pixel templates, took 1,331 bytes (0.83 bits/byte), xz -9e
    # 2,588; v4 943 (0.59); v15 992 (0.62: its five more templates have more to learn in a small
    # picture, and take 441 bytes off calgary/pic).
    assert 8 * encoded.payload_bytes / len(data) < 0.65


def test_a_page_wide_picture_gets_weight_sets_and_sse_by_pixels_and_a_table_does_not():
    page = _picture(800, 96)  # rows of 768 pixels, 75 KiB: past the first 32 KiB pixels decide
    encoded, encoder = _code(page)
    assert encoder._model.reg[cm._PICTURE] == 1
    # 0.3937 bits/byte measured; with the byte model's weight sets and SSE (the picture flag
    # never on) 0.3996.
    assert 8 * encoded.payload_bytes / len(page) < 0.397
    _, encoder = _code(_records(2000))  # the image model is on in a table too, but not as a picture
    assert encoder._model.reg[cm._IMAGE] == 1 and encoder._model.reg[cm._PICTURE] == 0


def test_text_does_not_turn_the_image_model_on():
    _, encoder = _code(TEXT * 3)
    assert encoder._model.reg[cm._IMAGE] == 0


def test_segments_carry_the_model_over(monkeypatch):
    data = TEXT + RNG.bytes(3000) + TEXT
    whole, _ = _code(data)
    monkeypatch.setattr(wire, "SEGMENT_SYMBOLS", 4096)
    segmented, _ = _code(data)
    assert wire.unpack(segmented.container).segment == 4096
    # Each segment flushes the coder (a few bytes); a model restarted per segment would cost kilobytes.
    assert segmented.payload_bytes < whole.payload_bytes + 8 * (len(data) // 4096 + 1)


def test_it_is_a_sequence_coder_not_a_step_predictor():
    """It codes 8 binary decisions per byte: it has no byte distribution to give."""
    assert issubclass(ContextMixing, SequenceCoder) and not issubclass(ContextMixing, Predictor)
    assert not hasattr(ContextMixing(**SMALL), "predict")


@pytest.mark.parametrize(
    "raw", [{"memory_mib": "0"}, {"memory_mib": "9999"}, {"history_mib": "0"}, {"match_min": "2"}, {"match_min": "x"}]
)
def test_options_out_of_bounds_are_refused(raw):
    with pytest.raises(HarnessError):
        typed_options(ContextMixing, raw)
    with pytest.raises(HarnessError):
        ContextMixing(**{key: int(v) if v.isdigit() else v for key, v in raw.items()})


def test_memory_estimate_covers_the_tables():
    settings = {**SMALL, "match_min": 6}
    predictor = ContextMixing(**settings)
    full = predictor.params
    tables = sum(a.nbytes for a in predictor._model_for(wire.SEGMENT_SYMBOLS) if isinstance(a, np.ndarray))
    estimate = ContextMixing.memory_estimate(settings, 0)  # the same for any settings
    assert tables <= estimate < 2 * tables
    assert predictor.params == full > (2 << 20) // 16 * 15  # at least the states of every slot


def test_a_short_input_gets_tables_its_size_and_codes_the_same_with_them():
    """A 4 KB file touches 16 MiB of slots rather than 128 (page faults were most of its time)."""
    data = (b"a short text, " * 300)[:4000]
    small, large = ContextMixing(), ContextMixing()
    small.encode_symbols(small.to_symbols(data))
    large.encode_symbols(large.to_symbols(data * 20))  # 80 KB: past 64 KiB, the slots are full size
    assert small.params < large.params / 4
    assert (
        container.decode(wire.unpack(container.encode(data, "cm", ContextMixing()).container), ContextMixing()) == data
    )


def test_a_hint_is_an_input_its_mixers_learn_to_trust():
    """`mix` hands cm another model's prediction as a hint (`_hint`): given the coming bit itself
    (as log-odds of +-4), cm learns to follow it and codes random bytes far below 8 bits each."""
    data = RNG.integers(0, 256, 3000)
    model = ContextMixing(**SMALL).bit_streams(len(data), [0])[0]
    bits = 0.0
    for byte in data:
        for shift in range(7, -1, -1):
            y = int(byte >> shift) & 1
            cm._hint(model, 1, 4.0 if y else -4.0)
            p = cm._predict(model) / 4096
            bits -= np.log2(p if y else 1 - p)
            cm._update(model, y)
    assert bits < 2 * len(data)


def _x86_code(instructions: int) -> bytes:
    """Machine code's shape: random instructions of 1-7 bytes (E8s among them by chance), one in 6
    a CALL (E8) of one of 40 functions, as x86 writes it: the target less the address after it.
    Its own generator: the same bytes whichever tests ran before in this process."""
    rng = np.random.default_rng(86)
    functions = rng.integers(0, 1 << 20, 40)
    out = bytearray()
    for _ in range(instructions):
        if rng.random() < 1 / 6:
            offset = (int(rng.choice(functions)) - (len(out) + 5)) & 0xFFFFFFFF
            out += b"\xe8" + offset.to_bytes(4, "little")
        else:
            out += rng.bytes(int(rng.integers(1, 8)))
    return bytes(out)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize(
    "rewrite, alphabet, tail",
    [
        (cm._x86_targets, [0x00, 0xFF, 0xE8, 0xE9, 0x5A], 0),
        (cm._sparc_targets, [0x40, 0x7F, 0x0A, 0xFA, 0x00, 0xFF, 0x5A], 2),
    ],
    ids=["x86", "sparc"],
)
def test_call_rewrites_come_back_whatever_the_bytes(rewrite, alphabet, tail, seed):
    """Candidates everywhere, overlapping: x86's E8/E9 with 00 and FF bytes (a first version let
    one rewrite change the byte that decided an earlier candidate, and did not come back); SPARC's
    near-call words (40 or 7F, then a sign nibble of 0 or F) among others, 2 bytes left over
    (`tail`: no word, never rewritten)."""
    data = np.random.default_rng(seed).choice(np.array(alphabet, dtype=np.uint8), 4002)
    forward = data.copy()
    rewrite(forward, True)
    assert (forward != data).any() and (forward[len(data) - tail :] == data[len(data) - tail :]).all()
    back = forward.copy()
    rewrite(back, False)
    assert (back == data).all()


def test_x86_code_is_coded_with_call_targets_and_other_data_without(monkeypatch):
    code = _x86_code(20_000)
    assert cm._looks_x86(np.frombuffer(code, dtype=np.uint8))
    assert not any(cm._looks_x86(np.frombuffer(d, dtype=np.uint8)) for d in (TEXT, _records(300), _picture()))
    rewritten, _ = _code(code)  # decoded and compared
    monkeypatch.setattr(cm, "_X86_SHARE", 0)  # no input looks like x86 code
    plain, _ = _code(code)
    assert rewritten.payload_bytes < 0.95 * plain.payload_bytes  # 72,062 against 78,341 measured


def _sparc_code(instructions: int) -> bytes:
    """SPARC code's shape: big-endian 32-bit words, random (calls among them by chance), one in 8
    a CALL (top bits 01) of one of 40 functions, as SPARC writes it: the target's word index less
    the call's. Its own generator, as `_x86_code`'s."""
    rng = np.random.default_rng(32)
    functions = rng.integers(0, 1 << 14, 40)
    words = rng.integers(0, 1 << 32, instructions, dtype=np.int64)
    calls = np.nonzero(rng.random(instructions) < 1 / 8)[0]
    words[calls] = 1 << 30 | (rng.choice(functions, len(calls)) - calls) & ((1 << 30) - 1)
    return words.astype(">u4").tobytes()


def test_sparc_code_is_coded_with_call_targets_and_other_data_without(monkeypatch):
    code = _sparc_code(20_000)
    assert cm._looks_sparc(np.frombuffer(code, dtype=np.uint8))
    others = (TEXT, _records(300), _picture(), _x86_code(20_000), _sheet(50, 40))
    assert not any(cm._looks_sparc(np.frombuffer(d, dtype=np.uint8)) for d in others)
    rewritten, _ = _code(code)  # decoded and compared
    monkeypatch.setattr(cm, "_SPARC_SHARE", 0)  # no input looks like SPARC code
    plain, _ = _code(code)
    # 74,051 against 76,624 measured: the random words (7 in 8) take 70,000 bytes either way
    assert rewritten.payload_bytes < 0.97 * plain.payload_bytes
