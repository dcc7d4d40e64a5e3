"""The symbols of `hf`: token ids plus 256 literal bytes, and how a text becomes them.

A token is used only where its bytes (from a fixed id -> bytes table) are exactly the next input
bytes; anything else (invalid UTF-8, binary, text the tokenizer normalises) is coded as literal
bytes, which get an adaptive share of the probability mass (`Literals`). Decoding concatenates
table entries and never re-tokenizes, so every input round-trips.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np

LITERALS = 256
_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")
# Text worth tokenizing: 4+ characters of valid UTF-8 without control characters other than
# \t \n \f \r (undecodable bytes are the surrogates of "surrogateescape"). Shorter runs inside
# binary data cost more as tokens, which an LM finds unlikely there, than as literal bytes.
_TEXT_RUN = re.compile("[^\x00-\x08\x0b\x0e-\x1f\x7f\udc80-\udcff]{4,}")


def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's printable stand-in character for each byte, inverted (char -> byte)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[chr(byte)] = byte
        else:
            chars[chr(256 + extra)] = byte
            extra += 1
    return chars


def token_table(tokenizer: Any, vocab: int) -> list[bytes]:
    """The bytes each token id stands for: what decoding concatenates (b"" = never emitted)."""
    decoder = json.loads(tokenizer.backend_tokenizer.to_str()).get("decoder") or {}
    parts = decoder.get("decoders", [decoder]) if decoder.get("type") == "Sequence" else [decoder]
    byte_level = any(part.get("type") == "ByteLevel" for part in parts)
    inverse = _byte_level_alphabet()
    added = {i: t.content for i, t in tokenizer.added_tokens_decoder.items()}
    table = []
    for i, token in enumerate(tokenizer.convert_ids_to_tokens(list(range(min(vocab, len(tokenizer)))))):
        if token is None:
            table.append(b"")
        elif i in added:
            table.append(added[i].encode())
        elif byte_level:
            table.append(bytes(inverse[c] for c in token) if all(c in inverse for c in token) else b"")
        elif match := _BYTE_TOKEN.fullmatch(token):
            table.append(bytes([int(match.group(1), 16)]))
        else:  # SentencePiece style: "▁" marks a space
            table.append(token.replace("▁", " ").encode())
    return table + [b""] * (vocab - len(table))


Tokenize = Callable[[str], list[tuple[int, int]]]
"""A backend's tokenizer: a text's token ids, each with the byte offset in the text where it ends."""


def to_symbols(tokenize: Tokenize, table: list[bytes], vocab: int, data: bytes) -> np.ndarray:
    """The symbols of `data`: its text runs tokenized and aligned, literal bytes elsewhere."""
    text = data.decode("utf-8", "surrogateescape")
    symbols: list[int] = []
    done = 0
    for run in _TEXT_RUN.finditer(text):
        symbols += _literals_of(vocab, text[done : run.start()])
        symbols += _align(tokenize, table, vocab, run.group())
        done = run.end()
    symbols += _literals_of(vocab, text[done:])
    return np.array(symbols, dtype=np.int64)


def from_symbols(table: list[bytes], vocab: int, symbols: np.ndarray) -> bytes:
    return b"".join(table[s] if s < vocab else bytes([s - vocab]) for s in np.asarray(symbols).tolist())


def _literals_of(vocab: int, text: str) -> list[int]:
    return [vocab + b for b in text.encode("utf-8", "surrogateescape")]


def _align(tokenize: Tokenize, table: list[bytes], vocab: int, text: str) -> list[int]:
    """Token ids whose table bytes are exactly the next bytes, literals for the rest."""
    data = text.encode()
    out: list[int] = []
    pos = 0
    for token, end in tokenize(text):
        piece = table[token] if token < len(table) else b""
        if piece and data.startswith(piece, pos):
            out.append(token)
            pos += len(piece)
        elif end > pos:
            out += [vocab + b for b in data[pos:end]]
            pos = end
    return out + [vocab + b for b in data[pos:]]


def transformers_tokenize(tokenizer: Any, text: str) -> list[tuple[int, int]]:
    """`Tokenize` with a fast transformers tokenizer, its character offsets turned into bytes."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    widths = 1 + (codes >= 0x80) + (codes >= 0x800) + (codes >= 0x10000)
    byte_at = np.concatenate([[0], np.cumsum(widths)]).tolist()
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = encoding["offset_mapping"]
    return [(token, byte_at[end]) for token, (_, end) in zip(encoding["input_ids"], offsets, strict=True)]


class Literals:
    """The escape to literal bytes, one per stream: literals get a share of the probability mass
    (a KT estimate of how often they occurred so far), spread by an adaptive order-0 byte model."""

    def __init__(self, vocab: int) -> None:
        self.vocab = vocab
        self.counts = np.full(LITERALS, 0.5)
        self.literals = 0
        self.coded = 0

    def share(self) -> float:
        return (self.literals + 0.5) / (self.coded + 1)

    def mixture(self, token_probs: np.ndarray) -> np.ndarray:
        """The next symbol's distribution, given the model's over the tokens."""
        share = self.share()
        return np.concatenate([token_probs * (1.0 - share), self.counts * (share / self.counts.sum())])

    def probability(self, symbol: int, token_prob: float) -> float:
        """`symbol`'s entry in `mixture`, given the model's probability of it if it is a token."""
        share = self.share()
        if symbol < self.vocab:
            return token_prob * (1.0 - share)
        return self.counts[symbol - self.vocab] * (share / self.counts.sum())

    def observe(self, symbol: int) -> None:
        self.coded += 1
        if symbol >= self.vocab:
            self.literals += 1
            self.counts[symbol - self.vocab] += 1.0


class OnlineBias:
    """A bias per token on the model's log-probabilities, learnt on the coded stream, one per
    stream: p(t) = q(t) e^b_t / Z over the model's q, and after token s each b_t takes a step
    on -ln p(s), b += lr (onehot(s) - p). The frozen model's view, adapted to this text: tokens
    it uses more than the model expects (its names, its style) gain mass, as a cache would
    give them, in the model's own terms. lr = 0 leaves q as it is."""

    def __init__(self, vocab: int, lr: float) -> None:
        self.lr = lr
        size = vocab if lr else 0  # off (the default): no tables, at any batch
        self.bias = np.zeros(size)
        self.probs = np.zeros(size)
        self._step = np.zeros(size)

    def apply(self, token_probs: np.ndarray) -> np.ndarray:
        if not self.lr:
            return token_probs
        probs = self.probs  # in place: a step is a few passes over the vocabulary, no allocation
        np.subtract(self.bias, self.bias.max(), out=probs)
        np.exp(probs, out=probs)
        probs *= token_probs
        probs /= probs.sum()
        return probs

    def learn(self, token: int) -> None:
        """Learn the token coded under the last `apply`."""
        if self.lr:
            self.bias -= np.multiply(self.probs, self.lr, out=self._step)
            self.bias[token] += self.lr
