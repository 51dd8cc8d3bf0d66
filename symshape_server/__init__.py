"""symshape's gRPC service: a thin adapter from proto messages to the symshape library."""
