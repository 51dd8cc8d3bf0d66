"""RenderDocument, Derive's reply options and named sizes (linear in depth), and reflection v1, on a real
loopback server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import grpc
import pytest

import symshape
from symshape.client import Client, ServiceError
from symshape.docs import render_document
from symshape.portable import evaluate_graph
from symshape.spec import load_spec
from symshape_server.gen import shape_algebra_pb2 as pb
from symshape_server.ids import derivation_id
from symshape_server.service import ServerConfig, create_server, shutdown

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
CLASSIC = (EXAMPLES / "classic_symbolic.yaml").read_text()
VALUES = {"I": 32, "F": 3, "S": 1, "P": 0, "D": 5}


@pytest.fixture(scope="module")
def client():
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1))
    running.server.start()
    with Client(f"127.0.0.1:{running.port}", timeout=120) as c:
        yield c
    shutdown(running, 0.5)


def chain(n: int) -> str:
    """An all-symbolic Conv2d chain: every kernel, stride, padding and filter count its own symbol."""
    layers = [{"Conv2d": {"out_channels": f"D{k}", "kernel_size": f"F{k}", "stride": f"S{k}", "padding": f"P{k}"}}
              for k in range(n)]
    return json.dumps({"framework": "torch", "input": ["C", "H", "W"], "layers": layers})


def nodes(expr: pb.Expression) -> list[tuple[str, tuple[int, ...], str]]:
    names = {v: k.lower()[3:] for k, v in pb.Op.items()}
    return [(names[n.op], tuple(n.args), n.integer if n.op == pb.OP_INTEGER else n.symbol) for n in expr.graph]


# ---------------------------------------------------------------- RenderDocument


def test_markdown_document_is_the_library_s_with_its_figures(client: Client) -> None:
    got = client.render_document(CLASSIC, "markdown", example=VALUES)
    # derived afresh, as the server does: the library's cache may hold this network under a file's name, and the
    # document's title follows the cached derivation's source
    want = render_document(symshape.derive(load_spec(CLASSIC), cache=False), "markdown", example=VALUES)
    assert got.media_type == "text/markdown" and got.document.decode() == want.text
    assert {f.name: f.content for f in got.files} == want.files
    assert all(f.media_type == "image/svg+xml" for f in got.files) and "model.svg" in want.text
    assert got.derivation_id == derivation_id(CLASSIC) and not got.never_valid


def test_html_document_is_self_contained(client: Client) -> None:
    got = client.render_document(EXAMPLES / "unet.yaml", "html")
    html = got.document.decode()
    assert got.media_type == "text/html" and not got.files
    assert html.lstrip().lower().startswith("<!doctype html") and "<math" in html and "<svg" in html
    assert "http://" not in html.replace("http://www.w3.org", "")  # nothing fetched when opened


def test_latex_and_pdf_documents(client: Client) -> None:
    tex = client.render_document(CLASSIC, "latex", image="classic.svg")
    assert tex.media_type == "application/x-latex" and "\\begin{document}" in tex.document.decode()
    if shutil.which("pdflatex") is None:
        with pytest.raises(ServiceError) as info:
            client.render_document(CLASSIC, "pdf")
        assert (info.value.code, info.value.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NO_TEX")
        pytest.skip("pdflatex is not installed: the PDF case was checked as FAILED_PRECONDITION only")
    pdf = client.render_document(CLASSIC, "pdf")
    assert pdf.media_type == "application/pdf" and pdf.document.startswith(b"%PDF")


def test_never_valid_spec_gets_the_document_of_its_reasons(client: Client) -> None:
    spec = "framework: torch\ninput: [3, H]\nlayers:\n  - Conv1d: {in_channels: 4, out_channels: 2, kernel_size: 1}\n"
    got = client.render_document(spec, "markdown")
    assert got.never_valid and "in_channels" in got.document.decode()


RENDER_ERRORS = [  # request, code, reason, field
    (pb.RenderDocumentRequest(spec=pb.Spec(text=CLASSIC), format="docx"), "INVALID_ARGUMENT", "BAD_FORMAT", "format"),
    (pb.RenderDocumentRequest(format="html"), "INVALID_ARGUMENT", "MISSING_SPEC", "spec"),
    (pb.RenderDocumentRequest(spec=pb.Spec(text=CLASSIC), format="markdown", image="../../etc/x.svg"),
     "INVALID_ARGUMENT", "BAD_IMAGE_NAME", "image"),
    (pb.RenderDocumentRequest(spec=pb.Spec(text="framework: torch\ninput: [3, H]\nlayers:\n  - Conv1d: {kernel: 3}\n")),
     "INVALID_ARGUMENT", "BAD_SPEC", "spec.text"),
]


@pytest.mark.parametrize(("request_", "code", "reason", "field"), RENDER_ERRORS)
def test_render_document_errors(client: Client, request_: pb.RenderDocumentRequest, code: str, reason: str,
                                field: str) -> None:
    with pytest.raises(ServiceError) as info:
        client._call(client.stub.RenderDocument, request_, 60)
    assert (info.value.code.name, info.value.reason) == (code, reason)
    assert info.value.fields[0][0] == field


# ---------------------------------------------------------------- Derive: linear in depth


def test_derive_reply_of_a_deep_all_symbolic_chain_is_linear_in_depth(client: Client) -> None:
    sizes = {n: client.derive(chain(n)).ByteSize() for n in (40, 80, 160)}
    assert sizes[160] < 2.3 * sizes[80] < 2.3 ** 2 * sizes[40], sizes  # doubling the depth ~doubles the bytes
    assert sizes[160] < 1_000_000, sizes


def test_named_sizes_evaluate_to_the_library_s_numbers(client: Client) -> None:
    n = 30
    spec = chain(n)
    reply = client.derive(spec, layer_graphs=True)
    assert len(reply.sizes) == 2 * n and reply.sizes[0].name == "x_1"
    values = {"C": 3, "H": 900, "W": 700, **{f"{p}{k}": v for k in range(n) for p, v in
                                             (("D", 4), ("F", 1 + k % 2), ("S", 1), ("P", k % 2))}}
    e = symshape.derive(spec).evaluate(values)
    bound = dict(values)
    for size in reply.sizes:  # in order: each on the names before it
        bound[size.name] = evaluate_graph(nodes(size.definition), bound)
    for layer, want in zip(reply.layers, e.layers, strict=True):
        assert [evaluate_graph(nodes(x), bound) for x in layer.outputs[0].dims] == list(want.output_shape)
        assert evaluate_graph(nodes(layer.counts.macs), bound) == want.macs
    # the network's own expressions: the closed form in the symbols, the rest on the names too
    assert [evaluate_graph(nodes(x), values) for x in reply.closed_form.dims] == list(e.output_shape)
    assert evaluate_graph(nodes(reply.counts.macs), bound) == e.macs
    assert all(evaluate_graph(nodes(c.relation), bound) == 1 for c in reply.constraints) == e.valid
    plain = client.derive(spec)  # without layer_graphs: the sizes still have graphs (named forms need them)
    assert all(s.definition.graph and not s.definition.latex for s in plain.sizes)
    assert reply.layers[-1].outputs[0].dims[1].text == f"x_{2 * n - 1}"


def test_closed_forms_on_request_and_small_networks_unchanged(client: Client) -> None:
    spec = chain(12)
    named = client.derive(spec)
    closed = client.derive(spec, closed_forms=True)
    assert named.sizes and not closed.sizes
    lib = symshape.derive(spec).to_dict(closed_forms=True)
    assert [d.text for d in closed.layers[-1].outputs[0].dims] == lib["layers"][-1]["output_shape"]
    small = client.derive(CLASSIC)  # few symbols: closed forms everywhere, no names
    assert not small.sizes
    assert [d.text for d in small.layers[0].outputs[0].dims] == symshape.derive(CLASSIC).to_dict()["layers"][0][
        "output_shape"]
    assert not small.layers[0].outputs[0].dims[0].graph and small.closed_form.dims[0].graph  # per layer: text


def test_closed_forms_too_large_layers_are_marked_and_named_as_to_dict_does(client: Client) -> None:
    """Past MAX_CLOSED_FORM_SYMBOLS (256) feeding symbols a layer's closed form is not given, even on request:
    the reply marks the layer and keeps it in the named sizes (then carried), term for term as
    to_dict(closed_forms=True); every count and condition as to_dict too."""
    spec = chain(90)  # a size is fed by H and 3 symbols a layer: past layer 85, by more than 256
    reply, lib = client.derive(spec, closed_forms=True, timeout=120), symshape.derive(spec).to_dict(closed_forms=True)
    marked = [ly.index for ly in reply.layers if ly.closed_form_note]
    assert marked == [e["index"] for e in lib["layers"] if "closed_form" in e] and 0 < len(marked) < 90
    assert all(reply.layers[i].closed_form_note == lib["layers"][i]["closed_form"] for i in marked)
    assert [s.definition.text for s in reply.sizes] == [s["definition"] for s in lib["sizes"]]
    for layer, want in zip(reply.layers, lib["layers"], strict=True):
        assert [d.text for d in layer.outputs[0].dims] == want["output_shape"]
        assert [layer.counts.trainable.text, layer.counts.non_trainable.text, layer.counts.total.text] == [
            want["params"][k] for k in ("trainable", "non_trainable", "total")]
        assert (layer.counts.buffers.text, layer.counts.macs.text, layer.counts.activations.text) == (
            want["buffers"], want["macs"], want["activations"])
    assert reply.counts.total.text == lib["params"]["total"] and reply.counts.macs.text == lib["macs"]
    assert [c.relation.text for c in reply.constraints] == [c["relation"] for c in lib["constraints"]]
    assert not client.derive(chain(12), closed_forms=True).layers[-1].closed_form_note  # small enough: none


# ---------------------------------------------------------------- reflection v1


def test_reflection_v1_lists_and_describes_the_service(client: Client) -> None:
    from google.protobuf import descriptor_pb2

    from symshape_server.reflection import v1_messages

    request_cls, response_cls = v1_messages()
    call = client.channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                                        request_serializer=request_cls.SerializeToString,
                                        response_deserializer=response_cls.FromString)
    replies = list(call(iter([request_cls(list_services=""),
                              request_cls(file_containing_symbol="symshape.v1.ShapeAlgebraService"),
                              request_cls(file_containing_symbol="grpc.reflection.v1.ServerReflection")]),
                        timeout=30))
    names = [s.name for s in replies[0].list_services_response.service]
    assert {"symshape.v1.ShapeAlgebraService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection"} <= set(names)
    files = [descriptor_pb2.FileDescriptorProto.FromString(b)
             for b in replies[1].file_descriptor_response.file_descriptor_proto]
    service = next(s for f in files if f.package == "symshape.v1" for s in f.service)
    assert "RenderDocument" in [m.name for m in service.method]
    v1 = descriptor_pb2.FileDescriptorProto.FromString(replies[2].file_descriptor_response.file_descriptor_proto[0])
    assert v1.package == "grpc.reflection.v1" and v1.service[0].name == "ServerReflection"


# ---------------------------------------------------------------- the proto's reference page and protos


def test_proto_reference_page_is_current() -> None:
    """docs/proto.md is generated from the proto and its comments: stale means a test failure."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "symshape_server.proto_doc", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    page = (ROOT / "docs" / "proto.md").read_text()
    for needle in ("| `RenderDocument` |", "### DeriveResponse", "| `valid` | 5 | bool | optional (explicit presence)",
                   "int64 (JSON: string)", "A zero divisor makes the value undefined", "Cin, Hin, Win",
                   "grpc.reflection.v1"):
        assert needle in page, needle


def test_protos_for_other_languages(tmp_path: Path) -> None:
    """The set a client needs compiles as one: ours, google/rpc's error details, the well-known types."""
    from grpc_tools import protoc

    from symshape_server.protos import write

    written = {p.relative_to(tmp_path).as_posix() for p in write(tmp_path)}
    assert {"symshape/v1/shape_algebra.proto", "google/rpc/status.proto", "google/rpc/error_details.proto"} <= written
    out = tmp_path / "set.pb"
    assert protoc.main(["protoc", f"-I{tmp_path}", f"--descriptor_set_out={out}", "--include_imports",
                        str(tmp_path / "symshape/v1/shape_algebra.proto"), str(tmp_path / "google/rpc/status.proto"),
                        str(tmp_path / "google/rpc/error_details.proto")]) == 0


def test_deep_reply_reads_like_to_dict(client: Client) -> None:
    spec = chain(24)
    reply, lib = client.derive(spec), symshape.derive(spec).to_dict()
    assert [s.definition.text for s in reply.sizes] == [s["definition"] for s in lib["sizes"]]
    for layer, want in zip(reply.layers, lib["layers"], strict=True):
        assert [d.text for d in layer.outputs[0].dims] == want["output_shape"]
        assert layer.counts.macs.text == want["macs"] and layer.counts.total.text == want["params"]["total"]
    assert [c.relation.text for c in reply.constraints] == [c["relation"] for c in lib["constraints"]]
    assert reply.counts.macs.text == lib["macs"]
