"""Generated protobuf and gRPC modules (see server/gen_proto.py)."""
