"""Server reflection as grpc.reflection.v1 and grpc.reflection.v1alpha.

grpcio-reflection serves only v1alpha; current clients (grpcurl, buf curl, Postman, grpc-js tools)
ask for v1 first. The two versions are the same protocol: v1's reflection.proto is v1alpha's with the
package renamed, field for field, so the bytes on the wire are identical. v1 is served here by the
same servicer under the v1 method name, and v1's descriptor (built from v1alpha's, the package
renamed) is added to the default descriptor pool, so that reflection can describe itself in both
versions.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection as v1alpha
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha_pb2

__all__ = ["V1_SERVICE_NAME", "V1ALPHA_SERVICE_NAME", "enable", "v1_messages"]

V1ALPHA_SERVICE_NAME = v1alpha.SERVICE_NAME  # grpc.reflection.v1alpha.ServerReflection
V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
V1_FILE = "grpc/reflection/v1/reflection.proto"
METHOD = "ServerReflectionInfo"


def _v1_file() -> descriptor_pb2.FileDescriptorProto:
    """v1alpha's reflection.proto with the package renamed to grpc.reflection.v1 (what v1 is)."""
    proto = descriptor_pb2.FileDescriptorProto()
    v1alpha_pb2.DESCRIPTOR.CopyToProto(proto)
    old, new = f".{proto.package}.", ".grpc.reflection.v1."
    proto.name, proto.package = V1_FILE, "grpc.reflection.v1"
    proto.options.Clear()

    def rename(message: descriptor_pb2.DescriptorProto) -> None:
        for f in message.field:
            if f.type_name.startswith(old):
                f.type_name = new + f.type_name[len(old):]
        for nested in message.nested_type:
            rename(nested)

    for message in proto.message_type:
        rename(message)
    for service in proto.service:
        for method in service.method:
            method.input_type = new + method.input_type[len(old):]
            method.output_type = new + method.output_type[len(old):]
    return proto


def _register() -> None:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(V1_FILE)
    except KeyError:
        pool.Add(_v1_file())


def v1_messages() -> tuple[type, type]:
    """(ServerReflectionRequest, ServerReflectionResponse) of grpc.reflection.v1, for clients and tests."""
    from google.protobuf import message_factory

    _register()
    pool = descriptor_pool.Default()
    request = message_factory.GetMessageClass(pool.FindMessageTypeByName("grpc.reflection.v1.ServerReflectionRequest"))
    response = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("grpc.reflection.v1.ServerReflectionResponse"))
    return request, response


def enable(service_names: Sequence[str], server: grpc.Server) -> None:
    """Reflection for `service_names` (both reflection services are added to the list) in v1 and v1alpha."""
    _register()
    names = (*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
    servicer = v1alpha.ReflectionServicer(names)
    v1alpha.enable_server_reflection(names, server)  # v1alpha, as grpcio-reflection registers it
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo, request_deserializer=v1alpha_pb2.ServerReflectionRequest.FromString,
        response_serializer=v1alpha_pb2.ServerReflectionResponse.SerializeToString)  # the same bytes as v1's
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(V1_SERVICE_NAME, {METHOD: handler}),))
