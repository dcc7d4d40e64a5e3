"""Context mixing (PAQ/lpaq family): many bitwise models mixed online, compiled with numba.

Each byte is coded as 8 binary decisions, most significant bit first. Before each bit the model
gives p = P(bit = 1) in 12 bits (1..4095 of 4096); the coded distribution is (1 - p/4096, p/4096),
turned into integer frequencies by the shared `coder.quantize` and coded by the shared range coder
on a 2-symbol alphabet. The predictor is still byte-level (`to_symbols` is the bytes): its compiled
loop codes 8 decisions per byte, so the container streams it in segments and counts one symbol a
byte. It is a `SequenceCoder`, not a step `Predictor`: a 256-way distribution would need the
model run along all 255 nodes of the byte's binary tree, and a step predictor's compiled loop must
write the bits of the default 256-symbol loop, which 8 binary decisions cannot. Why bits: a
binary model updates after every bit, so a byte's later bits are predicted with what its first
bits taught, and each model needs one number per context and bit.

Notation: c0 is the partial byte with a leading 1 (1, then 1b7, 1b7b6, ...), c1 c2 ... the bytes
before; st(p) = ln(p / (1 - p)) and squash = st^-1, in fixed point: st in -2047..2047 is 256
times the log-odds and squash(x) = 4096 / (1 + e^(-x/256)) (integer tables computed once).

Models (each gives the mixer one input, st of its probability):

- Context models: orders 0 and 1 (indexed directly), hashed orders 2, 3, 4, 5, 6, 8 and 12; the
  current word (hash of its letters, case folded); the word with the word before, with the one
  before that, and with both; the word with the bytes between it and the word before (a space, a
  quote, a line break); the word with the word that followed the word before the last time the word
  before was seen (an indirect word context: a table of a word per hash of a word); the last 6
  letters whatever separates them, with c1's class; the classes of the last 8 bytes (capital, small
  letter, digit, space, newline, other control, phrase punctuation, other) with c1, the shape of the
  text around a word whatever its letters; c1 with the position in a 4-byte word (instructions and
  fields of 4 bytes); sparse contexts c2c3, c2c4, c3c4, c1c3, c2 alone, c4c5 and c5c6 (skipping
  bytes, for binary data of 2- and 4-byte fields and instructions, and a table's column number a few
  bytes back); indirect contexts, c1 and c2c1 each with the two bytes that followed their last two
  occurrences (what came next the last times this context was seen: a table of 2 bytes per byte
  value and per pair); record contexts (the bytes one and two records above, and the byte above with
  c1); an image context for bilevel pictures whose rows are records (the bytes above and above-right
  whole, the 3 pixels nearest to this byte of the byte above-left and of c1); a text-column context
  (the byte in the same column of the previous line, and the column). Text contexts, in a picture
  none (each hashes to a constant and says nothing): the word with the two innermost open brackets
  or quotes (( [ { open until their closing byte, a double quote until the next), the nesting of
  source code and quoted speech; the word with the first two bytes of its line (a bibliography's
  field name, a mail header, a quote's "> "); the column with the line's first byte and c1's class,
  and with the length of the line before (verse, tables, hard-wrapped prose); the classes of the
  last 10 bytes, alone and with c1c2; the first word of the line with c1; the bytes that followed
  the last two occurrences of the word so far, with the word's length and c1 (an indirect
  context per word: a table of 2 bytes per word hash); the word in this 1 KiB block (the words of a
  passage); the word with the word three before and c1, and with the word before and c1; the bytes
  between the word before and this one, with the word before, the bytes before it and the word
  before that (the shape of a phrase); the high nibbles of the last 8 bytes (a space's 0: the rough
  kind of each byte, whatever it is); the line itself (where it starts: what this line has said);
  the word with how far back it was last seen (log scale: a name that recurs in a passage); the
  line's first byte with c1; the word with the word two before and c1. Binary contexts, in binary
  data only (where the lagged pairs are on, below; else each hashes to a constant and says
  nothing): c1c2 and c1c2c3 each with the position in a 2- and a 4-byte word (instructions and
  fields), c1 with c4, c1 with the high nibbles of c2..c4, c1c2 with c5c6, and c1 with the
  distance to the last 0 byte (a string's or a record's end). A context not yet seen at this bit's
  node gives 0 (says nothing), whatever its statemap learnt of fresh contexts. Each context keeps a
  bit-history state per node of its byte's binary tree: a state stands for a pair of counts (n0,
  n1), at most 252 of them (long one-sided runs exact, mixed histories coarse); after a bit the
  opposite count n > 3 becomes 3 + (n - 3) // 2, so a context that changed its mind is believed
  again soon. A state becomes a probability through an adaptive statemap per context kind: sm[s]
  starts at (n1 + 1/2) / (n + 1) and after each bit y moves sm[s] += (y - sm[s]) / (k + 1.5), k the
  number of updates so far (capped at 1023), so it converges to the real frequency of 1s in state s.
  Hashed contexts live in one table of 16-byte slots, one slot per context and nibble (a check byte
  and the states of the nibble's 15 tree nodes), looked up twice a byte; a lookup searches 3 slots
  of one cache line and, finding no matching check byte, empties the one whose first state has the
  fewest counts.
- Match model: the last occurrence of the last `match_min` bytes (a hash into a table of
  positions in a ring of history) is verified backwards; while it keeps predicting right, the
  byte that followed it predicts the next bit. Three inputs: a statemap over (length bucket,
  predicted bit), so confidence grows with the match length as learned, one over (expected byte,
  c0), which also learns how a mismatch tends to go, and the length itself (up to 32, times 32,
  signed by the predicted bit: linear, not stretched).
- Run contexts: orders 2, 3, 4, 5, 6 and 8, the word and the word pair each keep, in a table of
  their hashes (a check byte, no search: a new context takes the entry), the byte that followed
  them last and how many times in a row it did (up to 255). While this byte's bits so far agree
  with that byte, its next bit is predicted through a statemap over (the count, up to 31; the bit)
  per context, else the input is 0 (in a picture too: its pixels have the image model). A
  bit-history state per node sees the bits, not which byte they made.
- Record model: a record length r is a distance that twice in a row separates equal bytes, once
  8 votes more (majority vote) stand for it than against; then the byte r back predicts the next
  bit through a statemap over (how many bytes in a row it was right, predicted bit).
- Bilevel image model, for pictures of 1 bit per pixel (most significant first) whose rows are
  records of r bytes, r the record length above, at least 8. The bit coded is a pixel; the pixels
  before it in its row are the bits of c0 coded so far and then c1, c2, ... (the nearest first), the
  rows above are the bits of the bytes r, 2r, ..., 8r back and of their neighbours on each side (a
  window of 24 pixels per row, read once a byte, shifted by the bit position so that the pixel
  straight above is in one place). Thirteen templates of these pixels, JBIG-like: 2 left + 5 above +
  3 two rows up (10 pixels); 4 left + 7 above (11); that + 5 two rows up (16); a column 3 pixels
  wide, 4 rows up, and 2 left (14); 8 left + 3 above (11); 6 left + 9 + 7 + 3 from three rows (25);
  8 left + 13 + 9 + 5 + 3 from four rows (38); 12 left + 17 above (29); and three small ones, which
  learn fast: 1 left + 3 above (4); 1 left + a column 2 pixels wide (above and above-left), 4 rows
  up (9); 3 left + the pixels straight above in 3 rows (6); and two tall ones: 1 left + the pixels
  straight above in 8 rows (9); 1 left + the 2-pixel column 6 rows up (13). A pattern of up to 16
  pixels indexes its own statemap directly, a longer one is hashed into 2^21 entries (no check:
  collisions are rare and merely noise). Each template gives three inputs: the statemap's st(p) over
  the pattern (the adaptive frequency of a black pixel after it), a bit-history state kept per
  pattern (the context states above) through a statemap per template, and p - 1/2 unstretched (p in
  12 bits, halved), which lets the mixer weigh near-certain patterns linearly.
  When it is on: the detection is from the bytes alone. While r >= 8 the 10-pixel template is
  kept up to date, and after each bit g += (cost_T - cost_1) - g / 1024, cost_T and cost_1 the
  bit's -log2 P in 1/64 bit under the template and under the order-1 context, so g is 1024
  times their average difference. The model goes on where g < -1024 (the template predicts
  better than order 1 by 1/64 bit a bit) and off where g > 8192 (or r < 8); the hysteresis keeps
  it on across blank stretches of a page, where both cost nothing. While off, its inputs are not
  computed and not mixed (text, whose record lengths are chance distances, codes as without it).
  While on, it adds inputs, and where the rows are a picture it also chooses weight sets and SSE
  contexts: records that are not pictures (a spreadsheet's) turn it on too, but their bytes are
  predicted better by the byte above than by pixels, so it also keeps q += (cost_T - cost_R) -
  q / 65536, cost_R the bit's cost under the byte above with c1 (a record context), and the rows
  are a picture where q < -32768 (pixels beat bytes by 1/128 bit a bit) once 32 KiB are seen (at
  the start fresh contexts favour any small template), no longer where q > 65536. In a picture the
  match-length and c2 mixers choose their weight sets by the 10- and 11-pixel patterns, the c1 one
  by the 9-pixel one and the orders-seen one by the 6- and 4-pixel ones together, the final mixer
  by the 11-pixel one, and the two SSE contexts are the 14- and 16-pixel patterns.
- Lagged pairs, in binary data: for each lag L from 2 to 7, the pair of bytes L and L + 1 back
  with the three bytes 5 to 7 before the pair (the field), hashed with the byte that came L after
  the last occurrence of that pair (a table of one byte per lag and pair). In a table whose rows
  are records with a 2-byte column number, the pair is the column, the bytes before it the
  record's type (a spreadsheet's cells of one column are numbers in one row, blanks in the
  next, and the type says which), and the byte is this field in the row above, however long the
  rows; in code, the pair is an instruction's opcode and the byte the operand that followed it
  last time. The field alone also indexes a stationary map (below): the distribution of a column's
  values, whatever the row above held. They are
  on where control bytes (0-8, 11, 14-31 and 127: bytes that text does not have) are at least 1
  in 64 of the recent bytes (a += (x * 65536 - a) / 1024 after each byte, x 1 for a control
  byte, else 0; on where a >= 1024), and not in a picture (whose rows the image model has).
  Off, each of their contexts hashes to a constant and its input is 0, so text codes as without
  them and their slots do not crowd the hash table.
- Stationary maps: twelve of the contexts (c5c6, c4c5, orders 2, 3, 4 and 5, the word, the word with
  the one before and with the one before that, the classes with c1, the indirect c1, the text
  column) and, in binary data, the six lagged pairs' fields also index a table of 2^22 adaptive
  probabilities each: per nibble, the context hashed with the byte's bits before the nibble picks 16
  entries (a cache line), the node of the nibble's tree one of them (no check: a collision is
  noise); learnt as the statemaps (rate 1 / (n + 1.5)); off, the fields' maps are neither read nor
  learnt and their inputs are 0. A bit-history state forgets; where a context's bits come from a
  fixed distribution (a column of survey answers, the letters after a word) the frequency the map
  converges to predicts better.
- A bias input (constant 256), and two hints: other models' st(p) for this bit, given by `mix`
  (`_hint`), 0 when cm codes alone (an input of 0 adds nothing and its weights never move, so
  alone cm codes as if it had no such inputs).

Mixing: eighteen mixers each compute x = sum_i w_i * s_i over the inputs s_i with a weight set
chosen by a small context, and p_k = squash(x). The contexts: c0 with the record run, up to 7; match
length bucket and bit position; c1 and bit position; c0 with how many of the long contexts (hashed
orders 2-8 and the word pair) have a state other than the empty one at this bit's node (0..6, how
much of the past this bit's contexts have seen); c2 and bit position; c0 with the letters of the
current word so far (up to 7); the column in the line (up to 127) and bit position; c1 with the
record run, up to 7 (a table's cell whose byte above repeats); the classes of the last 3 bytes and
bit position (not in a picture, where its output is 0); and nine with 32768 weight sets each chosen
by a hash, off in a picture and where the image model is on in binary data (a table's records): in
text the classes of the last 4 bytes and c0; the word's first letter and length (up to 7) and c0;
c2's class, c1 and c0; the innermost open bracket or quote, the word's length and c0; the word so
far and c0; the column (up to 255), c1's class and c0; c1c2 and c0; the byte the match expects, its
length class (below) and c0; the word and the word before, and c0; in binary data instead c1, c2,
c3, c4 each with c0, c1 with the position in a 4-byte word and c0, the byte a record above with the
record run and c0, c2 with the position in a 2-byte word and c0 (c1c2's and the match's the same).
Six final mixers of the same kind each mix the eighteen x's, with weights chosen by c0 and match
length (none, under 16 bytes, under 4096, longer); by c0 and how many long contexts have seen this
node; by c1 and bit position; by c2 and bit position; by c0 and the letters of the word so far; by
c0 and the classes of the last 4 bytes (hashed into 32768 rows). The final x is their average (in a
picture the first alone, its weights by the 11-pixel pattern): each learns how far to trust each
first-layer mixer where its own context says.
Every mixer learns online by gradient descent on the coding loss:
after bit y, w_i += lr * (y - p_k) * s_i (the derivative of -ln P(y) in the stretch domain),
with a first-layer rate that starts 25 times higher and decays with the bytes seen (1 + 24 *
65536 / (65536 + bytes)), so small files learn fast, and the same with the bits a weight set has
learnt (1 + 24 * 512 / (512 + bits)) where that is higher: a weight set seen little learns fast.
A first-layer mixer whose p_k was within 128/4096 of the bit learns nothing from it: near-certain
and right, its gradient is mostly noise (and skipping it is faster).

SSE (lpaq's APM): five tables refine the mixed p by context (c0 with c1; c0 with a hash of c1c2
in 2^16 rows; c0 with a hash of c1c2c3 in 2^18 rows; c0 with the match's expected byte and its
length up to 15, hashed in 2^16 rows; c0 with the word so far and c1, hashed in 2^16 rows), each
a row of 33 probabilities over st(p) in steps of 128, interpolated linearly; after each bit the
nearer entry moves 1/64 of the way to the bit. The coded p is (2p + 2 a1 + 3 a2 + 3 a3 + 2 a4 +
2 a5) / 14, in a picture (p + a1 + 2 a2) / 4 (its two tables' contexts are pixel patterns, and it
has no others), clamped to 1..4095.

x86 code: before a segment is coded, the encoder looks for x86's CALL and JMP with a 32-bit
offset (E8 or E9, then 4 bytes, little-endian) whose offset is near (its top byte 00 or FF).
Where at least one byte in 200 starts one (in x86-64 code about 1 in 30; in the text, tables and
other machines' code of the standard corpora at most 1 in 2,000), the segment's offsets are
rewritten as targets before coding, as zpaq and paq do: the 25 bits of the offset (the low three
bytes, and the top byte's sign) become the offset plus the position after it, modulo 2^25, the
top byte again 00 or FF by that sign. Calls to one function from all over the code then repeat
the same 4 bytes, which the contexts and the match model predict. The mapping is a bijection on
the operands it touches and leaves the bytes that decide where an operand is (the opcode and the
top byte; the 4 bytes after any E8 or E9 are taken as its operand, never as an opcode, so no
rewrite changes what decides another), so the decoder, told by the segment's first coded
decision (p = 1/4096 for "rewritten"), undoes it on the same operands after decoding.

SPARC code: where x86's are not rewritten, the encoder looks for SPARC's CALL, a big-endian
32-bit word at a position that is a multiple of 4 whose top two bits are 01, then a 30-bit
signed displacement in words; near where its bits 29 to 20 are all equal (within 2^20 words).
Where at least one word in 100 is one (in sum, SPARC code, 1 in 65; in the other standard files
at most 1 in 414; in a small bilevel picture of the tests 1 in 128: a rewrite where there are no
calls costs bits, never correctness), the segment's near calls are rewritten as targets: the 21
low bits of the displacement become it plus the word's index, modulo 2^21, bits 29 to 21 again
copies of bit 20. Whether a word is a near call depends only on the bits the rewrite keeps or
restores, so the decoder, told by the segment's second coded decision (coded only where the first
said no x86), undoes it on the same words. `mix` codes cm byte by byte without either rewrite.

Everything is integer arithmetic on deterministic tables, so encoder and decoder agree bit for
bit; all state (tables, history, registers) lives in arrays that carry over from one
encode_symbols call to the next, so the container's segments continue one model.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from harness import bitmix, coder, wire
from harness.hookspecs import hookimpl
from harness.jit import jit, jit_inline
from harness.predictor import Option, Progress, SequenceCoder, no_progress

# ---- bit-history states ------------------------------------------------------------------------
# A state stands for a pair of bit counts (n0, n1) seen in one context. With a = min and b = max,
# the pairs kept are b <= _LIMITS[a]: long runs are told apart, mixed histories only coarsely.
_LIMITS = (64, 32, 16, 11, 8, 7)


def _discount(n: int) -> int:
    """The opposite count after a bit: old evidence against the newest bit is partly forgotten,
    so a context that changed its mind is believed again soon."""
    return n if n < 4 else 3 + (n - 3) // 2


def _state_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(next state [256, 2], initial p(1) of each state in 22 bits, replacement priority)."""
    pairs = [(n0, n1) for n0 in range(_LIMITS[0] + 1) for n1 in range(_LIMITS[0] + 1) if _allowed(n0, n1)]
    pairs.sort(key=lambda pair: (pair[0] + pair[1], pair))
    index = {pair: i for i, pair in enumerate(pairs)}
    nex = np.zeros((256, 2), dtype=np.uint8)
    p1 = np.full(256, 1 << 21, dtype=np.int32)
    priority = np.zeros(256, dtype=np.int32)
    for (n0, n1), i in index.items():
        for y in (0, 1):
            own, other = (n1, n0) if y else (n0, n1)
            own, other = own + 1, _discount(other)
            while not _allowed(*((other, own) if y else (own, other))):
                if other > 0 and (other >= own or own <= _LIMITS[other - 1]):
                    other -= 1
                else:
                    own -= 1
            nex[i, y] = index[(other, own) if y else (own, other)]
        p1[i] = ((2 * n1 + 1) << 22) // (2 * (n0 + n1) + 2)
        priority[i] = n0 + n1
    return nex, p1, priority


def _allowed(n0: int, n1: int) -> bool:
    a, b = min(n0, n1), max(n0, n1)
    return a < len(_LIMITS) and b <= _LIMITS[a]


_NEXT, _STATE_P1, _PRIORITY = _state_tables()


def _squash_table() -> np.ndarray:
    """squash(x) = 4096 / (1 + e^(-x/256)) for x in -2047..2047, as integers 1..4095."""
    x = np.arange(-2047, 2048, dtype=np.float64)
    return np.clip(np.rint(4096.0 / (1.0 + np.exp(-x / 256.0))), 1, 4095).astype(np.int32)


def _stretch_table(squash: np.ndarray) -> np.ndarray:
    """stretch(p) = ln(p / (1 - p)) * 256 for p in 0..4095: the smallest x with squash(x) >= p."""
    return (np.searchsorted(squash, np.arange(4096), side="left") - 2047).clip(-2047, 2047).astype(np.int32)


def _char_class_table() -> np.ndarray:
    """A byte's class for the class context: 0 capital, 1 small letter, 2 digit, 3 space,
    4 newline, 5 other control or non-ASCII, 6 punctuation that ends a phrase, 7 any other."""
    classes = np.full(256, 7, dtype=np.int64)
    classes[:32] = classes[127:] = 5
    classes[65:91], classes[97:123], classes[48:58] = 0, 1, 2
    classes[32], classes[10] = 3, 4
    classes[list(b".,;:!?")] = 6
    return classes


_CHAR_CLASS = _char_class_table()
_CONTROL_BYTE = np.array([1 if b < 9 or b == 11 or 13 < b < 32 or b == 127 else 0 for b in range(256)], dtype=np.int64)
_SQUASH = _squash_table()
_STRETCH = _stretch_table(_SQUASH)
_COST = np.rint(-np.log2(np.maximum(np.arange(4097), 1) / 4096) * 64).astype(np.int64)

# ---- layout ------------------------------------------------------------------------------------
_LAGS = (2, 3, 4, 5, 6, 7)  # lagged pairs: a pair of bytes this far back, and what came this far after it last time
_IN_TEXT = 29  # the text contexts, silent in a picture (see _end_byte)
_IN_LAGGED = 46  # their hashed contexts and inputs, then the binary contexts': in binary data only
_IN_BINARY = _IN_LAGGED + len(_LAGS)
_N_HASHED = _IN_BINARY + 6  # hashed contexts, see _end_byte
_O0, _O1 = _N_HASHED, _N_HASHED + 1  # the order-0 and order-1 contexts, indexed directly
_N_CTX = _N_HASHED + 2
_IN_MATCH, _IN_EXPECT, _IN_RECORD = _N_CTX, _N_CTX + 1, _N_CTX + 2
# The bilevel image model's templates: the bits of each template's pixel pattern (a pattern of up
# to 16 bits indexes its statemap directly, a larger one is hashed to _IMG_HASHED bits).
_IMG_BITS = (10, 11, 16, 14, 11, 25, 38, 29, 4, 9, 6, 9, 13)
_IMG_HASHED = 21
_IMG_MASK = (1 << _IMG_HASHED) - 1
_N_IMG = len(_IMG_BITS)
# Orders 3, 4, 5, 6, the word, order 2, order 8 and the word pair: the byte that followed each last, and how often.
_RUN_CONTEXTS = (1, 2, 22, 3, 4, 0, 10, 5)
_N_RUN = len(_RUN_CONTEXTS)
_IN_RUN = _N_CTX + 3
_IN_STATIONARY = _IN_RUN + _N_RUN  # the stationary maps' inputs: an adaptive p per context hash and c0
_FIELDS = _N_HASHED  # then the lagged pairs' field hashes (no slots: stationary maps only), see _end_byte
# Hashed contexts c5c6, c4c5, orders 2 and 3, the word, the word pair, order 4, the classes, order 5, the word
# with the one before that, the indirect c1, the text column; then the fields, in binary data only.
_STATIONARY_CONTEXTS = (20, 21, 0, 4, 1, 5, 2, 24, 22, 15, 13, 11, *range(_FIELDS, _FIELDS + len(_LAGS)))
_N_STATIONARY = len(_STATIONARY_CONTEXTS)
_N_TEXT_STATIONARY = _N_STATIONARY - len(_LAGS)
_STATIONARY_BITS = 22  # entries per stationary map: 2^22 (fewer for a short input, see `_sizes`)
_RUN_ENTRIES = 1 << 22  # the run contexts' table (fewer for a short input)
_N_SM = _IN_STATIONARY + _N_STATIONARY  # the inputs that come from a statemap, then the bias and the hints
_IN_FIELD_MAPS = _IN_STATIONARY + _N_TEXT_STATIONARY  # the lagged pairs' fields' maps: inputs 0 in text
_N_HINTS = 2
_IN_BIAS, _IN_HINT = _N_SM, _N_SM + 1
_IN_MATCH_LENGTH = _IN_HINT + _N_HINTS  # the match length, signed by the bit it predicts (linear)
_N_BASE = _IN_MATCH_LENGTH + 1  # the inputs mixed always; the image model's follow, mixed only in an image
# Per template: the statemap over its pattern, the one over the pattern's bit-history state, and
# the first's p - 1/2 (linear, not stretched).
_IN_IMG, _IN_STATE, _IN_LINEAR = _N_BASE, _N_BASE + _N_IMG, _N_BASE + 2 * _N_IMG
_N_IN = _N_BASE + 3 * _N_IMG
_N_MIX = 18  # first-layer mixers (weight sets by c0, match length, c1, orders seen, c2, word, column, run, ...)
_N_TEXT_MIX = 9  # the last of them: by text contexts, by binary ones in binary data; the one before, not in a picture
_BYTE_SETS = 2048  # weight sets per mixer for the byte contexts, at most; a picture's follow them
_SETS = 2 * _BYTE_SETS
_N_BYTE_MIX = 9  # the mixers whose weight sets a byte context chooses; the others' a hash does
_HASHED_SETS = 1 << 15  # weight sets of each of those
_MIX_AT = tuple(  # where each mixer's weight sets start
    k * _SETS if k < _N_BYTE_MIX else _N_BYTE_MIX * _SETS + (k - _N_BYTE_MIX) * _HASHED_SETS for k in range(_N_MIX)
)
_ALL_SETS = _MIX_AT[-1] + _HASHED_SETS
_N_FINAL = 6  # final mixers, averaged; a picture has the first only
_FINAL_BYTE_ROWS = 1024  # the first's weight sets by c0 and the match length; a picture's 2048 (11 pixels) follow
# Then the other five's: by c0 and the orders seen (7 x 256), c1 and bit position, c2 and bit position, c0 and
# the letters of the word so far (8 x 256), the classes of the last 4 bytes and c0 (hashed).
_FINAL_AT = tuple(_FINAL_BYTE_ROWS + 2048 + k * 2048 for k in range(_N_FINAL - 1))
_FINAL_HASHED = 1 << 15  # the sixth's rows, chosen by a hash
_FINAL_ROWS = _FINAL_AT[-1] + _FINAL_HASHED
# Slots are 16 bytes: a check byte, then the states of the 15 nodes of a nibble's binary tree.
_SLOT = 16
_DIRECT = 256 + 65536  # states of the direct contexts, before the hashed slots
_DIRECT_ROWS = -(-_DIRECT // 64) * 4  # rounded up to whole cache lines
# Statemap sections: 256 per context (one per state), then the match length x bit, the expected
# byte x c0 and the record run x bit.
_SM_MATCH = _N_CTX * 256
_SM_EXPECT = _SM_MATCH + 64
_SM_RECORD = _SM_EXPECT + 512 * 256
_SM_IMG = _SM_RECORD + 33  # then a section per image template, an idle entry
_IMG_SIZES = tuple(1 << min(bits, _IMG_HASHED) for bits in _IMG_BITS)
_IMG_OFFSETS = tuple(_SM_IMG + sum(_IMG_SIZES[:k]) for k in range(_N_IMG))
_SM_STATE = _SM_IMG + sum(_IMG_SIZES)  # 256 per template
_SM_IDLE = _SM_STATE + 256 * _N_IMG
_SM_RUN = _SM_IDLE + 1  # 64 per run context: the run's count (up to 31) x the bit it predicts
_SM_STATIONARY = -(-(_SM_RUN + 64 * _N_RUN) // 16) * 16  # then 2^stationary_bits per stationary map
_APM_ROWS = 65536  # rows of the order-1 and order-2 SSE tables, and of the match and word ones
_APM3_ROWS = 1 << 18  # rows of the order-3 one
# Where each SSE table starts, in units of _APM_ROWS rows: order 1, order 2, order 3, match, word.
_APM_TABLES = (0, 1, 2, 2 + _APM3_ROWS // _APM_ROWS, 3 + _APM3_ROWS // _APM_ROWS)
_APM_TOTAL = (_APM_TABLES[-1] + 1) * _APM_ROWS


def _sm_size(stationary_bits: int) -> int:
    """Statemap entries, with stationary maps of 2^stationary_bits entries."""
    return _SM_STATIONARY + (_N_STATIONARY << stationary_bits)


_LIMIT = 1023  # statemap counts stop here (the low 10 bits of an entry): the rate stays >= 1 / 1024.5
_MIX_RATE = 2  # the mixers' learning rate in the long run...
_MIX_BOOST = 48  # ...plus this much while few bytes are seen, halved after _MIX_HALF bytes
_MIX_HALF = 1 << 16
_SET_HALF = 512  # and a weight set learns at least as fast as that boost halved after this many of its bits
_SURE = 128  # a mixer whose p was this near the bit (of 4096) learns nothing from it
_FINAL_RATE = 14
_APM_RATE = 6
_MAX_LEN = 65535
_VERIFY = 32  # bytes compared backwards when a match candidate is found
_RECORD_VOTES = 8  # a record length is used once its vote count reaches this
_IMAGE_MARGIN = 1024  # the image model goes on where its template beats order 1 by 1/64 bit a bit, on average
_MIN_ROW = 8  # and the rows are this many bytes (64 pixels) or more
_PICTURE_ON, _PICTURE_OFF = -32768, 65536  # a picture where its pixels beat the byte above by 1/128 bit a bit
_PICTURE_AFTER = 1 << 15  # and this many bytes are seen (until then fresh contexts favour small templates)
_PICTURE_ROW = 64  # and the rows are this many bytes (512 pixels) or more: records shorter are a table's

# Registers (slots of `reg`): the partial byte c0 (with a leading 1), bits of it done, the last 4
# bytes and the 4 before, bytes done; word hashes (this word, the one before) and line starts;
# match pointer, length and predicted bit; record length, candidate, votes and run; the first two SSE
# contexts; whether the image model is on and its average gain over order 1; the hints; the word
# before the word before, and the letters of this word so far; then the picture state, byte classes
# and control share, the third SSE context, the final mixers' weight sets, the run contexts' state,
# more word and line state, the last two SSE contexts and the image model's rows above (pixels).
_C0, _BITPOS, _C4, _C8, _POS = range(5)
_W0, _W1, _LINE, _LINE2 = range(5, 9)
_MPTR, _MLEN, _MBIT = range(9, 12)
_RLEN, _RCAND, _RVOTES, _RRUN = range(12, 16)
_A1, _A2 = range(16, 18)
_IMAGE, _IMG_COST = 18, 19  # the image model on; the smallest template's cost minus order 1's, averaged
_HINT = 20
_W2, _WLEN = _HINT + _N_HINTS, _HINT + _N_HINTS + 1
_PICTURE, _PIXEL_GAIN = _WLEN + 1, _WLEN + 2
_CLASSES = _WLEN + 3  # the classes of the last 10 bytes (_CHAR_CLASS), 3 bits each
_CONTROL = _WLEN + 4  # the share of control bytes among the last ~1024, 16.16: binary data or text
_A3 = _WLEN + 5  # the third SSE context
_FINAL_ROW = _WLEN + 6  # _N_FINAL slots: the final mixers' weight sets
_RUN = _FINAL_ROW + _N_FINAL  # per run context: the byte it expects | 256 (0: none), its count, its entry
_GAP = _RUN + 3 * _N_RUN  # a hash of the bytes between the word before and this one
_TEXT0 = _GAP + 1  # the last 6 letters (case folded), 5 bits each, whatever separates them
_GAP1, _W3 = _GAP + 2, _GAP + 3  # the bytes between the two words before (a hash); the third word back
_LINE_WORD = _GAP + 4  # the first word of this line (0 until one ends)
_NEST = _GAP + 5  # the open brackets and quotes, the innermost in the low byte (6 at most)
_NIBBLES = _GAP + 6  # the high nibbles of the last 8 bytes (a space's 0)
_A4, _A5 = _GAP + 7, _GAP + 8  # the match and word SSE contexts
_ROW = _GAP + 9  # 8 slots: the pixels of the rows 1..8 above around the next byte, 24 each
_N_REG = _GAP + 17
_BINARY = 1024  # binary data: 1 byte in 64 or more is a control byte (text has none)
_ORDERS = (0, 1, 2, 3, 10, 5)  # the hashed orders 2, 3, 4, 6, 8 and the word pair: the "orders seen" mixer
_IND_SIZE = 256 + 65536  # the indirect contexts' table: an entry per byte, then per pair of bytes
_WORDS = 1 << 16  # the indirect word context's table: the word that followed, per word hash
_X86_SHARE = 200  # a segment is x86 code where 1 byte in this many (or more) opens a near CALL or JMP
_SPARC_SHARE = 100  # a segment is SPARC code where 1 aligned word in this many (or more) is a near CALL
_FLAG_PROBS = np.array([4095 / 4096, 1 / 4096])  # a segment's first decisions: x86 offsets, SPARC calls rewritten
_CHUNK = 1 << 13  # bytes per compiled call: between them come progress reports and signals (Ctrl-C, kill)
_STREAM_FIELDS = ("h", "slot", "adr", "smi", "st", "mset", "md", "rpos", "reg")  # what each stream has of its own


class _Model(NamedTuple):
    t: np.ndarray  # uint8: direct states, then hashed slots
    it: np.ndarray  # uint8: a bit-history state per image template pattern (as the statemap sections)
    slots: int  # hashed slots
    stationary_bits: int  # each stationary map has 2^stationary_bits entries
    h: np.ndarray  # int64 (_N_HASHED,): each hashed context's hash for this byte
    slot: np.ndarray  # int64 (_N_HASHED,): the address of its slot for this nibble
    adr: np.ndarray  # int64 (_N_CTX,): the address of each context's state for this bit
    smi: np.ndarray  # int64 (_N_IN,): the statemap entry behind each input that has one
    st: np.ndarray  # int64 (_N_IN,): the inputs, stretched
    sm: np.ndarray  # uint32: statemap entries, p(1) in 22 bits << 10 | the updates so far (up to _LIMIT)
    w: np.ndarray  # int32 (_ALL_SETS * _N_IN,): first-layer weights, 16.16, a row per weight set
    wn: np.ndarray  # int32 (_ALL_SETS,): the bits each weight set has learnt (up to 2^20)
    wf: np.ndarray  # int32 (_FINAL_ROWS, _N_MIX + 1): final mixer weights
    mset: np.ndarray  # int64 (_N_MIX,): the weight set (row of `w`) each mixer used
    md: np.ndarray  # int64 (_N_MIX + 1 + _N_FINAL,): each mixer's output, stretched; the final average; each final's
    apm: np.ndarray  # uint16 (_APM_TOTAL * 33,): five SSE tables
    run: np.ndarray  # int32: per run context hash, its check << 16 | count << 8 | the byte that followed
    buf: np.ndarray  # uint8: history, a ring
    mt: np.ndarray  # int32: hash of the last match_min bytes -> position after them
    ind: np.ndarray  # int64 (_IND_SIZE,): the two bytes that followed each byte, each pair of bytes, last
    wnext: np.ndarray  # int64 (_WORDS,): per word (its hash's low 16 bits), the word that followed it last
    wtail: np.ndarray  # uint16 (_WORDS,): per word so far (its hash's low 16 bits), the bytes after its last 2
    wlast: np.ndarray  # int64 (_WORDS,): per word (its hash's low 16 bits), the position after its last occurrence
    after: np.ndarray  # uint8 (len(_LAGS), 65536): the byte that came lag bytes after each pair of bytes, last
    rpos: np.ndarray  # int64 (256, 2): last position of each byte value and the distance before it
    reg: np.ndarray  # int64 (_N_REG,)
    match_min: int
    squash: np.ndarray
    stretch: np.ndarray
    nex: np.ndarray
    priority: np.ndarray
    dt: np.ndarray  # int64 (_LIMIT + 1,): 65536 / (n + 1.5), the statemap rate after n updates
    cost: np.ndarray  # int64 (4097,): -log2(q / 4096) in 1/64 bits, the cost of a bit given p = q


@jit
def _hash(a: int, b: int) -> int:
    """A 32-bit hash of two values below 2**32."""
    h = (a * 0x2F0F3D6B + (b + 1) * 0x1E35A7BD) & 0xFFFFFFFF
    h ^= h >> 15
    h = (h * 0x2C1B3C6D) & 0xFFFFFFFF
    return h ^ (h >> 13)


@jit
def _find(t: np.ndarray, slots: int, priority: np.ndarray, h: int) -> int:
    """The address of the slot of hash `h`: one of 3 in its cache line whose check byte matches,
    else the one with the fewest counts behind it, emptied."""
    check = h & 255
    i = _DIRECT_ROWS + ((h >> 8) * slots >> 24)  # i ^ k stays in i's cache line: 4 slots of 16 bytes
    best, best_priority = -1, 1 << 30
    for k in range(3):
        a = (i ^ k) * _SLOT
        if t[a] == check:
            return a
        p = priority[t[a + 1]]
        if p < best_priority:
            best, best_priority = a, p
    t[best] = check
    for k in range(1, _SLOT):  # a loop: numba's slice assignment is slower here
        t[best + k] = 0
    return best


@jit
def _squash(table: np.ndarray, x: int) -> int:
    return table[min(max(x, -2047), 2047) + 2047]


@jit
def _match_class(bucket: int) -> int:
    """The final mixer's match class of a length bucket (`_len_bucket`): no match, under 16
    bytes, under 4096, longer."""
    return 0 if bucket == 0 else 1 + (bucket >= 16) + (bucket >= 24)


@jit
def _len_bucket(n: int) -> int:
    if n < 16:
        return n
    b = 12
    while n > 1:
        n >>= 1
        b += 1
    return min(b, 31)


@jit
def _lagged(r: np.ndarray) -> bool:
    """Whether the lagged pairs are on for the next byte: binary data, not a picture."""
    return r[_CONTROL] >= _BINARY and not r[_PICTURE]


@jit
def _stationary_maps(r: np.ndarray) -> int:
    """How many stationary maps are read and learnt: all in binary data; in text those of the
    text's contexts (off, the fields' maps say nothing); in a picture none (its pixels have the
    image model)."""
    return _N_STATIONARY if _lagged(r) else 0 if r[_PICTURE] else _N_TEXT_STATIONARY


@jit
def _mixers(r: np.ndarray) -> int:
    """How many first-layer mixers mix: the last ones (by text or binary contexts) not in an
    image's or a table's records (where the image model is on) nor in a picture, nor the byte
    classes' one in a picture: their contexts do not describe those bytes."""
    if r[_PICTURE]:
        return _N_MIX - _N_TEXT_MIX - 1
    return _N_MIX - _N_TEXT_MIX if _lagged(r) and r[_IMAGE] else _N_MIX


@jit_inline
def _predict(m: _Model) -> int:
    """p(next bit = 1) in 12 bits, 1..4095; leaves in `m` what `_update` learns from."""
    # Arrays are taken out of `m` once: numba counts references at each attribute access.
    r, t, st, smi, adr, slot, stretch, sm = m.reg, m.t, m.st, m.smi, m.adr, m.slot, m.stretch, m.sm
    buf, hs, mset, md, w, wf, apm, squash = m.buf, m.h, m.mset, m.md, m.w, m.wf, m.apm, m.squash
    c0, bitpos, c1 = r[_C0], r[_BITPOS], r[_C4] & 255
    j = bitpos & 3
    node = (1 << j) | (c0 & ((1 << j) - 1))  # node of the nibble's tree, 1..15
    for k in range(_N_HASHED):
        adr[k] = slot[k] + node
    adr[_O0] = c0
    adr[_O1] = 256 + c1 * 256 + c0
    for k in range(_N_CTX):
        i = k * 256 + t[adr[k]]
        smi[k] = i
        st[k] = stretch[_p12(sm, i)] if t[adr[k]] != 0 else 0  # a context never seen here says nothing
    lagged = _lagged(r)
    if not lagged:  # text or a picture: the lagged pairs say nothing
        for k in range(_IN_LAGGED, _N_HASHED):
            st[k] = 0
    if r[_PICTURE]:  # nor do the text contexts in a picture
        for k in range(_IN_TEXT, _IN_LAGGED):
            st[k] = 0
    # Match model: the next bit of the byte that followed the last occurrence of this context.
    expected, mctx = 0, 0
    r[_MBIT] = -1
    if r[_MLEN] > 0:
        e = buf[r[_MPTR] & (buf.shape[0] - 1)] | 256
        if e >> (8 - bitpos) == c0:
            bit = (e >> (7 - bitpos)) & 1
            r[_MBIT] = bit
            expected = e
            mctx = _len_bucket(r[_MLEN]) * 2 + bit
    smi[_IN_MATCH] = _SM_MATCH + mctx
    smi[_IN_EXPECT] = _SM_EXPECT + expected * 256 + c0
    # Record model: the next bit of the byte one record above, by how many bytes in a row it was right.
    rctx = 0
    rlen = r[_RLEN]
    if rlen > 0:
        e = buf[(r[_POS] - rlen) & (buf.shape[0] - 1)] | 256
        if e >> (8 - bitpos) == c0:
            rctx = 1 + min(r[_RRUN], 15) * 2 + ((e >> (7 - bitpos)) & 1)
    smi[_IN_RECORD] = _SM_RECORD + rctx
    bits = m.stationary_bits
    stationary = _stationary_maps(r)
    for k in range(stationary):
        block = _hash(hs[_STATIONARY_CONTEXTS[k]], c0 >> j) << 4  # the nibble's 16 entries: a cache line
        smi[_IN_STATIONARY + k] = _SM_STATIONARY + (k << bits) + ((block | node) & ((1 << bits) - 1))
    # Runs: the byte that followed each run context last, while this byte's bits so far agree with it.
    for k in range(_N_RUN):
        e = r[_RUN + k]
        if e != 0 and e >> (8 - bitpos) == c0 and not r[_PICTURE]:
            smi[_IN_RUN + k] = _SM_RUN + k * 64 + min(r[_RUN + _N_RUN + k], 31) * 2 + ((e >> (7 - bitpos)) & 1)
        else:
            smi[_IN_RUN + k] = _SM_IDLE
    for k in range(_IN_MATCH, _IN_STATIONARY + stationary):
        st[k] = stretch[_p12(sm, smi[k])]
    for k in range(_IN_RUN, _IN_RUN + _N_RUN):
        if smi[k] == _SM_IDLE:  # no run: says nothing
            st[k] = 0
    for k in range(_IN_STATIONARY + stationary, _N_SM):
        st[k] = 0
    # Bilevel image model: pixel templates around this bit's pixel (rows of rlen bytes).
    image, picture = r[_IMAGE], r[_PICTURE]
    smi[_IN_IMG] = _SM_IDLE
    pattern, wide, square, column, pair, small = 0, 0, 0, 0, 0, 0  # in a picture, weight sets and SSE contexts
    if rlen >= _MIN_ROW:
        # left: the pixels coded before this one, the nearest in bit 0; r1..r4: the rows above,
        # the pixel above this one in bit 8, those to its left above it, to its right below it.
        left = ((r[_C4] & 0xFFFFFF) << bitpos) | (c0 & ((1 << bitpos) - 1))
        shift = 7 - bitpos
        r1, r2 = r[_ROW] >> shift, r[_ROW + 1] >> shift
        pattern = (left & 3) | ((r1 >> 6) & 31) << 2 | ((r2 >> 7) & 7) << 7
        smi[_IN_IMG] = _IMG_OFFSETS[0] + pattern
        if image:
            r3, r4 = r[_ROW + 2] >> shift, r[_ROW + 3] >> shift
            wide = (left & 15) | ((r1 >> 5) & 127) << 4
            smi[_IN_IMG + 1] = _IMG_OFFSETS[1] + wide
            square = wide | ((r2 >> 6) & 31) << 11
            smi[_IN_IMG + 2] = _IMG_OFFSETS[2] + square
            column = (left & 3) | ((r1 >> 7) & 7) << 2 | ((r2 >> 7) & 7) << 5 | ((r3 >> 7) & 7) << 8
            column |= ((r4 >> 7) & 7) << 11
            smi[_IN_IMG + 3] = _IMG_OFFSETS[3] + column
            smi[_IN_IMG + 4] = _IMG_OFFSETS[4] + ((left & 255) | ((r1 >> 7) & 7) << 8)
            near = (left & 63) | ((r1 >> 4) & 511) << 6 | ((r2 >> 5) & 127) << 15 | ((r3 >> 7) & 7) << 22
            smi[_IN_IMG + 5] = _IMG_OFFSETS[5] + (_hash(near, 5) & _IMG_MASK)
            far = (left & 255) | ((r1 >> 2) & 0x1FFF) << 8 | ((r2 >> 4) & 511) << 21 | ((r3 >> 6) & 31) << 30
            smi[_IN_IMG + 6] = _IMG_OFFSETS[6] + (_hash(far & 0xFFFFFFFF, far >> 32 | (r4 >> 7 & 7) << 8) & _IMG_MASK)
            line = (left & 0xFFF) | (r1 & 0x1FFFF) << 12
            smi[_IN_IMG + 7] = _IMG_OFFSETS[7] + (_hash(line, 7) & _IMG_MASK)
            four = (left & 1) | ((r1 >> 7) & 7) << 1
            smi[_IN_IMG + 8] = _IMG_OFFSETS[8] + four
            pair = (left & 1) | ((r1 >> 8) & 3) << 1 | ((r2 >> 8) & 3) << 3 | ((r3 >> 8) & 3) << 5
            pair |= ((r4 >> 8) & 3) << 7
            smi[_IN_IMG + 9] = _IMG_OFFSETS[9] + pair
            six = (left & 7) | ((r1 >> 8) & 1) << 3 | ((r2 >> 8) & 1) << 4 | ((r3 >> 8) & 1) << 5
            smi[_IN_IMG + 10] = _IMG_OFFSETS[10] + six
            small = six | four << 6
            r5, r6 = r[_ROW + 4] >> shift, r[_ROW + 5] >> shift
            r7, r8 = r[_ROW + 6] >> shift, r[_ROW + 7] >> shift
            vertical = (left & 1) | ((r1 >> 8) & 1) << 1 | ((r2 >> 8) & 1) << 2 | ((r3 >> 8) & 1) << 3
            vertical |= ((r4 >> 8) & 1) << 4 | ((r5 >> 8) & 1) << 5 | ((r6 >> 8) & 1) << 6
            vertical |= ((r7 >> 8) & 1) << 7 | ((r8 >> 8) & 1) << 8
            smi[_IN_IMG + 11] = _IMG_OFFSETS[11] + vertical
            smi[_IN_IMG + 12] = _IMG_OFFSETS[12] + (pair | ((r5 >> 8) & 3) << 9 | ((r6 >> 8) & 3) << 11)
            it = m.it
            for k in range(_N_IMG):
                i = smi[_IN_IMG + k]
                p = _p12(sm, i)
                st[_IN_IMG + k] = stretch[p]
                st[_IN_LINEAR + k] = (p - 2048) >> 1
                i = _SM_STATE + k * 256 + it[i - _SM_IMG]
                smi[_IN_STATE + k] = i
                st[_IN_STATE + k] = stretch[_p12(sm, i)]
    st[_IN_BIAS] = 256
    for k in range(_N_HINTS):
        st[_IN_HINT + k] = r[_HINT + k]
    st[_IN_MATCH_LENGTH] = (2 * (mctx & 1) - 1) * min(r[_MLEN], 32) * 32 if expected else 0
    # Mixers.
    mset[0] = c0 | min(r[_RRUN], 7) << 8
    mset[1] = _MIX_AT[1] + (mctx >> 1) * 8 + bitpos
    mset[2] = _MIX_AT[2] + c1 * 8 + bitpos
    seen = 0  # how many of the long contexts have seen this bit's node: 0..6
    for k in _ORDERS:
        if t[adr[k]] != 0:
            seen += 1
    mset[3] = _MIX_AT[3] + seen * 256 + c0
    mset[4] = _MIX_AT[4] + ((r[_C4] >> 8) & 255) * 8 + bitpos
    mset[5] = _MIX_AT[5] + min(r[_WLEN], 7) * 256 + c0
    mset[6] = _MIX_AT[6] + min(r[_POS] - r[_LINE], 127) * 8 + bitpos
    mset[7] = _MIX_AT[7] + (min(r[_RRUN], 7) << 8 | c1)
    classes = r[_CLASSES]
    wlen = min(r[_WLEN], 7)
    initial = (r[_TEXT0] >> (5 * wlen - 5)) & 31 if 1 <= r[_WLEN] <= 6 else 0  # the word's first letter
    column_class = min(r[_POS] - r[_LINE], 255) << 3 | _CHAR_CLASS[c1]
    mset[8] = _MIX_AT[8] + ((classes & 0x1FF) << 3 | bitpos)
    mset[9] = _MIX_AT[9] + (_hash(classes & 0xFFF, c0) & (_HASHED_SETS - 1))
    mset[10] = _MIX_AT[10] + (_hash(initial, wlen << 8 | c0) & (_HASHED_SETS - 1))
    mset[11] = _MIX_AT[11] + (_hash(classes & 0x3F, c1 << 8 | c0) & (_HASHED_SETS - 1))
    mset[12] = _MIX_AT[12] + (_hash(r[_NEST] & 255, wlen << 8 | c0) & (_HASHED_SETS - 1))
    mset[13] = _MIX_AT[13] + (_hash(r[_W0], c0) & (_HASHED_SETS - 1))
    mset[14] = _MIX_AT[14] + (_hash(column_class, c0 | 1 << 8) & (_HASHED_SETS - 1))
    mset[15] = _MIX_AT[15] + (_hash(r[_C4] & 0xFFFF, c0 | 2 << 8) & (_HASHED_SETS - 1))
    mset[16] = _MIX_AT[16] + (_hash(expected | _match_class(mctx >> 1) << 9, c0 | 11 << 8) & (_HASHED_SETS - 1))
    mset[17] = _MIX_AT[17] + (_hash(_hash(r[_W0], r[_W1]), c0 | 13 << 8) & (_HASHED_SETS - 1))
    if lagged and not image:  # binary data: the text mixers choose by bytes and positions instead
        pos, c4 = r[_POS], r[_C4]
        above = buf[(pos - rlen) & (buf.shape[0] - 1)] if rlen > 0 else 0
        mset[9] = _MIX_AT[9] + (_hash(c1, c0 | 20 << 8) & (_HASHED_SETS - 1))
        mset[10] = _MIX_AT[10] + (_hash((c4 >> 8) & 255, c0 | 21 << 8) & (_HASHED_SETS - 1))
        mset[11] = _MIX_AT[11] + (_hash((c4 >> 16) & 255, c0 | 22 << 8) & (_HASHED_SETS - 1))
        mset[12] = _MIX_AT[12] + (_hash((pos & 3) | c1 << 2, c0 | 23 << 8) & (_HASHED_SETS - 1))
        mset[13] = _MIX_AT[13] + (_hash(c4 >> 24, c0 | 24 << 8) & (_HASHED_SETS - 1))
        mset[14] = _MIX_AT[14] + (_hash(above | min(r[_RRUN], 7) << 8, c0 | 25 << 8) & (_HASHED_SETS - 1))
        mset[17] = _MIX_AT[17] + (_hash((pos & 1) | ((c4 >> 8) & 255) << 1, c0 | 26 << 8) & (_HASHED_SETS - 1))
    if picture:
        mset[1] = _MIX_AT[1] + _BYTE_SETS + pattern
        mset[2] = _MIX_AT[2] + _BYTE_SETS + pair
        mset[3] = _MIX_AT[3] + _BYTE_SETS + small
        mset[4] = _MIX_AT[4] + _BYTE_SETS + wide
    mixers = _mixers(r)
    for k in range(mixers, _N_MIX):
        md[k] = 0
    ranges = _mixed_inputs(lagged, image)
    for k in range(mixers):
        base = mset[k] * _N_IN
        dot = 0
        for lo, hi in ranges:
            dot += _dot(st, w, base, lo, hi)
        md[k] = min(max(dot >> 16, -2047), 2047)
    # Final mixers: each mixes the first layer's outputs with weights of its own context; their average.
    r[_FINAL_ROW] = _FINAL_BYTE_ROWS + wide if picture else c0 | _match_class(mctx >> 1) << 8
    r[_FINAL_ROW + 1] = _FINAL_AT[0] + seen * 256 + c0
    r[_FINAL_ROW + 2] = _FINAL_AT[1] + c1 * 8 + bitpos
    r[_FINAL_ROW + 3] = _FINAL_AT[2] + ((r[_C4] >> 8) & 255) * 8 + bitpos
    r[_FINAL_ROW + 4] = _FINAL_AT[3] + min(r[_WLEN], 7) * 256 + c0
    r[_FINAL_ROW + 5] = _FINAL_AT[4] + (_hash(classes & 0xFFF, c0) & (_FINAL_HASHED - 1))
    finals = 1 if picture else _N_FINAL
    total = 0
    for f in range(finals):
        row = wf[r[_FINAL_ROW + f]]
        dot = 256 * row[_N_MIX]
        for k in range(_N_MIX):
            dot += md[k] * row[k]
        md[_N_MIX + 1 + f] = min(max(dot >> 16, -2047), 2047)
        total += md[_N_MIX + 1 + f]
    x = md[_N_MIX] = total // finals
    p = _squash(squash, x)
    # SSE: refine p by order-1, (hashed) order-2 and order-3 contexts, the match (the byte expected
    # and the length) and the word with c1; in a picture by two pixel templates.
    r[_A1] = column if picture else c0 | c1 << 8
    r[_A2] = square if picture else _hash(r[_C4] & 0xFFFF, c0) & (_APM_ROWS - 1)
    a1, a2 = _apm(apm, 0, r[_A1], x), _apm(apm, 1, r[_A2], x)
    if picture:
        p = (p + a1 + 2 * a2 + 2) >> 2
    else:
        r[_A3] = _hash(r[_C4] & 0xFFFFFF, c0 | 3 << 8) & (_APM3_ROWS - 1)
        r[_A4] = _hash(expected | min(r[_MLEN], 15) << 9, c0) & (_APM_ROWS - 1)
        r[_A5] = _hash(_hash(r[_W0], c1), c0) & (_APM_ROWS - 1)
        a3, a4, a5 = _apm(apm, 2, r[_A3], x), _apm(apm, 3, r[_A4], x), _apm(apm, 4, r[_A5], x)
        p = (2 * p + 2 * a1 + 3 * a2 + 3 * a3 + 2 * a4 + 2 * a5 + 7) // 14
    p = min(max(p, 1), 4095)
    return p


@jit
def _mixed_inputs(lagged: bool, image: bool) -> tuple[tuple[int, int], ...]:
    """The ranges (lo, hi) of the inputs the mixers mix: the lagged pairs', the binary contexts'
    and the fields' maps only in binary data, the image model's only in an image (else an empty
    range: those inputs are 0, and skipping them is faster)."""
    return (
        (0, _IN_LAGGED),
        (_IN_LAGGED, _N_HASHED if lagged else _IN_LAGGED),
        (_N_HASHED, _IN_FIELD_MAPS),
        (_IN_FIELD_MAPS, _N_SM if lagged else _IN_FIELD_MAPS),
        (_N_SM, _N_BASE),
        (_N_BASE, _N_IN if image else _N_BASE),
    )


@jit
def _dot(st: np.ndarray, w: np.ndarray, base: int, lo: int, hi: int) -> int:
    """Inputs lo..hi of a mixer times the weights of its set at `base`."""
    dot = 0
    for i in range(lo, hi):
        dot += st[i] * w[base + i]
    return dot


@jit
def _train(st: np.ndarray, w: np.ndarray, base: int, lo: int, hi: int, err: int) -> None:
    """Move the weights of inputs lo..hi along their gradient, err * input."""
    for i in range(lo, hi):
        w[base + i] += (st[i] * err) >> 16


@jit
def _hint(m: _Model, k: int, x: float) -> None:
    """Give the next bit's prediction hint input k: x = ln(p / (1 - p)) of another model's p."""
    m.reg[_HINT + k] = round(min(max(x * 256.0, -2047.0), 2047.0))


@jit
def _apm(apm: np.ndarray, which: int, ctx: int, x: int) -> int:
    """Interpolate the row `ctx` of SSE table `which` between the two buckets around stretch(p) = x."""
    s = x + 2048
    lo, w = s >> 7, s & 127
    a = (_APM_TABLES[which] * _APM_ROWS + ctx) * 33 + lo
    return (apm[a] * (128 - w) + apm[a + 1] * w) >> 11


@jit
def _apm_update(apm: np.ndarray, which: int, ctx: int, x: int, y: int) -> None:
    """Move the bucket nearer to stretch(p) towards the bit."""
    s = x + 2048
    a = (_APM_TABLES[which] * _APM_ROWS + ctx) * 33 + (s >> 7) + ((s & 127) >> 6)
    target = (y << 16) + (y << _APM_RATE) - y - y  # the entry approaches 65535 but never passes it
    apm[a] += (target - apm[a]) >> _APM_RATE


@jit
def _p12(sm: np.ndarray, i: int) -> int:
    """Statemap entry i's p(1) in 12 bits."""
    return np.int64(sm[i]) >> 20


@jit
def _learn(sm: np.ndarray, dt: np.ndarray, i: int, y: int) -> None:
    """Move statemap entry i towards bit y at the rate its update count gives."""
    e = np.int64(sm[i])
    p, n = e >> 10, e & _LIMIT
    p += ((y << 22) - p) * dt[n] >> 16
    sm[i] = p << 10 | min(n + 1, _LIMIT)


@jit_inline
def _update(m: _Model, y: int) -> None:
    """Learn bit `y` and move to the next bit's contexts."""
    r, t, st, smi, sm, dt, adr, nex = m.reg, m.t, m.st, m.smi, m.sm, m.dt, m.adr, m.nex
    w, wn, wf, mset, md, apm, squash, hs, slot = m.w, m.wn, m.wf, m.mset, m.md, m.apm, m.squash, m.h, m.slot
    if r[_RLEN] >= _MIN_ROW:  # how much better the smallest image template predicted than order 1, on average
        pi, po = _p12(sm, smi[_IN_IMG]), _p12(sm, smi[_O1])
        pr = _p12(sm, smi[9])  # the byte above with c1: what a table's rows predict
        cost = m.cost
        pixels = cost[pi if y else 4096 - pi]
        r[_IMG_COST] += pixels - cost[po if y else 4096 - po] - (r[_IMG_COST] >> 10)
        r[_PIXEL_GAIN] += pixels - cost[pr if y else 4096 - pr] - (r[_PIXEL_GAIN] >> 16)
    image = r[_IMAGE]
    for k in range(_IN_STATIONARY + _stationary_maps(r)):
        _learn(sm, dt, smi[k], y)
    for k in range(_IN_IMG, _IN_IMG + (2 * _N_IMG if image else 1 if r[_RLEN] >= _MIN_ROW else 0)):
        _learn(sm, dt, smi[k], y)
    for k in range(_N_CTX):
        a = adr[k]
        t[a] = nex[t[a], y]
    if image:
        it = m.it
        for k in range(_N_IMG):
            a = smi[_IN_IMG + k] - _SM_IMG
            it[a] = nex[it[a], y]
    rate = _MIX_RATE + _MIX_BOOST * _MIX_HALF // (_MIX_HALF + r[_POS])
    ranges = _mixed_inputs(_lagged(r), image)
    for k in range(_mixers(r)):
        n = wn[mset[k]]
        wn[mset[k]] = min(n + 1, 1 << 20)
        fresh = _MIX_RATE + _MIX_BOOST * _SET_HALF // (_SET_HALF + n)  # a weight set seen little learns fast
        error = (y << 12) - _squash(squash, md[k])
        if -_SURE < error < _SURE:  # sure and right: moving the weights would mostly add noise
            continue
        err = error * max(rate, fresh)
        base = mset[k] * _N_IN
        for lo, hi in ranges:
            _train(st, w, base, lo, hi, err)
    c0 = r[_C0]
    picture = r[_PICTURE]
    for f in range(1 if picture else _N_FINAL):
        err = ((y << 12) - _squash(squash, md[_N_MIX + 1 + f])) * _FINAL_RATE
        row = wf[r[_FINAL_ROW + f]]
        for k in range(_N_MIX):
            row[k] += (md[k] * err) >> 16
        row[_N_MIX] += (256 * err) >> 16
    x = md[_N_MIX]
    _apm_update(apm, 0, r[_A1], x, y)
    _apm_update(apm, 1, r[_A2], x, y)
    if not picture:
        _apm_update(apm, 2, r[_A3], x, y)
        _apm_update(apm, 3, r[_A4], x, y)
        _apm_update(apm, 4, r[_A5], x, y)
    if r[_MBIT] >= 0 and r[_MBIT] != y:
        r[_MLEN] = 0
    c0 = c0 * 2 + y
    r[_BITPOS] += 1
    if c0 >= 256:
        _end_byte(m, c0 - 256)
        c0 = 1
        r[_BITPOS] = 0
    elif r[_BITPOS] == 4:
        slots, priority = m.slots, m.priority
        for k in range(_N_HASHED):
            slot[k] = _find(t, slots, priority, _hash(hs[k], c0))
    r[_C0] = c0


@jit
def _code_byte(
    m: _Model,
    distributions: np.ndarray,
    weights: np.ndarray,
    lr: float,
    final: np.ndarray,
    final_lr: float,
    state: np.ndarray,
    buffer: np.ndarray,
    cum: np.ndarray,
    symbol: int,
) -> tuple[int, float]:
    """`mix`'s kernel: code `symbol` (decode one, where it is -1) as 8 decisions of this model,
    the byte members' `distributions` its hints (`harness.bitmix`); return it and its code length
    in bits. `weights[c0]` are the members' scales at node c0 of the byte's tree; `final`, where
    it has rows, the final stage's weights over this model and the first member."""
    inputs, hints = np.empty(distributions.shape[0]), np.empty(distributions.shape[0])
    x = np.empty(2)
    c0, total = 1, 0.0
    for done in range(8):
        bitmix.bit_hints(distributions, weights[c0], c0, done, inputs, hints)
        for k in range(hints.shape[0]):
            _hint(m, k, hints[k])
        p = _predict(m)
        if final.shape[0]:
            p = bitmix.final_mix(final, done, p, inputs[0], x)
        bit, cost = bitmix.code_bit(p, symbol, done, state, buffer, cum)
        total += cost
        if final.shape[0]:
            bitmix.final_learn(final, done, x, p, bit, final_lr)
        bitmix.learn(weights[c0], inputs, hints, bit, lr)
        _update(m, bit)
        c0 = 2 * c0 + bit
    return c0 - 256, total


@jit_inline
def _end_byte(m: _Model, c: int) -> None:
    """Take in byte `c`: history, word, record and match state, then the next byte's contexts."""
    r, buf, hs, mt, rpos, after = m.reg, m.buf, m.h, m.mt, m.rpos, m.after
    wtail, wnext, wlast = m.wtail, m.wnext, m.wlast
    mask = buf.shape[0] - 1
    pos = r[_POS]
    buf[pos & mask] = c
    pos += 1
    r[_POS] = pos
    r[_C8] = ((r[_C8] << 8) | (r[_C4] >> 24)) & 0xFFFFFFFF
    c4 = ((r[_C4] << 8) | c) & 0xFFFFFFFF
    r[_C4] = c4
    # Word: a hash of the letters of the current word (case folded), and of the one before.
    tail = r[_W0] & (_WORDS - 1)  # c followed the word so far
    wtail[tail] = (wtail[tail] << 8 | c) & 0xFFFF
    letter = c + 32 if 65 <= c <= 90 else c
    r[_CLASSES] = (r[_CLASSES] << 3 | _CHAR_CLASS[c]) & 0x3FFFFFFF
    r[_NIBBLES] = (r[_NIBBLES] << 4 | (0 if c == 32 else c >> 4)) & 0xFFFFFFFF
    r[_CONTROL] += ((_CONTROL_BYTE[c] << 16) - r[_CONTROL]) >> 10
    if 97 <= letter <= 122:
        r[_W0] = _hash(r[_W0], letter)
        r[_WLEN] += 1
        r[_TEXT0] = (r[_TEXT0] << 5 | (letter - 96)) & 0x3FFFFFFF
    else:
        r[_WLEN] = 0
        if r[_W0] != 0:
            wnext[r[_W1] & (_WORDS - 1)] = r[_W0]
            wlast[r[_W0] & (_WORDS - 1)] = pos
            if r[_LINE_WORD] == 0:
                r[_LINE_WORD] = r[_W0]
            r[_W3], r[_W2], r[_W1], r[_W0] = r[_W2], r[_W1], r[_W0], 0
            r[_GAP1], r[_GAP] = r[_GAP], 0
        r[_GAP] = _hash(r[_GAP], c)
    # Nesting: ( [ { open until their closing byte, a double quote until the next one.
    nest = r[_NEST]
    if c == 40 or c == 91 or c == 123 or (c == 34 and nest & 255 != 34):
        r[_NEST] = (nest << 8 | c) & 0xFFFFFFFFFFFF
    elif (c == 41 and nest & 255 == 40) or (c == 93 and nest & 255 == 91) or (c == 125 and nest & 255 == 123):
        r[_NEST] = nest >> 8
    elif c == 34:
        r[_NEST] = nest >> 8
    if c == 10:  # lines: where this one and the one before start
        r[_LINE2], r[_LINE] = r[_LINE], pos
        r[_LINE_WORD] = 0
    column = pos - r[_LINE]
    up = buf[(r[_LINE2] + column) & mask] if r[_LINE2] + column < r[_LINE] else 0
    # Record length: a distance that separates the last two pairs of equal bytes, by majority vote.
    d = pos - rpos[c, 0]
    if d > 1 and d == rpos[c, 1]:
        if d == r[_RCAND]:
            r[_RVOTES] += 1
            if r[_RVOTES] >= _RECORD_VOTES:
                r[_RLEN] = d
        elif r[_RVOTES] > 0:
            r[_RVOTES] -= 1
        else:
            r[_RCAND], r[_RVOTES] = d, 1
    rpos[c, 0], rpos[c, 1] = pos, d
    rlen = r[_RLEN]
    r[_RRUN] = r[_RRUN] + 1 if rlen > 0 and buf[(pos - 1 - rlen) & mask] == c else 0
    # A bilevel image: rows of rlen bytes whose pixel templates predict better than order 1.
    if rlen < _MIN_ROW or r[_IMG_COST] > 8 * _IMAGE_MARGIN:
        r[_IMAGE] = 0
    elif r[_IMG_COST] < -_IMAGE_MARGIN:
        r[_IMAGE] = 1
    if not r[_IMAGE] or r[_PIXEL_GAIN] > _PICTURE_OFF or pos < _PICTURE_AFTER or rlen < _PICTURE_ROW:
        r[_PICTURE] = 0
    elif r[_PIXEL_GAIN] < _PICTURE_ON:
        r[_PICTURE] = 1
    if rlen >= _MIN_ROW:
        for k in range(8):
            a = pos - (k + 1) * rlen
            r[_ROW + k] = buf[(a - 1) & mask] << 16 | buf[a & mask] << 8 | buf[(a + 1) & mask]
    # Match model: follow the match while it predicts right, else look up the last occurrence.
    if r[_MLEN] > 0 and buf[r[_MPTR] & mask] == c:
        r[_MLEN] = min(r[_MLEN] + 1, _MAX_LEN)
        r[_MPTR] += 1
    else:
        r[_MLEN] = 0
    if pos >= m.match_min:
        h = 0
        for k in range(1, m.match_min + 1):
            h = _hash(h, buf[(pos - k) & mask])
        h &= mt.shape[0] - 1
        if r[_MLEN] == 0:
            candidate = mt[h]
            if candidate > 0 and pos - candidate < mask:
                n = 0
                while n < _VERIFY and n < candidate and buf[(candidate - 1 - n) & mask] == buf[(pos - 1 - n) & mask]:
                    n += 1
                if n >= m.match_min:
                    r[_MLEN], r[_MPTR] = n, candidate
        mt[h] = pos
    # The next byte's contexts.
    above = buf[(pos - rlen) & mask] if rlen > 0 else 0
    above2 = buf[(pos - 2 * rlen) & mask] if rlen > 0 else 0
    hs[0] = _hash(c4 & 0xFFFF, 0)
    hs[1] = _hash(c4 & 0xFFFFFF, 1)
    hs[2] = _hash(c4, 2)
    hs[3] = _hash(_hash(c4, 3), r[_C8] & 0xFFFF)
    hs[4] = _hash(r[_W0], 4)
    hs[5] = _hash(_hash(r[_W0], 5), r[_W1])
    hs[6] = _hash(c4 & 0xFFFF00, 6)
    hs[7] = _hash(c4 & 0xFF00FF00, 7)
    hs[8] = _hash(above | above2 << 8 | rlen << 16, 8)
    hs[9] = _hash(above | c << 8 | rlen << 16, 9)
    hs[10] = _hash(_hash(c4, 10), r[_C8])
    hs[11] = _hash(up << 8 | min(column, 255), 11)
    # Indirect: c1, and c2c1, with the two bytes that followed their last two occurrences.
    ind = m.ind
    before, pair_before, pair = (c4 >> 8) & 255, 256 + ((c4 >> 8) & 0xFFFF), 256 + (c4 & 0xFFFF)
    ind[before] = (ind[before] << 8 | c) & 0xFFFF  # c followed c2, and c3c2
    ind[pair_before] = (ind[pair_before] << 8 | c) & 0xFFFF
    hs[13] = _hash(c | ind[c] << 8, 13)
    hs[14] = _hash(c4 & 0xFFFF | ind[pair] << 16, 14)
    # Lagged pairs, in binary data: the pair of bytes `lag` back with the three bytes 5 to 7 before
    # it (a table's column number and its record's type), alone (the field) and with the byte that
    # came `lag` after the pair's last occurrence (the cell above; an instruction's operand).
    # Off, each hashes to a constant: text's tables stay as they were.
    lagged = _lagged(r)
    for j in range(len(_LAGS)):
        lag = _LAGS[j]
        after[j, buf[(pos - 2 - lag) & mask] << 8 | buf[(pos - 1 - lag) & mask]] = c
        pair = buf[(pos - 1 - lag) & mask] << 8 | buf[(pos - lag) & mask]
        lead = buf[(pos - 6 - lag) & mask] << 16 | buf[(pos - 7 - lag) & mask] << 8 | buf[(pos - 8 - lag) & mask]
        field = _hash(pair, lead) if lagged else 0
        hs[_FIELDS + j] = _hash(field, _FIELDS + j)
        hs[_IN_LAGGED + j] = _hash(field, after[j, pair] << 8 | _IN_LAGGED + j) if lagged else _IN_LAGGED + j
    # Binary data: order 2 and 3 with the position in a 2- and 4-byte word (instructions, fields),
    # c1 with c4, c1 with the high nibbles of c2..c4, c1c2 with c5c6, c1 with the distance to the
    # last 0 byte (a string's or a record's end). Off, each hashes to a constant.
    b = _IN_BINARY
    if lagged:
        hs[b] = _hash(c4 & 0xFFFF, (pos & 1) | b << 8)
        hs[b + 1] = _hash(c4 & 0xFF0000FF, b + 1)
        hs[b + 2] = _hash(c | min(pos - rpos[0, 0], 255) << 8, b + 2)
        hs[b + 3] = _hash(c4 & 0xFFFFFF, (pos & 3) | (b + 3) << 8)
        hs[b + 4] = _hash(c4 & 0xF0F0F0FF, b + 4)
        hs[b + 5] = _hash(c4 & 0xFFFF | (r[_C8] & 0xFFFF) << 16, b + 5)
    else:
        for k in range(b, _N_HASHED):
            hs[k] = k
    hs[15] = _hash(_hash(r[_W0], 15), r[_W2])
    hs[16] = _hash(_hash(_hash(r[_W0], 16), r[_W1]), r[_W2])
    hs[17] = _hash(c4 & 0xFFFF0000, 17)  # sparse: c3c4, c1c3, c2
    hs[18] = _hash(c4 & 0x00FF00FF, 18)
    hs[19] = _hash(c4 & 0x0000FF00, 19)
    hs[20] = _hash(r[_C8] & 0xFFFF, 20)  # c5c6 and c4c5: 2-byte fields 4 and 5 bytes back (a table's column)
    hs[21] = _hash(c4 >> 24 | (r[_C8] & 0xFF) << 8, 21)
    hs[22] = _hash(_hash(c4, 22), r[_C8] & 0xFF)  # order 5
    older = np.int64(0)  # order 12: order 8 and the 4 bytes before
    for k in range(9, 13):
        older = older << 8 | buf[(pos - k) & mask]
    hs[23] = _hash(hs[10], older)
    hs[24] = _hash(r[_CLASSES] & 0xFFFFFF, c | 24 << 8)  # the last 8 bytes' classes (letter, digit, space, ...), c1
    hs[25] = _hash(c | (pos & 3) << 8, 25)  # c1 and the position in a 4-byte word (instructions, fields)
    hs[26] = _hash(_hash(r[_W0], 26), r[_GAP])  # the word, with the bytes before it (space, quote, newline)
    hs[27] = _hash(_hash(r[_W0], 27), wnext[r[_W1] & (_WORDS - 1)])  # and with what followed the word before
    hs[28] = _hash(r[_TEXT0] | _CHAR_CLASS[c] << 30, 28)  # the last 6 letters, across words
    # Text (in a picture each hashes to a constant and says nothing: no slots taken).
    if r[_PICTURE]:
        for k in range(_IN_TEXT, _IN_LAGGED):
            hs[k] = k
    else:
        first = np.int64(buf[r[_LINE] & mask]) if column > 0 else np.int64(0)
        head = first << 8 | buf[(r[_LINE] + 1) & mask] if column > 1 else np.int64(0)
        w0 = r[_W0]
        hs[29] = _hash(_hash(r[_NEST] & 0xFFFF, 29), w0)  # the word inside the two innermost brackets
        hs[30] = _hash(_hash(head, 30), w0)  # with the line's first two bytes (a field name, a header, "> ")
        hs[31] = _hash(min(column, 255) << 16 | first << 8 | _CHAR_CLASS[c], 31)
        hs[32] = _hash(r[_CLASSES], 32)  # the last 10 bytes' classes
        hs[33] = _hash(_hash(r[_LINE_WORD], 33), c)
        hs[34] = _hash(_hash(wtail[w0 & (_WORDS - 1)], 34), min(r[_WLEN], 6) << 8 | c)
        hs[35] = _hash(_hash(w0, 35), pos >> 10)  # the word in this 1 KiB block
        hs[36] = _hash(_hash(_hash(w0, 36), r[_W3]), c)
        hs[37] = _hash(_hash(_hash(w0, 37), r[_W1]), c)
        hs[38] = _hash(_hash(_hash(_hash(r[_GAP], 38), r[_W1]), r[_GAP1]), r[_W2])  # the phrase's shape
        hs[39] = _hash(_hash(r[_CLASSES], 39), c4 & 0xFFFF)
        hs[40] = _hash(min(column, 255) << 16 | min(r[_LINE] - r[_LINE2], 255) << 8, 40)
        hs[41] = _hash(r[_NIBBLES], 41)
        hs[42] = _hash(r[_LINE], 42)  # this line (where it starts)
        last = wlast[w0 & (_WORDS - 1)]  # the word with how far back it was last (log scale, 1/2 steps)
        hs[43] = _hash(_hash(w0, 43), 0 if last == 0 or w0 == 0 else min(int(np.log2(pos - last + 1) * 2), 40))
        hs[44] = _hash(first << 8 | c, 44)
        hs[45] = _hash(_hash(_hash(w0, 45), r[_W2]), c)
    # A bilevel image's pixel neighbourhood (pic: a record is a row): the bytes above, above-left
    # and above-right, the byte to the left; the nearest three pixels of each side byte only.
    above_left = buf[(pos - rlen - 1) & mask] if rlen > 0 else 0
    above_right = buf[(pos - rlen + 1) & mask] if rlen > 0 else 0
    hs[12] = _hash(above | above_right << 8 | (c & 7) << 16 | (above_left & 7) << 19 | rlen << 24, 12)
    # Runs: each run context's entry learns this byte (one more in a row, or a new run), then the
    # next byte's contexts find theirs.
    run, size = m.run, m.run.shape[0]
    for k in range(_N_RUN):
        at = r[_RUN + 2 * _N_RUN + k]
        e = run[at >> 8]
        if _holds_run(e, at) and e & 255 == c:
            run[at >> 8] = e + 256 if (e >> 8) & 255 < 255 else e
        else:
            run[at >> 8] = (at & 255) << 16 | 256 | c
        at = _run_entry(hs[_RUN_CONTEXTS[k]], size)
        e = run[at >> 8]
        found = _holds_run(e, at)
        r[_RUN + k] = (e & 255) | 256 if found else 0
        r[_RUN + _N_RUN + k] = (e >> 8) & 255 if found else 0
        r[_RUN + 2 * _N_RUN + k] = at
    t, slot, slots, priority = m.t, m.slot, m.slots, m.priority
    for k in range(_N_HASHED):
        slot[k] = _find(t, slots, priority, hs[k])


@jit
def _run_entry(h: int, size: int) -> int:
    """Where a run context of hash h lives in a run table of `size` entries, times 256, plus its check byte."""
    return ((h >> 8) & (size - 1)) << 8 | (h & 255)


@jit
def _holds_run(e: int, at: int) -> bool:
    """Whether run table entry e is a run of the context at `at` (`_run_entry`): its check byte, a count."""
    return e >> 16 == at & 255 and (e >> 8) & 255 != 0


@jit
def _encode_chunk(
    m: _Model,
    enc: np.ndarray,
    out: np.ndarray,
    probs: np.ndarray,
    cum: np.ndarray,
    symbols: np.ndarray,
    bits: np.ndarray,
    start: int,
    stop: int,
) -> None:
    for i in range(start, stop):
        c = np.int64(symbols[i])
        total = 0.0
        for j in range(7, -1, -1):
            y = (c >> j) & 1
            p = _predict(m)
            probs[1] = p / 4096.0
            probs[0] = (4096 - p) / 4096.0
            total += coder.encode_step(enc, out, probs, cum, y)
            _update(m, y)
        bits[i] = total


@jit
def _decode_chunk(
    m: _Model,
    dec: np.ndarray,
    payload: np.ndarray,
    probs: np.ndarray,
    cum: np.ndarray,
    symbols: np.ndarray,
    start: int,
    stop: int,
) -> None:
    for i in range(start, stop):
        c = 0
        for _ in range(8):
            p = _predict(m)
            probs[1] = p / 4096.0
            probs[0] = (4096 - p) / 4096.0
            y = coder.decode_step(dec, payload, probs, cum)
            c = c * 2 + y
            _update(m, y)
        symbols[i] = c


class ContextMixing(SequenceCoder):
    """Bitwise context mixing: orders 0-6, 8 and 12, word, text, sparse, indirect, record, image,
    column, run and match models, a bilevel image model, eighteen mixers and six final ones,
    five SSE stages (see the module docstring).

    Defaults: memory_mib 256, history_mib 16, match_min 5; what they measure, with the commands,
    is in results/cm/README.md. v2 sized the tables to a short input (inputs under 128 KiB code
    differently); v3 added the image context and the record run in the first mixer's weight set;
    v4 the bilevel image model; v5 word, sparse and indirect contexts, four more mixers, a slower
    discount of the opposite count and a lower mixer rate; v6 stationary maps, sparse c4c5 and
    c5c6, and a picture's own weight sets and SSE contexts; v7 orders 5 and 12, the byte-class and
    4-byte-position contexts, unseen contexts' inputs 0, the final mixer's rows by match length,
    first weights halved, stationary maps sized to a short input; v8 an eighth mixer, its weights
    by c1 and the record run; v9 the lagged-pair contexts, in binary data; v10 the lagged pairs'
    fields (the three bytes before the pair) and their stationary maps; v11 SPARC calls rewritten
    as targets; v12 five final mixers averaged, run contexts and an order-3 SSE stage; v13 three
    word contexts (the bytes before the word, the word that followed the word before, the last 6
    letters), run contexts for orders 2 and 8 and the word pair, twelve stationary maps of 2^22
    entries (none in a picture), a slower first-layer rate, a slower discount, 252 bit-history
    states (were 182) and 256 MiB of slots; v14 thirteen text contexts (nesting, the line's head,
    columns, byte classes, more word contexts), four more mixers (three in text only), weight sets
    seen little learning faster, stationary maps a cache line per nibble; v15 four more text
    contexts (the line, the word's distance to its last occurrence, the line's first byte with
    c1, the word with the word two before), six binary contexts, five more pixel templates and
    a picture's weight sets by them, the match length as an input, five more mixers (text only)
    and 32768 weight sets for those chosen by a hash, a sixth final mixer, SSE by the match and by
    the word, no training on sure bits, a statemap entry's p and count in 32 bits; v16 a mixer by
    the word pair, and in binary data (not a table's records) the text mixers' sets chosen by
    bytes and positions instead of off, the sixth final mixer's rows 32768.

    `params` counts the table entries: context states (one byte each), statemap entries, mixer
    weights, SSE entries and match positions. `flops_per_symbol` estimates the integer operations
    per byte: 8 bits x (83 inputs read and stretched (89 in binary data), 75 mixed by 18 mixers
    in text (93 in binary data), ~4,700 operations for the dot products and their training,
    ~440 for the statemap and state updates, ~400 for the six final mixers and five SSE tables),
    plus ~2,100 per byte for 116 slot lookups, the hashes, the indirect and run tables and the
    match model. In a bilevel image the image model adds 39 inputs and about as many operations
    again (not counted: the figure is for the data it is published on, text).
    """

    name = "cm"
    version = 16  # 16: a word-pair mixer, the text mixers by binary contexts in binary data
    # 15: more text, binary and pixel contexts, mixers and SSE; sure bits not learnt
    # 14: text contexts and mixers, faster-learning fresh weight sets
    # 13: three word contexts, more run contexts, stationary maps and states, slower rate
    # 12: five final mixers, run contexts, an order-3 SSE stage
    # 11: SPARC calls rewritten as targets (a second flag decision)
    # 10: the lagged pairs' fields, and their stationary maps
    # 9: lagged-pair contexts in binary data (see the class docstring)
    # 8: an eighth mixer, weights by c1 and the record run
    # 7: orders 5 and 12, class and position contexts, final rows by match
    # 6: stationary maps, c4c5 and c5c6, a picture's weight sets and SSE
    # 5: more word, sparse and indirect contexts and mixers
    # 4: a bilevel image model (per-pixel templates as more mixer inputs)
    # 3: an image-neighbourhood context, the first mixer's weights by record run too
    # 2: tables sized to a short input (inputs under 128 KiB code differently)
    description = "bitwise context mixing (lpaq class): orders 0-8, word, sparse, indirect, record, match; mixers, SSE"
    options = {
        "memory_mib": Option(256, "MiB of hashed context slots (16 bytes each)", 1, 4096),
        "history_mib": Option(16, "MiB of history for the match model (rounded down to a power of 2)", 1, 1024),
        "match_min": Option(5, "bytes of context a match must repeat before it predicts", 3, 32),
    }
    test_options = {"memory_mib": 1, "history_mib": 1}
    model_bytes = 0
    flops_per_symbol = 46000.0

    @classmethod
    def memory_estimate(cls, settings: dict[str, Any], symbols: int) -> int:
        history = _power_of_two(settings["history_mib"] << 20)  # the ring, and as many bytes of positions
        tables = (
            _sm_size(_STATIONARY_BITS) * 4  # p and count per statemap entry, in 32 bits
            + (_ALL_SETS * (_N_IN + 1) + _FINAL_ROWS * (_N_MIX + 1)) * 4
            + _APM_TOTAL * 33 * 2
            + _RUN_ENTRIES * 4
        )
        tables += _SM_STATE - _SM_IMG + _COST.nbytes + 18 * _WORDS + 8 * _IND_SIZE  # image states, costs, indirect
        tables += len(_LAGS) * 65536  # the lagged pairs' bytes
        segment = min(symbols, wire.SEGMENT_SYMBOLS)  # coder output, code lengths and input
        coding = coder.encoder_capacity(8 * segment) + 13 * segment
        fixed = _DIRECT_ROWS * _SLOT + tables + (1 << 16)
        return (settings["memory_mib"] << 20) + 2 * history + coding + fixed

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._model: _Model | None = None  # made by the first coding call, sized to its input
        self.params = self._params(*self._sizes(wire.SEGMENT_SYMBOLS))

    def _sizes(self, count: int) -> tuple[int, int, int, int, int]:
        """(hashed slots, history bytes, match positions, bits of a stationary map's entries, run
        entries) for coding `count` symbols in the first call: the configured sizes, or less for a
        short input (per byte 2 KiB of slots, 1 history byte, 4 match positions and 8 entries of
        each stationary map and of the run table, rounded up to a power of 2; a 4 KB file needs
        16 MiB of slots, not 128: the model touches its tables at random, and a page fault per
        slot was most of the time on small files). Encoder and decoder see the same first count
        (a whole input under a segment, or a full segment)."""
        slots = max(4, (self.settings["memory_mib"] << 20) // _SLOT // 4 * 4)
        history = _power_of_two(self.settings["history_mib"] << 20)
        short = 1 << max(count - 1, 1).bit_length()  # the next power of 2
        stationary = min(_STATIONARY_BITS, max(12, (8 * short).bit_length() - 1))
        return (
            min(slots, max(4096, 128 * short)),
            min(history, max(1 << 12, short)),
            min(history // 4, 4 * short),
            stationary,
            min(_RUN_ENTRIES, max(4096, 8 * short)),
        )

    @staticmethod
    def _params(slots: int, history: int, positions: int, stationary_bits: int, runs: int) -> int:
        tables = _sm_size(stationary_bits) + _ALL_SETS * _N_IN + _FINAL_ROWS * (_N_MIX + 1)
        tables += _APM_TOTAL * 33 + runs
        tables += _SM_STATE - _SM_IMG + _IND_SIZE + 3 * _WORDS + len(_LAGS) * 65536
        return int((_DIRECT_ROWS + slots) * _SLOT + tables + positions)

    def _model_for(self, count: int) -> _Model:
        if self._model is not None:
            return self._model
        sizes = self._sizes(count)
        slots, history, positions, stationary_bits, runs = sizes
        sm = coder.filled(_sm_size(stationary_bits), np.uint32, 1 << 31)  # p = 1/2, no updates
        sm[:_SM_MATCH] = np.tile(_STATE_P1.astype(np.uint32) << 10, _N_CTX)
        sm[_SM_STATE:_SM_IDLE] = np.tile(_STATE_P1.astype(np.uint32) << 10, _N_IMG)
        apm_row = _SQUASH[np.clip(np.arange(-16, 17) * 128, -2047, 2047) + 2047] * 16
        wf = np.full((_FINAL_ROWS, _N_MIX + 1), (1 << 16) // _N_MIX, dtype=np.int32)
        wf[:, _N_MIX] = 0
        m = self._model = _Model(
            t=coder.aligned_zeros(_DIRECT_ROWS + slots, _SLOT // 4).view(np.uint8).reshape(-1),
            it=np.zeros(_SM_STATE - _SM_IMG, dtype=np.uint8),
            slots=slots,
            stationary_bits=stationary_bits,
            h=np.zeros(_N_HASHED + len(_LAGS), dtype=np.int64),
            slot=np.zeros(_N_HASHED, dtype=np.int64),
            adr=np.zeros(_N_CTX, dtype=np.int64),
            smi=np.zeros(_N_IN, dtype=np.int64),
            st=np.zeros(_N_IN, dtype=np.int64),
            sm=sm,
            w=np.full(_ALL_SETS * _N_IN, 1 << 12, dtype=np.int32),
            wn=np.zeros(_ALL_SETS, dtype=np.int32),
            wf=wf,
            mset=np.zeros(_N_MIX, dtype=np.int64),
            md=np.zeros(_N_MIX + 1 + _N_FINAL, dtype=np.int64),
            apm=np.tile(apm_row.astype(np.uint16), _APM_TOTAL),
            run=coder.filled(runs, np.int32),
            buf=np.zeros(history, dtype=np.uint8),
            mt=np.zeros(positions, dtype=np.int32),
            ind=np.zeros(_IND_SIZE, dtype=np.int64),
            wnext=np.zeros(_WORDS, dtype=np.int64),
            wtail=np.zeros(_WORDS, dtype=np.uint16),
            wlast=np.zeros(_WORDS, dtype=np.int64),
            after=np.zeros((len(_LAGS), 65536), dtype=np.uint8),
            rpos=np.zeros((256, 2), dtype=np.int64),
            reg=np.zeros(_N_REG, dtype=np.int64),
            match_min=int(self.settings["match_min"]),
            squash=_SQUASH,
            stretch=_STRETCH,
            nex=_NEXT,
            priority=_PRIORITY,
            dt=(65536 * 2 // (2 * np.arange(_LIMIT + 1, dtype=np.int64) + 3)),
            cost=_COST,
        )
        m.reg[_C0] = 1
        m.reg[_W0] = 0
        _first_contexts(m)
        self.params = self._params(*sizes)
        return m

    bitwise = True
    code_byte = staticmethod(_code_byte)
    hints = _N_HINTS

    def bit_streams(self, count: int, starts: list[int]) -> list[_Model]:
        """The states of one model per stream, for `mix` coding `count` bytes in all as streams in
        lockstep, stream k's bytes at file positions starts[k], starts[k] + 1, ... The streams
        share every learned table and one history laid out as the file, so each learns from all
        and the match model finds repeats in every stream coded so far; each has its own
        registers and contexts. (Streams evict each other's slots: harmless, and deterministic.)"""
        shared = self._model_for(count)
        models = []
        for start in starts:
            own = {field: np.zeros_like(getattr(shared, field)) for field in _STREAM_FIELDS}
            m = shared._replace(**own)
            m.reg[_C0] = 1
            m.reg[_POS] = m.reg[_LINE] = m.reg[_LINE2] = start
            _first_contexts(m)
            models.append(m)
        return models

    def encode_symbols(self, symbols: np.ndarray, progress: Progress = no_progress) -> tuple[bytes, np.ndarray]:
        symbols = np.ascontiguousarray(symbols, dtype=np.uint8)
        n = len(symbols)
        enc = coder.new_encoder_state()
        out = np.zeros(coder.encoder_capacity(8 * n), dtype=np.uint8)
        bits = np.zeros(n, dtype=np.float32)
        probs, cum = np.zeros(2), np.zeros(3, dtype=np.uint64)
        x86 = _looks_x86(symbols)
        flag_bits = coder.encode_step(enc, out, _FLAG_PROBS, cum, int(x86))
        sparc = not x86 and _looks_sparc(symbols)
        if not x86:
            flag_bits += coder.encode_step(enc, out, _FLAG_PROBS, cum, int(sparc))
        if x86 or sparc:
            symbols = symbols.copy()
            (_x86_targets if x86 else _sparc_targets)(symbols, True)
        model = self._model_for(n)
        for start in range(0, n, _CHUNK):
            stop = min(n, start + _CHUNK)
            _encode_chunk(model, enc, out, probs, cum, symbols, bits, start, stop)
            progress(stop - start)
        if n:
            bits[0] += flag_bits
        return out[: coder.finish_encoder(enc, out)].tobytes(), bits

    def decode_symbols(self, payload: bytes, count: int, progress: Progress = no_progress) -> np.ndarray:
        data = np.frombuffer(payload, dtype=np.uint8)
        dec = coder.new_decoder_state(data)
        symbols = np.zeros(count, dtype=np.int64)
        probs, cum = np.zeros(2), np.zeros(3, dtype=np.uint64)
        x86 = coder.decode_step(dec, data, _FLAG_PROBS, cum)
        sparc = not x86 and coder.decode_step(dec, data, _FLAG_PROBS, cum)
        model = self._model_for(count)
        for start in range(0, count, _CHUNK):
            stop = min(count, start + _CHUNK)
            _decode_chunk(model, dec, data, probs, cum, symbols, start, stop)
            progress(stop - start)
        if x86 or sparc:
            code = symbols.astype(np.uint8)
            (_x86_targets if x86 else _sparc_targets)(code, False)
            symbols = code.astype(np.int64)
        return symbols


def _looks_x86(data: np.ndarray) -> bool:
    """Whether at least one byte in _X86_SHARE opens a near x86 CALL or JMP (E8 or E9, then an
    offset whose top byte is 00 or FF)."""
    opens = (data[:-4] == 0xE8) | (data[:-4] == 0xE9)
    near = (data[4:] == 0) | (data[4:] == 0xFF)
    return int(np.count_nonzero(opens & near)) * _X86_SHARE >= len(data) > 4


@jit
def _x86_targets(data: np.ndarray, forward: bool) -> None:
    """Rewrite the near CALL and JMP offsets of `data` (uint8) in place as targets (forward) or
    back: the 25-bit offset (three low bytes, the top byte's sign) plus or minus the position
    after it, modulo 2^25; the operand's top byte stays 00 or FF. The 4 bytes after every E8 or E9
    are an operand, rewritten or not, never an opcode, so both ways visit the same ones."""
    n = data.shape[0]
    i = 0
    while i + 4 < n:
        if data[i] != 0xE8 and data[i] != 0xE9:
            i += 1
            continue
        top = data[i + 4]
        if top == 0 or top == 0xFF:
            v = np.int64(data[i + 1]) | np.int64(data[i + 2]) << 8 | np.int64(data[i + 3]) << 16
            v |= np.int64(top & 1) << 24
            v = (v + (i + 5) if forward else v - (i + 5)) & 0x1FFFFFF
            data[i + 1], data[i + 2], data[i + 3] = v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF
            data[i + 4] = 0xFF if v >> 24 else 0
        i += 5  # rewritten or not: the bytes that decide (opcode, top byte) are then never rewritten


def _near_sparc_calls(words: np.ndarray) -> np.ndarray:
    """Which of `words` (big-endian 32-bit values, int64) are near SPARC CALLs: top bits 01,
    bits 29 to 20 all 0 or all 1."""
    sign_bits = (words >> 20) & 0x3FF
    return (words >> 30 == 1) & ((sign_bits == 0) | (sign_bits == 0x3FF))


def _looks_sparc(data: np.ndarray) -> bool:
    """Whether at least one aligned word in _SPARC_SHARE is a near SPARC CALL."""
    words = data[: len(data) // 4 * 4].view(">u4").astype(np.int64)
    return int(np.count_nonzero(_near_sparc_calls(words))) * _SPARC_SHARE >= len(words) > 0


def _sparc_targets(data: np.ndarray, forward: bool) -> None:
    """Rewrite the near SPARC CALLs of `data` (uint8) in place as targets (forward) or back: the
    displacement's 21 low bits plus or minus the word's index, modulo 2^21, bits 29 to 21 copies
    of bit 20. A word stays a near call or not either way, so both ways visit the same words."""
    whole = data[: len(data) // 4 * 4].view(">u4")
    words = whole.astype(np.int64)
    calls = np.flatnonzero(_near_sparc_calls(words))
    v = (words[calls] + calls if forward else words[calls] - calls) & 0x1FFFFF
    whole[calls] = 1 << 30 | np.where(v >> 20, 0x3FE00000, 0) | v


def _power_of_two(n: int) -> int:
    return 1 << (n.bit_length() - 1)


@jit
def _first_contexts(m: _Model) -> None:
    """The first byte's contexts (as after a byte 0 that is not in the history)."""
    m.reg[_PIXEL_GAIN] = _PICTURE_OFF
    for k in range(_N_HASHED):
        m.h[k] = _hash(0, k)
        m.slot[k] = _find(m.t, m.slots, m.priority, m.h[k])
    for k in range(_N_RUN):
        m.reg[_RUN + 2 * _N_RUN + k] = _run_entry(m.h[_RUN_CONTEXTS[k]], m.run.shape[0])


@hookimpl
def harness_predictors() -> list[type[SequenceCoder]]:
    return [ContextMixing]
