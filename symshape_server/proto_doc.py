"""docs/proto.md, the reference page of the gRPC API, generated from proto/symshape/v1/shape_algebra.proto.

    python -m symshape_server.proto_doc            # rewrite docs/proto.md
    python -m symshape_server.proto_doc --check    # exit 1 when docs/proto.md is out of date (a test runs this)

protoc (grpcio-tools) compiles the proto with its source info; the page is its comments: the file's own
(the conventions a client needs), each RPC, each message with a table of its fields (number, type,
presence, meaning) and each enum. Nothing is written by hand, so the page says what the proto says.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto" / "symshape" / "v1" / "shape_algebra.proto"
OUT = ROOT / "docs" / "proto.md"
F = descriptor_pb2.FieldDescriptorProto
TYPES = {F.TYPE_DOUBLE: "double", F.TYPE_FLOAT: "float", F.TYPE_INT64: "int64", F.TYPE_UINT64: "uint64",
         F.TYPE_INT32: "int32", F.TYPE_FIXED64: "fixed64", F.TYPE_FIXED32: "fixed32", F.TYPE_BOOL: "bool",
         F.TYPE_STRING: "string", F.TYPE_BYTES: "bytes", F.TYPE_UINT32: "uint32", F.TYPE_SFIXED32: "sfixed32",
         F.TYPE_SFIXED64: "sfixed64", F.TYPE_SINT32: "sint32", F.TYPE_SINT64: "sint64"}
JSON_STRINGS = {"int64", "uint64", "sint64", "fixed64", "sfixed64"}

__all__ = ["render"]


def _descriptor() -> descriptor_pb2.FileDescriptorProto:
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        args = ["protoc", f"-I{ROOT / 'proto'}", f"-I{Path(protoc.__file__).parent / '_proto'}",
                "--include_source_info", f"--descriptor_set_out={out}", str(PROTO)]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    return next(f for f in files if f.name.endswith("shape_algebra.proto"))


class _Comments:
    def __init__(self, fd: descriptor_pb2.FileDescriptorProto) -> None:
        self.by_path = {tuple(loc.path): loc for loc in fd.source_code_info.location}

    def __call__(self, *path: int) -> str:
        loc = self.by_path.get(tuple(path))
        return _clean(loc.leading_comments) if loc is not None else ""

    def detached(self, *path: int) -> list[str]:
        loc = self.by_path.get(tuple(path))
        return [_clean(c) for c in loc.leading_detached_comments] if loc is not None else []


def _clean(comment: str) -> str:
    return "\n".join(line[1:] if line.startswith(" ") else line for line in comment.strip("\n").split("\n"))


def _cell(text: str) -> str:
    """A comment in one table cell: lines joined, pipes escaped."""
    return " ".join(line.strip() for line in text.split("\n") if line.strip()).replace("|", "\\|")


def _anchor(name: str) -> str:
    return name.lower()


def _type(field: descriptor_pb2.FieldDescriptorProto, maps: dict[str, tuple[str, str]]) -> str:
    if field.type in (F.TYPE_MESSAGE, F.TYPE_ENUM):
        short = field.type_name.rsplit(".", 1)[-1]
        if field.type_name in maps:
            key, value = maps[field.type_name]
            return f"map<{key}, {value}>"
        if field.type_name.startswith(".symshape.v1."):
            return f"[{short}](#{_anchor(short)})"
        return field.type_name.lstrip(".")
    return TYPES[field.type]


def _presence(field: descriptor_pb2.FieldDescriptorProto, message: descriptor_pb2.DescriptorProto,
              maps: dict[str, tuple[str, str]]) -> str:
    if field.label == F.LABEL_REPEATED:
        return "map" if field.type_name in maps else "repeated"
    if field.proto3_optional:
        return "optional (explicit presence)"
    if field.HasField("oneof_index"):
        return f"oneof `{message.oneof_decl[field.oneof_index].name}`"
    if field.type == F.TYPE_MESSAGE:
        return "message (presence: set or unset)"
    return "implicit (default omitted in JSON)"


def render() -> str:
    fd = _descriptor()
    c = _Comments(fd)
    out = ["# The gRPC API: `symshape.v1`", "",
           "Generated from [`proto/symshape/v1/shape_algebra.proto`](../proto/symshape/v1/shape_algebra.proto) by "
           "`python -m symshape_server.proto_doc` (a test fails when this page is out of date). The complete "
           "set of protos a client needs, error details included: `python -m symshape_server.protos DIR`.", ""]
    header = [t for t in c.detached(12) + c.detached(2) + [c(12), c(2)] if t]  # comments before syntax/package
    if header:
        out += ["## Conventions", ""]
        for block in header:
            out += [block, ""]
    maps: dict[str, tuple[str, str]] = {}
    for message in fd.message_type:
        for nested in message.nested_type:
            if nested.options.map_entry:
                key, value = nested.field
                maps[f".{fd.package}.{message.name}.{nested.name}"] = (_type(key, {}), _type(value, {}))
    for i, service in enumerate(fd.service):
        out += [f"## Service `{service.name}`", "", c(6, i), "", "| RPC | Request | Response | What it does |",
                "|---|---|---|---|"]
        for j, method in enumerate(service.method):
            req, resp = method.input_type.rsplit(".", 1)[-1], method.output_type.rsplit(".", 1)[-1]
            stream_in = "stream " if method.client_streaming else ""
            stream_out = "stream " if method.server_streaming else ""
            out.append(f"| `{method.name}` | {stream_in}[{req}](#{_anchor(req)}) | {stream_out}"
                       f"[{resp}](#{_anchor(resp)}) | {_cell(c(6, i, 2, j))} |")
        out.append("")
    out += ["## Messages", "", "int64, uint64 and sint64 fields are decimal strings in JSON; a field with implicit "
            "presence is omitted from JSON at its default (0, false, \"\", empty).", ""]
    for i, message in enumerate(fd.message_type):
        out += [f"### {message.name}", "", c(4, i), ""]
        if not message.field:
            out += ["(no fields)", ""]
            continue
        out += ["| Field | # | Type | Presence | Meaning |", "|---|---:|---|---|---|"]
        for j, field in enumerate(message.field):
            kind = _type(field, maps)
            if kind in JSON_STRINGS:
                kind += " (JSON: string)"
            out.append(f"| `{field.name}` | {field.number} | {kind} | {_presence(field, message, maps)} | "
                       f"{_cell(c(4, i, 2, j))} |")
        out.append("")
    out += ["## Enums", ""]
    for i, enum in enumerate(fd.enum_type):
        out += [f"### {enum.name}", "", c(5, i), "", "| Value | # | Meaning |", "|---|---:|---|"]
        for j, value in enumerate(enum.value):
            out.append(f"| `{value.name}` | {value.number} | {_cell(c(5, i, 2, j))} |")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    text = render()
    if not args.check:
        OUT.write_text(text)
        return 0
    if not OUT.exists() or OUT.read_text() != text:
        print("docs/proto.md is out of date: run python -m symshape_server.proto_doc", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
