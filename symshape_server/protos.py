"""Every .proto a client in another language needs, in one directory.

    python -m symshape_server.protos DIR

writes, under DIR, symshape/v1/shape_algebra.proto and what decoding its errors takes:
google/rpc/status.proto, google/rpc/error_details.proto and google/rpc/code.proto (googleapis'
own files, Apache-2.0, from https://github.com/googleapis/googleapis/tree/master/google/rpc, as the
PyPI package googleapis-common-protos installs them beside its modules: the server depends on it),
and google/protobuf/any.proto and duration.proto (protobuf's well-known types, from grpcio-tools or
protobuf). Point protoc, buf, proto-loader or protobufjs at DIR (tests/node/client.js does).

An error's details are a google.rpc.Status in the "grpc-status-details-bin" trailer, whose details
are google.protobuf.Any: type_url "type.googleapis.com/google.rpc.ErrorInfo" (reason, domain
"symshape.dev", metadata) and "type.googleapis.com/google.rpc.BadRequest" (field_violations).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ROOT / "proto" / "symshape" / "v1" / "shape_algebra.proto"
GOOGLE_RPC = ("status.proto", "error_details.proto", "code.proto")
WELL_KNOWN = ("any.proto", "duration.proto")

__all__ = ["files", "write"]


def _google_rpc_dir() -> Path:
    from google.rpc import status_pb2

    return Path(status_pb2.__file__).parent


def _well_known_dir() -> Path:
    try:
        from grpc_tools import protoc

        return Path(protoc.__file__).parent / "_proto" / "google" / "protobuf"
    except ImportError:  # pragma: no cover - protobuf's own copy
        import google.protobuf

        return Path(google.protobuf.__file__).parent


def files() -> dict[str, Path]:
    """Relative path under the include root -> the file on this machine."""
    out = {"symshape/v1/shape_algebra.proto": OURS}
    rpc, wk = _google_rpc_dir(), _well_known_dir()
    out.update({f"google/rpc/{name}": rpc / name for name in GOOGLE_RPC})
    out.update({f"google/protobuf/{name}": wk / name for name in WELL_KNOWN})
    missing = [str(p) for p in out.values() if not p.exists()]
    if missing:
        raise FileNotFoundError(f"not installed: {', '.join(missing)} (pip install googleapis-common-protos "
                                "grpcio-tools)")
    return out


def write(target: Path) -> list[Path]:
    """Copy the protos under `target` (an include root); returns the files written."""
    written = []
    for rel, src in files().items():
        dst = target / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(src.read_bytes())
        written.append(dst)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path, help="the include root to write under")
    args = parser.parse_args(argv)
    try:
        for path in write(args.directory):
            print(path)
    except (OSError, FileNotFoundError) as err:
        print(f"symshape_server.protos: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
