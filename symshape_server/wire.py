"""Evaluate's reply written straight to protobuf bytes from the program's registers.

Building an EvaluateResponse message field by field costs about 14 us per layer in upb calls (a
71-layer ResNet-18: ~1 ms, more than the evaluation), and `symshape.evaluate.evaluate` first builds
Python objects for every layer. A valid binding (the common case) needs neither: each layer's
fixed part (index, name, kind) is encoded once per derivation, and only the numbers are encoded per
call. The bytes parse to the same message as `convert.evaluate_response` gives (tests compare
them); an invalid binding (violations to word) goes the ordinary way.

Wire format (proto3): a field is its key (number << 3 | wire type) then a varint, or a length and
bytes; int64 is a varint of the two's complement (10 bytes when negative); packed repeated int64 is
one length-delimited run of varints; fields at their default are left out, except `valid`, which has
explicit presence.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

from symshape.limits import current
from symshape.program import register_getter

__all__ = ["EvaluateEncoder"]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SHORT = [bytes([n]) if n < 128 else bytes([(n & 127) | 128, n >> 7]) for n in range(16384)]  # 1-2 bytes
_LOW = [bytes([(n & 127) | 128, (n >> 7) | 128]) for n in range(16384)]  # 14 low bits, more bytes to follow


def _varint(n: int) -> bytes:
    """The varint of an int64 (negative: its two's complement on 64 bits, 10 bytes), 14 bits a table lookup."""
    if n < 16384:
        return _SHORT[n] if n >= 0 else _varint(n + (1 << 64))
    return _LOW[n & 16383] + _varint(n >> 14)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _text_field(tag: bytes, text: str) -> bytes:
    """A string field whose key is `tag` (one byte: field numbers up to 15): its length and UTF-8."""
    data = text.encode()
    return tag + _varint(len(data)) + data


_COUNT_KEYS = [bytes([k << 3]) for k in range(1, 7)]  # IntCounts fields 1..6, varint


def _v(n: int) -> bytes:
    """The varint of a nonzero int64 value; OverflowError beyond int64."""
    if 0 < n < 16384:
        return _SHORT[n]
    if 0 < n < 1 << 28:  # (most counts: two lookups, no call)
        return _LOW[n & 16383] + _SHORT[n >> 14]
    if 0 < n < 1 << 42:
        return _LOW[n & 16383] + _LOW[n >> 14 & 16383] + _SHORT[n >> 28]
    if 0 < n < 1 << 56:  # (a network's total MACs at large sizes)
        return _LOW[n & 16383] + _LOW[n >> 14 & 16383] + _LOW[n >> 28 & 16383] + _SHORT[n >> 42]
    if not INT64_MIN <= n <= INT64_MAX:
        raise OverflowError(f"a result ({n}) does not fit in int64")
    return _varint(n)


class EvaluateEncoder:
    """EvaluateResponse bytes for one derivation (its compiled program and id).

    A valid reply is fixed bytes with the numbers that vary with the binding in between: which numbers
    (`varying`: registers, and the layers' totals of two of them) is known here, and once their varints'
    lengths are known (a zero or undefined count is left out; a zero or undefined size is one byte), so
    are the positions and every length prefix. So a call computes the varying numbers' varints, and joins
    them with a skeleton made once per pattern of lengths (a sweep meets a few). Everything that does
    not vary (index, name, kind, constant sizes and counts: most of a CNN's numbers) is in the skeleton."""

    MAX_SKELETONS = 256

    def __init__(self, compiled: Any, key: str, worst_bits: float = math.inf) -> None:
        """`worst_bits`: symshape_server.bounds' bound on every register over int64 bindings; under the library's
        max_bits, the products and powers run without their checks (none could fire)."""
        self.c = compiled
        self.worst_bits = worst_bits
        self.head = _field(1, key.encode())  # derivation_id
        consts = {i: args[0] for i, (op, args) in enumerate(compiled.program.ops) if op == "const"}
        slots: dict[int, int] = {}  # a varying register -> its slot
        pairs: list[tuple[int, int]] = []  # slots of trainable and non-trainable, for a layer's total

        def fixed(n: Any) -> bool:  # a constant that encodes here (None: undefined; beyond int64: at call time)
            return n is not _VARIES and n is not None and not isinstance(n, bool) and INT64_MIN <= n <= INT64_MAX

        def size(r: int) -> bytes | int:  # a size: its varint, or its slot
            return _varint(consts[r]) if fixed(consts.get(r, _VARIES)) else slots.setdefault(r, len(slots))

        def count(k: int, r: int) -> tuple[bytes, bytes | int | tuple]:  # (key, varint b"" if zero, or slot)
            key = _COUNT_KEYS[k - 1]
            n = consts.get(r, _VARIES)
            return (key, _varint(n) if n else b"") if fixed(n) else (key, slots.setdefault(r, len(slots)))

        def counts(tr: int, nt: int, total: Any, buffers: int, macs: int, activations: int) -> tuple:
            return (count(1, tr), count(2, nt), total, count(4, buffers), count(5, macs), count(6, activations))

        self.layers: list[tuple] = []  # (fixed part, output shapes, counts), shapes and counts as templates
        for lr in compiled.layer_regs:
            head = b""
            if lr["index"]:
                head += b"\x08" + _varint(lr["index"])
            if lr["name"]:
                head += _field(2, lr["name"].encode())
            if lr["kind"]:
                head += _field(3, lr["kind"].encode())
            tr, nt = lr["trainable"], lr["non_trainable"]
            ctr, cnt = consts.get(tr, _VARIES), consts.get(nt, _VARIES)
            if fixed(ctr) and fixed(cnt) and INT64_MIN <= ctr + cnt <= INT64_MAX:
                total: tuple = (_COUNT_KEYS[2], _varint(ctr + cnt) if ctr + cnt else b"")
            else:  # trainable + non-trainable, undefined where either is: a slot of its own, after the registers
                total = (_COUNT_KEYS[2], ("pair", len(pairs)))
                pairs.append((tr, nt))
            self.layers.append((head, [tuple(size(r) for r in shape) for shape in lr["outputs"]],
                                counts(tr, nt, total, lr["buffers"], lr["macs"], lr["activations"])))
        t = compiled.totals
        self.output = tuple(size(r) for r in compiled.output[0]) if compiled.output else ()
        self.totals = (count(1, t["trainable"]), count(2, t["non_trainable"]), count(3, t["params"]),
                       count(4, t["buffers"]), count(5, t["macs"]), count(6, t["activations"]))
        self.pairs = [(slots.setdefault(a, len(slots)), slots.setdefault(b, len(slots))) for a, b in pairs]
        self.varying = list(slots)  # registers, in slot order; the pairs' totals take the slots after them
        self.read = register_getter(self.varying)  # registers -> the varying numbers, in slot order
        self.wanted = (compiled.valid, *self.varying)  # what a valid reply reads: run_int computes only these
        base = len(slots)
        for i, (head, shapes, fields) in enumerate(self.layers):
            self.layers[i] = (head, shapes, tuple(
                (key, base + x[1]) if isinstance(x, tuple) else (key, x) for key, x in fields))
        self.skeletons: dict[tuple[int, ...], tuple[list[bytes], Callable[[list], tuple]]] = {}

    def _skeleton(self, lengths: tuple[int, ...]) -> tuple[list[bytes], Callable[[list], tuple]]:
        """The reply for this pattern of lengths: its fixed parts (adjacent bytes merged), and a getter that,
        given the numbers' varints followed by those parts, picks the reply's pieces in order."""
        def dims(template: tuple) -> tuple[list, int]:  # a packed run of sizes
            parts: list = []
            n = 0
            for x in template:
                if x.__class__ is bytes:
                    parts.append(x)
                    n += len(x)
                elif lengths[x]:
                    parts.append(x)
                    n += lengths[x]
                else:  # zero or undefined: 0
                    parts.append(b"\x00")
                    n += 1
            return parts, n

        def fields(template: tuple) -> tuple[list, int]:  # IntCounts' fields, zeros left out
            parts: list = []
            n = 0
            for key, x in template:
                if x.__class__ is bytes:
                    if x:
                        parts.append(key + x)
                        n += len(key) + len(x)
                elif lengths[x]:
                    parts += [key, x]
                    n += len(key) + lengths[x]
            return parts, n

        def message(tag: bytes, parts: list, n: int) -> tuple[list, int]:
            prefix = tag + _varint(n)
            return [prefix, *parts], len(prefix) + n

        out: list = [self.head]
        if self.output:
            run, n = dims(self.output)
            if n:
                out += message(b"\x12", *message(b"\x0a", run, n))[0]
        out += message(b"\x1a", *fields(self.totals))[0]  # set even when all zero, as the message API sets it
        for head, shapes, counts in self.layers:
            body, size = [head], len(head)
            for shape in shapes:
                run, n = dims(shape)
                part, m = message(b"\x22", *(message(b"\x0a", run, n) if n else ([], 0)))
                body += part
                size += m
            part, m = message(b"\x2a", *fields(counts))
            body += part
            out += message(b"\x22", body, size + m)[0]
        out.append(b"\x28\x01")  # valid = true (explicit presence)
        merged: list[bytes | int] = []
        for x in out:
            if x.__class__ is bytes and merged and merged[-1].__class__ is bytes:
                merged[-1] += x
            elif x != b"":
                merged.append(x)
        # joined by one itemgetter over the numbers' varints followed by the fixed parts (no loop in Python)
        fixed = [x for x in merged if x.__class__ is bytes] + [b""]  # (b"": at least two items to get)
        numbers, at = len(lengths), 0
        index = []
        for x in merged:
            if x.__class__ is bytes:
                index.append(numbers + at)
                at += 1
            else:
                index.append(x)
        skeleton = (fixed, operator.itemgetter(*index, numbers + at))
        if len(self.skeletons) >= self.MAX_SKELETONS:  # the oldest pattern goes (a dict keeps insertion order)
            self.skeletons.pop(next(iter(self.skeletons)), None)
        self.skeletons[lengths] = skeleton
        return skeleton

    def valid_reply(self, values: dict[str, int]) -> bytes | None:
        """The reply's bytes when the binding is valid; None when it is not, or when a number does not fit in
        int64: the caller words the violations, or the overflow (`convert.evaluate_response`)."""
        c = self.c
        # a product's check fires past max_bits + 1 bits in its factors, within 2 of the bound on its result
        regs = c.program.run_int(values, self.wanted, checked=self.worst_bits + 4 >= current().max_bits)
        if not regs[c.valid]:
            return None
        numbers = list(self.read(regs))
        for a, b in self.pairs:
            x, y = numbers[a], numbers[b]
            numbers.append(None if x is None or y is None else x + y)
        v, short, low = _v, _SHORT, _LOW
        try:  # zero or undefined: none (see _skeleton); below 2^28 (sizes, most counts) lookups without a call
            enc = [b"" if not n else short[n] if 0 < n < 16384 else low[n & 16383] + short[n >> 14]
                   if 0 < n < 268435456 else v(n) for n in numbers]
        except OverflowError:
            return None
        lengths = tuple(map(len, enc))
        fixed, get = self.skeletons.get(lengths) or self._skeleton(lengths)
        return b"".join(get(enc + fixed))


_VARIES = object()  # a register whose value depends on the binding
