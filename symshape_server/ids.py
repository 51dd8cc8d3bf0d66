"""Derivation ids that every replica understands: the id carries the canonical spec.

    s1.<payload>.<tag>     payload: the canonical spec (JSON), zlib-compressed, base64url without padding
                           tag: the first 16 bytes of SHA-256(payload), base64url
    s1k.<payload>.<tag>    the same, tagged with HMAC-SHA256(id key, payload) (`symshape serve --id-key-env VAR`)

Any serving process, on any machine, after any restart, answers a call by id: on a cache miss it
checks the tag, decompresses (bounded), and derives the spec again, exactly as if the spec had been
sent; then the id is cached like any other. There is no shared store to run.

What the tag means. The spec is not a secret (the caller sent it), and an id is only another way
to send a spec: whoever can call Evaluate with an id can call it with the spec itself. Without a
key the tag is a checksum: a truncated or corrupted id is refused (BAD_DERIVATION_ID) instead of
being derived as some other network. With a key shared by the replicas (HMAC), ids are unforgeable:
a replica answers only ids that some replica of the same fleet issued (useful when a gateway
authorizes Derive but lets by-id calls through); an unkeyed id, or one keyed by another fleet, is
refused. Rotating the key invalidates the ids issued before.

Bounds. The id of a spec whose compressed canonical form is longer than `MAX_ID_CHARS` is the plain
SHA-256 of the canonical form (64 hex digits), valid only where it is cached (NOT_FOUND elsewhere:
send the spec). A decoded payload is decompressed to at most `max_bytes` and then goes through the
same limits and deadline as a spec in a request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

__all__ = ["BadId", "IdCodec", "MAX_ID_CHARS", "canonical_json", "derivation_id", "spec_document"]

MAX_ID_CHARS = 65_536  # longer ids are hash-only (valid where cached)
TAG_BYTES = 16
MAX_NESTING = 64  # a canonical spec nests a few levels (symshape.limits max_nesting: 64)
_HEX = re.compile(r"^[0-9a-f]{64}$")
_FORM = re.compile(r"^(s1k?)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$")


class BadId(Exception):
    """A derivation_id that is malformed, fails its integrity check, or is keyed by another fleet."""


def canonical_json(spec: Any) -> str:
    """The canonical form of a loaded `symshape.spec.Spec` as JSON: keys sorted (the same network written as
    text or as structured messages gives the same id), but the inputs and the symbols as lists of [name,
    value] pairs in the spec's order: the order of the inputs is part of the network (the first feeds a first
    layer without `inputs`), and the order of the symbols is the order of `free_symbols` and of messages."""
    c = spec.canonical()
    return spec.canonical_text(**{name: [[k, v] for k, v in c[name].items()]
                                  for name in ("inputs", "symbols") if isinstance(c.get(name), dict)})


def _ordered(value: Any) -> Any:
    """[[name, value], ...] (canonical_json's form) -> a dict in that order; anything else as it is."""
    if isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in value):
        return {k: v for k, v in value}
    return value


def spec_document(canonical: dict[str, Any]) -> dict[str, Any]:
    """A spec document (what `symshape.derive` takes) from a canonical form: loading it gives the same key."""
    if not isinstance(canonical, dict) or not isinstance(canonical.get("layers"), list):
        raise BadId("the derivation_id does not hold a spec")
    doc: dict[str, Any] = {"framework": canonical.get("framework"), "inputs": _ordered(canonical.get("inputs"))}
    if canonical.get("symbols"):
        doc["symbols"] = _ordered(canonical["symbols"])
    layers = []
    for ly in canonical["layers"]:
        if not isinstance(ly, dict) or not isinstance(ly.get("kind"), str):
            raise BadId("the derivation_id does not hold a spec")
        out: dict[str, Any] = {ly["kind"]: ly.get("args") or {}}
        if ly.get("name") is not None:
            out["name"] = ly["name"]
        if ly.get("inputs") is not None:
            out["inputs"] = ly["inputs"]
        layers.append(out)
    doc["layers"] = layers
    if canonical.get("outputs"):
        doc["outputs"] = canonical["outputs"]
    for key in ("batch", "mode"):  # a spec's batch size and mode (symshape.spec), when it names them
        if canonical.get(key) is not None:
            doc[key] = canonical[key]
    return doc


def _nesting(data: bytes) -> int:
    """How deep JSON text nests its arrays and objects (strings skipped), in one linear pass."""
    depth = top = 0
    in_string = escaped = False
    for c in data:
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:  # backslash
                escaped = True
            elif c == 0x22:  # quote
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in (0x5B, 0x7B):  # [ {
            depth += 1
            top = max(top, depth)
        elif c in (0x5D, 0x7D):
            depth -= 1
    return top


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class IdCodec:
    """Makes and reads derivation ids; `key` (bytes) turns the checksum into an HMAC."""

    key: bytes | None = None
    max_bytes: int = 2_000_000  # the decompressed canonical form, at most

    def _tag(self, payload: bytes) -> bytes:
        if self.key:
            return hmac.new(self.key, b"symshape-derivation-id-v1\x00" + payload, hashlib.sha256).digest()[:TAG_BYTES]
        return hashlib.sha256(payload).digest()[:TAG_BYTES]

    def encode(self, canonical: str) -> str:
        """The id of a canonical form (deterministic for one zlib build; any id of the spec is valid)."""
        payload = zlib.compress(canonical.encode(), 9)
        out = f"{'s1k' if self.key else 's1'}.{_b64(payload)}.{_b64(self._tag(payload))}"
        if len(out) > MAX_ID_CHARS:
            return hashlib.sha256(canonical.encode()).hexdigest()
        return out

    @staticmethod
    def is_id(text: str) -> bool:
        """Whether a string has the shape of a derivation id (a spec text never does)."""
        return bool(_HEX.match(text) or (len(text) <= MAX_ID_CHARS and _FORM.match(text)))

    @staticmethod
    def hash_only(text: str) -> bool:
        return bool(_HEX.match(text))

    def decode(self, text: str) -> dict[str, Any]:
        """The spec document an id carries. Raises BadId (malformed, integrity check failed, another key)."""
        if len(text) > MAX_ID_CHARS:
            raise BadId(f"the derivation_id is {len(text):,} characters; ids are at most {MAX_ID_CHARS:,}")
        m = _FORM.match(text)
        if m is None:
            raise BadId("the derivation_id is malformed (expected s1.<payload>.<tag>, as Derive returns it)")
        kind, payload_text, tag_text = m.groups()
        if kind == "s1k" and not self.key:
            raise BadId("the derivation_id is keyed (HMAC) and this server has no id key: start every replica "
                        "with the same --id-key-env")
        if kind == "s1" and self.key:
            raise BadId("this server takes only keyed derivation ids (--id-key-env): derive the spec again here")
        try:
            payload, tag = _unb64(payload_text), _unb64(tag_text)
        except (binascii.Error, ValueError):
            raise BadId("the derivation_id is malformed (not base64url)") from None
        if not hmac.compare_digest(tag, self._tag(payload)):
            raise BadId("the derivation_id failed its integrity check (truncated, altered, or keyed by another "
                        "fleet)")
        inflate = zlib.decompressobj()
        try:
            data = inflate.decompress(payload, self.max_bytes + 1)
        except zlib.error:
            raise BadId("the derivation_id's payload does not decompress") from None
        if len(data) > self.max_bytes or inflate.unconsumed_tail:
            raise BadId(f"the derivation_id's spec is over {self.max_bytes:,} bytes")
        if _nesting(data) > MAX_NESTING:  # before json: its C parser recurses (and symshape raises the limit)
            raise BadId(f"the derivation_id's payload is nested more than {MAX_NESTING} deep: not a spec")
        try:
            canonical = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise BadId("the derivation_id's payload is not a spec") from None
        return spec_document(canonical)


def derivation_id(spec: Any, key: bytes | None = None) -> str:
    """The id a server (with this id key) gives `spec` (a Path, YAML/JSON text or a dict)."""
    from symshape.spec import load_spec

    return IdCodec(key).encode(canonical_json(load_spec(spec)))
