"""`mix`: the distributions of other predictors, mixed by weights learnt on the coded stream.

    harness run -p 'mix:gpt+ngram'
    harness run -p 'mix:gpt(width=128;lr=1e-3)+ngram(order=5;memory_mib=16),lr=0.003'

Members are predictor specs joined by `+`; a member's options go in parentheses, separated by
`;` (the spec's own `,` separates the mix's options). The members run in lockstep, each given
the same symbols, and their distributions p_1..p_n over the same byte alphabet are mixed in the
log domain (geometric, or log-linear, mixing, as NNCP's and cmix's final mixers do):

    p(x) = exp(sum_i w_i log p_i(x)) / Z.

After each symbol s the weights take a gradient step on its code length -log2 p(s):
d(-ln p(s))/dw_i = -(log p_i(s) - sum_x p(x) log p_i(x)), so a member that gave s more than the
mixture expected gains weight. They start at 1/n (the geometric mean) and are shared by all
streams; encoder and decoder apply the same float64 steps in the same order.

Members are step predictors (`Predictor`: order0, ngram, plugins alike) and at most one online
model that codes B streams in lockstep (lstm, gpt): then the mix runs inside that model's loop,
and each step member runs once per stream, seeing that stream's bytes in order, from
`Predictor.stream()`. An ngram member's streams share one set of tables, so each stream's
predictions draw on what all of them coded so far (version 1 gave each stream its own tables,
so each saw a 16th of the file); other members get one model per stream.

A tokenizing model (hf, `TokenBytes`) joins a bitwise mix as its bytes: the encoder tokenizes
the input, and each token is walked a byte at a time through the model's token table
(plugins/hf/byte_view.py): before each byte the model's masses over it, given the token's bytes
so far, are one more member's distribution (a hint of cm's); where the token may end or go on,
that decision, and where ids share bytes, which one, are coded with the model's own masses in
between, their bits counted with the next byte. The token count leads the payload. One stream:
no online member beside it, and the model's batch is 1. A pretrained model starts far ahead of
cm, which a hint among cm's inputs would dilute until its mixers learnt it: so a final stage
mixes cm's p with the model's own bit probability q, p' = squash(a st(p) + b st(q)), a weight
pair per bit position and per bucket of |st(q)| (how sure the model is), starting at (0, 1),
the model alone, and learning on each coded bit as the hints' scales do.

A bitwise member (cm, which codes 8 binary decisions a byte) makes the whole mix bitwise, as
cmix's is: each byte is coded as 8 decisions, most significant bit first, and before each the
byte members' distributions become bit probabilities, member i's p_i = P(bit = 1 | the byte's
bits so far) = its mass on the bytes below that node with the bit set, over its mass below the
node. Each, in the logistic domain and scaled by a weight per node of the byte's tree (the
partial byte c0),

    x_i = w_i st(p_i),  st(p) = ln(p / (1 - p)) clipped to +-8,

is one more input of the bitwise member's own mixers (a hint; cm takes two), whose weight
sets, chosen by its contexts, learn where to trust it; the bitwise member's p, after its SSE
stages, is the p coded (PAQ mixes its models so). After bit y the weight moves w_i += lr * (y - q_i) * st(p_i),
q_i = squash(x_i) = st^-1(x_i), the gradient of -ln Q_i(y): a member's scale learns how sure
it should sound. The weights start at 1. A bitwise member runs one model per stream of the
online member, all sharing one set of tables (`bit_streams`). Hints rather than a final mixer of
mix's own over cm's p and the others': they code better (results/online/README.md has both
measured, with the commands).

With `chunk=N` each N bytes are coded by members built afresh, as if each chunk were a file of
its own (LMIC's protocol, as hf's `chunk`): `harness run --chunk-bytes` can then fan a long file
out as parts, and keep the parts finished when a sitting ends. The payload is each chunk's,
their sizes leading them.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np

import harness.registry
from harness import bitmix, coder, wire
from harness.errors import HarnessError
from harness.hookspecs import hookimpl
from harness.predictor import (
    SYMBOL_BYTES,
    Bitwise,
    CodeOne,
    Decide,
    Option,
    Predictor,
    Progress,
    SequenceCoder,
    TokenBytes,
    canonical_spec,
    decode_in_any_order,
    encode_in_any_order,
    member_specs,
    member_text,
    no_progress,
)

FINAL_LR = 0.005
"""The final stage's learning rate (a token member's): of 0, 0.002, 0.006 and 0.02, tried on
alice29's first 5,000 and 20,000 bytes with SmolLM2, 0.002 to 0.006 coded best, the higher rate
on the longer input."""


CodeMixed = Callable[[int, int, list[np.ndarray]], int]
"""`code(position, stream, distributions)`: mix the byte members' distributions for the symbol at
a file position (on that stream of the online member), code it and return it."""


class Mix(SequenceCoder):
    """A learnt log-linear mixture of other predictors (see the module docstring)."""

    name = "mix"
    description = "log-linear mixture of predictors, weights learnt online: mix:gpt+ngram(order=5)"
    positional = "members"
    options = {
        "members": Option("", "predictors joined by +, options in parentheses with ;", pattern=r"[\w.\-()=;+/]{1,500}"),
        "lr": Option(0.002, "learning rate of the mixing weights", 0.0, 1.0),
        "chunk": Option(
            0,
            "bytes per independent chunk, each coded by freshly built members (0: one stream)",
            0,
            1 << 30,
            added_later=True,
        ),
    }
    test_options = {"members": "order0+ngram(order=2;memory_mib=1)"}
    whole_input = True  # with an online member it lays the input out in streams; step members need not

    version = 2  # 2: an ngram member's streams share its tables

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        registry = harness.registry.current()
        self.specs = [canonical for _, _, canonical in self._entries(self.settings)]
        self.members = [registry.build(spec) for spec in self.specs]  # step members: one per stream later
        self.driver = next((m for m in self.members if m.lockstep), None)  # a Lockstep
        self.bit_member = cast("Bitwise | None", next((m for m in self.members if m.bitwise), None))
        self.token_member = cast("TokenBytes | None", next((m for m in self.members if m.tokenizes), None))
        self.model_bytes = sum(m.model_bytes for m in self.members)  # a pretrained member's, charged to the mix
        n = len(self.members)  # bitwise: a scale per node of the byte's tree for each byte member
        self.weights = np.ones((256, n - 1)) if self.bit_member is not None else np.full(n, 1.0 / n)
        self._stream_members: list[Predictor] = []  # the step members of streams 1..B-1
        self.flops_per_symbol = sum(m.flops_per_symbol for m in self.members) + 6.0 * 256 * len(self.members)

    @property
    def params(self) -> int:
        """The members' parameters, every stream's own step members counted (read after coding,
        an n-gram member's count is what it stored)."""
        own = [m for m in self._stream_members if not m.shares_streams]
        return int(sum(m.params for m in [*self.members, *own]))

    @classmethod
    def member_versions(cls, settings: dict[str, Any]) -> dict[str, int]:
        return {member.name: member.version for member, _, _ in cls._entries(settings)}

    @staticmethod
    def _entries(settings: dict[str, Any]) -> list[tuple[type[SequenceCoder], dict[str, Any], str]]:
        """The members' (class, settings, canonical spec), refused before any of them loads a model."""
        specs = member_specs(settings["members"]) if settings["members"] else []
        if len(specs) < 2:
            raise HarnessError("mix needs two or more members: mix:gpt+ngram (see `harness list predictors --options`)")
        registry = harness.registry.current()
        entries = [registry.predictor(spec) for spec in specs]
        _check_members([cls for cls, _, _ in entries])
        return entries

    @classmethod
    def portable(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """The members as they name themselves portably (a local model as ./NAME), where any
        does differently from its spec."""
        entries = cls._entries(settings)
        if all(member.portable(own) == own for member, own, _ in entries):
            return settings
        specs = [canonical_spec(member.name, member.portable(own), member) for member, own, _ in entries]
        return {**settings, "members": "+".join(map(member_text, specs))}

    @classmethod
    def local_models(cls, settings: dict[str, Any]) -> tuple[str, ...]:
        return tuple(model for member, own, _ in cls._entries(settings) for model in member.local_models(own))

    @classmethod
    def earlier_configs(cls, config: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Also with each member's config as an earlier version of it wrote it (its class's
        `earlier_configs`, the static and the built config alike): an option or a key a member
        gained later does not make the mixes written before it undecodable."""
        registry = harness.registry.current()
        for own in super().earlier_configs(config):
            members, built = own.get("members", []), own.get("member_configs")
            variants = []
            for k, member in enumerate(members):
                member_cls = registry.predictor(member["predictor"])[0]
                statics = list(member_cls.earlier_configs(member))
                variants.append(
                    list(zip(statics, member_cls.earlier_configs(built[k]) if built else statics, strict=False))
                )
            for combination in itertools.product(*variants):
                earlier = {**own, "members": [static for static, _ in combination]}
                yield {**earlier, "member_configs": [b for _, b in combination]} if built else earlier

    @classmethod
    def static_config(cls, settings: dict[str, Any]) -> dict[str, Any]:
        members = [member.static_config(member_settings) for member, member_settings, _ in cls._entries(settings)]
        return {**super().static_config(settings), "members": members, "numpy": np.__version__}

    @classmethod
    def memory_estimate(cls, settings: dict[str, Any], symbols: int) -> int:
        entries = cls._entries(settings)
        streams = max((s.get("batch", 1) for c, s, _ in entries if not issubclass(c, Predictor)), default=1)
        copies = {c: streams if issubclass(c, Predictor) and not c.shares_streams else 1 for c, _, _ in entries}
        own = SYMBOL_BYTES * symbols  # the whole input at once (one segment)
        chunk = min(settings["chunk"] or symbols, symbols)
        alive = 2 if chunk < symbols else 1  # the first chunk's members, and the chunk's being coded
        return own + alive * sum(c.memory_estimate(s, chunk) * copies[c] for c, s, _ in entries)

    def config(self) -> dict[str, Any]:
        """The static config, and where a member's built config says more than its static one
        (a model's checksum, its library's build), all of theirs, under a key of their own: a
        decoder checks the static part before it builds anything."""
        static = self.static_config(self.settings)
        built = [m.config() for m in self.members]
        return static if built == static["members"] else {**static, "member_configs": built}

    def coding_order(self, count: int) -> np.ndarray | None:
        if self.driver is None:
            return None
        spans = self._chunks(count)
        if len(spans) == 1:
            return self.driver.coding_order(count)
        orders = [(first, end, self.driver.coding_order(end - first)) for first, end in spans]
        return np.concatenate([first + (np.arange(end - first) if o is None else o) for first, end, o in orders])

    def _chunks(self, count: int) -> list[tuple[int, int]]:
        """[first, end) of each chunk that freshly built members code: one, the whole, without `chunk`."""
        step = self.settings["chunk"] or max(count, 1)
        return [(first, min(first + step, count)) for first in range(0, max(count, 1), step)]

    def _fresh(self, first: int) -> Mix:
        """This mix for the chunk at `first`: the first chunk's is this one, the others' newly built."""
        return self if first == 0 else Mix(**self.settings)

    def _mixed(self, distributions: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(mixture, the members' log-probabilities)."""
        logs = np.log(np.maximum(np.stack(distributions), bitmix.TINY))
        z = (self.weights[:, None] * logs).sum(axis=0)
        p = np.exp(z - z.max())
        return p / p.sum(), logs

    def _learn(self, mixture: np.ndarray, logs: np.ndarray, symbol: int) -> None:
        self.weights += self.settings["lr"] * (logs[:, symbol] - (logs * mixture).sum(axis=1))

    def encode_symbols(self, symbols: np.ndarray, progress: Progress = no_progress) -> tuple[bytes, np.ndarray]:
        """Without `chunk`, one stream; with it, each chunk's payload, their sizes leading them."""
        if not self.settings["chunk"]:
            return self._encode_stream(symbols, progress)
        coded = [
            self._fresh(first)._encode_stream(symbols[first:end], progress) for first, end in self._chunks(len(symbols))
        ]
        sizes = b"".join(wire.varint(len(payload)) for payload, _ in coded)
        return sizes + b"".join(payload for payload, _ in coded), np.concatenate([bits for _, bits in coded])

    def decode_symbols(self, payload: bytes, count: int, progress: Progress = no_progress) -> np.ndarray:
        if not self.settings["chunk"]:
            return self._decode_stream(payload, count, progress)
        if -(-count // self.settings["chunk"]) > len(payload):  # a size byte each, at least: nothing is sized first
            raise HarnessError("not a valid .hz file: more chunks than payload bytes")
        reader = wire.Reader(io.BytesIO(payload), len(payload))
        spans = self._chunks(count)
        sizes = [reader.varint() for _ in spans]
        if sum(sizes) != reader.left:
            raise HarnessError("not a valid .hz file: the chunks' payload sizes do not add up")
        ends = np.cumsum([len(payload) - reader.left, *sizes]).tolist()
        return np.concatenate(
            [
                self._fresh(first)._decode_stream(payload[start:stop], end - first, progress)
                for (first, end), start, stop in zip(spans, ends[:-1], ends[1:], strict=True)
            ]
        )

    def _encode_stream(self, symbols: np.ndarray, progress: Progress) -> tuple[bytes, np.ndarray]:
        if self.token_member is not None:
            return self._encode_tokens(symbols, progress)
        if self.bit_member is not None:
            return self._encode_bits(symbols, progress)
        return encode_in_any_order(
            self.alphabet_size, symbols, lambda code: self._run(len(symbols), self._log_linear(code), progress)
        )

    def _decode_stream(self, payload: bytes, count: int, progress: Progress) -> np.ndarray:
        if self.token_member is not None:
            return self._decode_tokens(payload, count, progress)
        if self.bit_member is not None:
            return self._decode_bits(payload, count, progress)
        return decode_in_any_order(
            self.alphabet_size, payload, count, lambda code: self._run(count, self._log_linear(code), progress)
        )

    def _log_linear(self, code: CodeOne) -> CodeMixed:
        def code_mixed(position: int, stream: int, distributions: list[np.ndarray]) -> int:
            mixture, logs = self._mixed(distributions)
            symbol = code(position, mixture)
            self._learn(mixture, logs, symbol)
            return symbol

        return code_mixed

    def _encode_bits(self, symbols: np.ndarray, progress: Progress) -> tuple[bytes, np.ndarray]:
        encoder = coder.Encoder(2)
        bits = np.zeros(len(symbols), dtype=np.float32)
        code = self._bitwise_coder(len(symbols), lambda: encoder.buffers(8), np.array(symbols, np.int64), bits)
        self._run(len(symbols), code, progress)
        return encoder.finish(), bits

    def _decode_bits(self, payload: bytes, count: int, progress: Progress) -> np.ndarray:
        decoder = coder.Decoder(bytearray(payload), 2)  # writable: one kernel encodes and decodes
        symbols = np.full(count, -1, dtype=np.int64)
        self._run(count, self._bitwise_coder(count, decoder.buffers, symbols, np.zeros(count)), progress)
        return symbols

    def _encode_tokens(self, symbols: np.ndarray, progress: Progress) -> tuple[bytes, np.ndarray]:
        """The token member's symbols of the input lead the payload as a count; its bytes are
        coded bitwise as any others, its ends of tokens (and choices among ids with the same
        bytes) in between, their bits counted with the next byte's."""
        tokens = self.token_member.to_symbols(np.asarray(symbols, dtype=np.uint8).tobytes())
        encoder = coder.Encoder(2)
        bits = np.zeros(len(symbols), dtype=np.float32)
        code = self._bitwise_coder(len(symbols), lambda: encoder.buffers(8), np.array(symbols, np.int64), bits)
        between = [0.0]

        def decide(probs: np.ndarray, index: int | None) -> int:
            before = encoder.ideal_bits
            encoder.encode(index, probs)
            between[0] += encoder.ideal_bits - before
            return index

        def code_with_decisions(position: int, stream: int, distributions: list[np.ndarray]) -> int:
            symbol = code(position, stream, distributions)
            bits[position] += between[0]
            between[0] = 0.0
            return symbol

        self._code_tokens(tokens, len(tokens), len(symbols), code_with_decisions, decide, progress)
        return wire.varint(len(tokens)) + encoder.finish(), bits

    def _decode_tokens(self, payload: bytes, count: int, progress: Progress) -> np.ndarray:
        reader = wire.Reader(io.BytesIO(payload), len(payload))
        tokens = reader.varint()
        if tokens > count:
            raise HarnessError("not a valid .hz file: more tokens than bytes")
        decoder = coder.Decoder(bytearray(payload[len(payload) - reader.left :]), 2)
        symbols = np.full(count, -1, dtype=np.int64)
        code = self._bitwise_coder(count, decoder.buffers, symbols, np.zeros(count))
        self._code_tokens(None, tokens, count, code, lambda probs, _: decoder.decode(probs), progress)
        return symbols

    def _code_tokens(
        self, tokens: np.ndarray | None, n: int, count: int, code: CodeMixed, decide: Decide, progress: Progress
    ) -> None:
        """Code the `count` bytes of `n` tokens of the token member, each byte by `code` from the
        byte members' distributions and the token member's over the byte, as it walks its trie."""
        steppers = [m for m in self.members if not m.bitwise and not m.tokenizes]
        position = 0

        def code_byte(masses: np.ndarray, byte: int | None) -> int:
            nonlocal position
            if position == count:
                raise HarnessError("not a valid .hz file: its tokens hold more bytes than the file")
            distributions = [m.predict() for m in steppers]
            distributions.insert(0, masses / masses.sum())
            symbol = code(position, 0, distributions)
            for m in steppers:
                m.update(symbol)
            position += 1
            progress(1)
            return symbol

        self.token_member.code_bytes(tokens, n, decide, code_byte)
        if position != count:
            raise HarnessError("not a valid .hz file: its tokens hold fewer bytes than the file")

    def _bitwise_coder(
        self, count: int, buffers: Callable[[], tuple[np.ndarray, np.ndarray]], symbols: np.ndarray, bits: np.ndarray
    ) -> CodeMixed:
        """`code` for a bitwise mix: codes symbols[position] (decodes it, where it is -1) and puts its
        code length in bits[position]."""
        bitwise = self.bit_member
        starts = [0]
        if self.driver is not None:
            length, _ = self.driver.layout(count)
            starts = [stream * length for stream in range(self.driver.settings["batch"])]
        models = bitwise.bit_streams(count, starts)
        cum = np.zeros(3, dtype=np.uint64)
        lr = self.settings["lr"]
        # A token member leads (its distribution first): the final stage starts as it alone.
        rows = 8 * bitmix.LEAD_BUCKETS if self.token_member is not None else 0
        final = np.tile([0.0, 1.0], (rows, 1))

        def code(position: int, stream: int, distributions: list[np.ndarray]) -> int:
            state, buffer = buffers()
            stacked, symbol = np.stack(distributions), int(symbols[position])
            symbol, bits[position] = bitwise.code_byte(
                models[stream], stacked, self.weights, lr, final, FINAL_LR, state, buffer, cum, symbol
            )
            symbols[position] = symbol
            return symbol

        return code

    def _run(self, count: int, code: CodeMixed, progress: Progress) -> None:
        """Code `count` symbols, each by `code` from the byte members' distributions."""
        steppers = [m for m in self.members if m is not self.driver and not m.bitwise]
        if self.driver is None:
            for position in range(count):
                symbol = code(position, 0, [m.predict() for m in steppers])
                for m in steppers:
                    m.update(symbol)
                progress(1)
            return
        length, _ = self.driver.layout(count)
        streams = [steppers] + [[m.stream() for m in steppers] for _ in range(1, self.driver.settings["batch"])]
        self._stream_members = [m for stream in streams[1:] for m in stream]
        driver_at = [m for m in self.members if not m.bitwise].index(self.driver)

        def code_step(positions: np.ndarray, driver_probs: np.ndarray) -> np.ndarray:
            out = np.zeros(len(positions), dtype=np.int64)
            for row, position in enumerate(positions.tolist()):
                own = streams[position // length]
                distributions = [m.predict() for m in own]
                distributions.insert(driver_at, driver_probs[row])
                out[row] = symbol = code(position, position // length, distributions)
                for m in own:
                    m.update(symbol)
            return out

        self.driver.code_streams(count, code_step, progress)


def _check_members(classes: list[type[SequenceCoder]]) -> None:
    drivers = [c for c in classes if c.lockstep]
    bitwise = [c for c in classes if c.bitwise]
    others = [c for c in classes if not issubclass(c, Predictor) and not (c.lockstep or c.bitwise or c.tokenizes)]
    if others or len(drivers) > 1 or len(bitwise) > 1:
        names = ", ".join(c.name for c in others or (drivers if len(drivers) > 1 else bitwise))
        raise HarnessError(
            "mix: members must be step predictors (order0, ngram, ...), at most one online model (lstm, gpt) "
            f"and at most one bitwise model (cm); not {names}"
        )
    if bitwise and len(classes) - 1 > bitwise[0].hints:
        raise HarnessError(f"mix: {bitwise[0].name} takes hints from at most {bitwise[0].hints} other members")
    tokenizing = [c for c in classes if c.tokenizes]
    if tokenizing and (len(tokenizing) > 1 or not bitwise or drivers or not hasattr(tokenizing[0], "code_bytes")):
        raise HarnessError(
            "mix: a tokenizing member (hf) joins as its bytes, through a bitwise member (cm), alone among "
            "tokenizing and online members"
        )


@hookimpl
def harness_predictors() -> list[type[SequenceCoder]]:
    return [Mix]
