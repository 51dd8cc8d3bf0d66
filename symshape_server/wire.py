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

from typing import Any

__all__ = ["EvaluateEncoder"]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SMALL = [bytes([n]) for n in range(128)]


def _varint(n: int) -> bytes:
    if n < 128:
        return _SMALL[n] if n >= 0 else _varint(n + (1 << 64))
    out = bytearray()
    while n > 127:
        out.append((n & 127) | 128)
        n >>= 7
    out.append(n)
    return bytes(out)


def _int64(v: int | None) -> int:
    if v is None:  # undefined (a division by zero): 0, and the violations say so
        return 0
    if not INT64_MIN <= v <= INT64_MAX:
        raise OverflowError(f"a result ({v}) does not fit in int64")
    return v


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _shape(values: list[int]) -> bytes:
    """IntShape: dims (1) packed."""
    if not values:
        return b""
    run = b"".join(_varint(_int64(v)) for v in values)
    return b"\x0a" + _varint(len(run)) + run


_COUNT_KEYS = [bytes([k << 3]) for k in range(1, 7)]  # IntCounts fields 1..6, varint


def _counts(values: tuple[int | None, ...]) -> bytes:
    """IntCounts: trainable, non_trainable, total, buffers, macs, activations (zeros left out)."""
    out = []
    for key, v in zip(_COUNT_KEYS, values, strict=True):
        n = _int64(v)
        if n:
            out.append(key + _varint(n))
    return b"".join(out)


_LENS = [_varint(n) for n in range(16384)]  # varints of message lengths
_CACHE: dict[int, bytes] = {}  # varints of the int64 values seen (sizes and counts repeat across layers and calls)


def _v(n: int | None) -> bytes:
    """The varint of an int64 value (None: 0), memoized; OverflowError beyond int64."""
    hit = _CACHE.get(n)  # type: ignore[arg-type]
    if hit is not None:
        return hit
    out = _varint(_int64(n))
    if n is not None and len(_CACHE) < 1_000_000:
        _CACHE[n] = out
    return out


class EvaluateEncoder:
    """EvaluateResponse bytes for one derivation (its compiled program and id).

    What does not depend on the binding is encoded once, here: each layer's index, name and kind, and
    every size or count the program holds as a constant (channels, parameter counts: most of a CNN's
    numbers), down to whole layers. Layers that share their output registers or their counts (a
    convolution, its batch norm and its activation) share one template, encoded once per call; a call
    encodes only the registers that vary, each once."""

    def __init__(self, compiled: Any, key: str) -> None:
        self.c = compiled
        self.head = _field(1, key.encode())  # derivation_id
        consts = {i: args[0] for i, (op, args) in enumerate(compiled.program.ops) if op == "const"}
        varying: dict[int, int] = {}  # register -> its index among the varying ones

        def fixed(n: Any) -> bool:  # a constant that encodes here (None: undefined; beyond int64: at call time)
            return n is not _VARIES and n is not None and not isinstance(n, bool) and INT64_MIN <= n <= INT64_MAX

        def at(r: int) -> int:
            return varying.setdefault(r, len(varying))

        shapes: dict[tuple, int] = {}  # template -> its index (IntShape field 4 of a LayerResult, or bytes)
        counts: dict[tuple, int] = {}  # template -> its index (IntCounts field 5, or bytes)
        self.layers: list[Any] = []  # per layer: its bytes, or (fixed part, shape template ids, counts template id)
        for lr in compiled.layer_regs:
            head = b""
            if lr["index"]:
                head += b"\x08" + _varint(lr["index"])
            if lr["name"]:
                head += _field(2, lr["name"].encode())
            if lr["kind"]:
                head += _field(3, lr["kind"].encode())
            shape_ids = []
            for shape in lr["outputs"]:
                dims = tuple(_varint(consts[r]) if fixed(consts.get(r, _VARIES)) else at(r) for r in shape)
                shape_ids.append(shapes.setdefault(dims, len(shapes)))
            tr, nt = lr["trainable"], lr["non_trainable"]
            ctr, cnt = consts.get(tr, _VARIES), consts.get(nt, _VARIES)
            total = _VARIES if _VARIES in (ctr, cnt) else None if None in (ctr, cnt) else ctr + cnt
            fields: list[Any] = []  # per IntCounts field: its bytes (b"": zero, left out), or (key, varying index
            for k, reg, value in ((1, tr, ctr), (2, nt, cnt), (3, None, total),  # or the total's two)
                                  (4, lr["buffers"], consts.get(lr["buffers"], _VARIES)),
                                  (5, lr["macs"], consts.get(lr["macs"], _VARIES)),
                                  (6, lr["activations"], consts.get(lr["activations"], _VARIES))):
                keyb = _COUNT_KEYS[k - 1]
                if fixed(value):
                    fields.append(keyb + _varint(value) if value else b"")
                elif reg is None:  # the total, trainable + non-trainable: undefined where either is
                    fields.append((keyb, (at(tr), at(nt))))
                else:
                    fields.append((keyb, at(reg)))
            count_id = counts.setdefault(tuple(fields), len(counts))
            self.layers.append((head, tuple(shape_ids), count_id))
        self.varying = list(varying)  # registers, in their index order
        self.shapes = list(shapes)
        self.counts = list(counts)
        # shapes and counts with nothing varying, and layers made only of them: bytes once and for all
        self.fixed_shapes = [self._shape([], t) if all(x.__class__ is bytes for x in t) else None for t in self.shapes]
        self.fixed_counts = [self._counts([], [], t) if all(x.__class__ is bytes for x in t) else None
                             for t in self.counts]
        for i, (head, shape_ids, count_id) in enumerate(self.layers):
            if self.fixed_counts[count_id] is not None and all(self.fixed_shapes[j] is not None for j in shape_ids):
                self.layers[i] = self._layer(head, [self.fixed_shapes[j] for j in shape_ids],
                                             self.fixed_counts[count_id])

    @staticmethod
    def _shape(enc: list[bytes], template: tuple) -> bytes:
        """LayerResult.outputs (field 4): an IntShape, dims packed."""
        run = b"".join([x if x.__class__ is bytes else enc[x] for x in template])
        msg = b"\x0a" + _length(len(run)) + run if run else b""
        return b"\x22" + _length(len(msg)) + msg

    @staticmethod
    def _counts(values: list, enc: list[bytes], template: tuple) -> bytes:
        """LayerResult.counts (field 5): an IntCounts, zeros left out."""
        out = []
        for f in template:
            if f.__class__ is bytes:
                out.append(f)
                continue
            key, i = f
            if i.__class__ is tuple:  # the total
                a, b = values[i[0]], values[i[1]]
                n = None if a is None or b is None else a + b
                if n:
                    out.append(key + (_CACHE.get(n) or _v(n)))
            elif values[i]:
                out.append(key + enc[i])
        run = b"".join(out)
        return b"\x2a" + _length(len(run)) + run

    @staticmethod
    def _layer(head: bytes, shapes: list[bytes], counts: bytes) -> bytes:
        """EvaluateResponse.layers (field 4): one LayerResult."""
        body = head + b"".join(shapes) + counts
        return b"\x22" + _length(len(body)) + body

    def valid_reply(self, values: dict[str, int]) -> bytes | None:
        """The reply's bytes when the binding is valid; None when it is not (the caller words the violations)."""
        c = self.c
        regs = c.program.run_int(values)
        if not regs[c.valid]:
            return None
        cache, v = _CACHE, _v
        numbers = [regs[r] for r in self.varying]
        enc = [cache.get(n) or v(n) for n in numbers]
        shape, counts = self._shape, self._counts
        shapes = [done if done is not None else shape(enc, t) for done, t in zip(self.fixed_shapes, self.shapes)]
        count = [done if done is not None else counts(numbers, enc, t) for done, t in zip(self.fixed_counts,
                                                                                         self.counts)]
        out = [self.head]
        if c.output:
            run = b"".join([cache.get(regs[r]) or v(regs[r]) for r in c.output[0]])
            if run:
                output = b"\x0a" + _length(len(run)) + run
                out.append(b"\x12" + _length(len(output)) + output)
        t = c.totals
        total = b"".join([k + (cache.get(n) or v(n)) for k, n in zip(_COUNT_KEYS, (
            regs[t["trainable"]], regs[t["non_trainable"]], regs[t["params"]], regs[t["buffers"]], regs[t["macs"]],
            regs[t["activations"]])) if n])
        out.append(b"\x1a" + _length(len(total)) + total)  # set even when all zero, as the message API sets it
        append, extend, length = out.append, out.extend, _length
        for ly in self.layers:
            if ly.__class__ is bytes:  # nothing in it varies
                append(ly)
                continue
            head, shape_ids, count_id = ly  # a LayerResult (field 4), its parts joined once, at the end
            numbers = count[count_id]
            if len(shape_ids) == 1:
                dims = shapes[shape_ids[0]]
                extend((b"\x22", length(len(head) + len(dims) + len(numbers)), head, dims, numbers))
            else:
                parts = [shapes[j] for j in shape_ids]
                extend((b"\x22", length(len(head) + sum(map(len, parts)) + len(numbers)), head, *parts, numbers))
        append(b"\x28\x01")  # valid = true (explicit presence)
        return b"".join(out)


def _length(n: int) -> bytes:
    """The varint of a length."""
    return _LENS[n] if n < 16384 else _varint(n)


_VARIES = object()  # a register whose value depends on the binding
