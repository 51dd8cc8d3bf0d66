"""Generated protobuf and gRPC modules (see symshape_server/gen_proto.py)."""
