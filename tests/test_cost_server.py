"""The cost over gRPC: Evaluate's cost and EvaluateBatch's cost columns, from a real server on port 0,
equal to the library's; bad options are INVALID_ARGUMENT with a 'did you mean'."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("grpc")

import symshape  # noqa: E402
from symshape.client import Client  # noqa: E402
from symshape.errors import BindingError, SymshapeError  # noqa: E402
from symshape_server.service import ServerConfig, create_server, shutdown  # noqa: E402

EXAMPLES = Path(__file__).parent.parent / "examples"
RESNET = (EXAMPLES / "resnet18.yaml").read_text()
QUANTITIES = ("forward_flops", "backward_flops", "train_flops", "params_bytes", "grads_bytes", "optimizer_bytes",
              "buffers_bytes", "activations_bytes", "total_bytes")


@pytest.fixture(scope="module")
def client():
    running = create_server("127.0.0.1:0", ServerConfig(derive_workers=1))
    running.server.start()
    with Client(f"127.0.0.1:{running.port}") as c:
        yield c
    shutdown(running, 1)


OPTIONS = [{}, {"batch": "B", "dtype": "bf16-mixed", "optimizer": "adamw", "flops": "fvcore"},
           {"batch": 16, "flops": "flop_counter", "mode": "eval"}, {"optimizer": "adam", "checkpoint": True}]


@pytest.mark.parametrize("options", OPTIONS)
def test_evaluate_cost_matches_library(client: Client, options: dict) -> None:
    d = symshape.derive(RESNET)
    bindings = {"H": 224, "W": 160} if options.get("batch") == 16 else {"H": 224, "W": 160, "B": 32}
    reply = client.evaluate(RESNET, bindings, cost=options)
    want = d.cost(**options).evaluate(bindings)
    assert reply.valid and not reply.cost.overflow
    assert {q: getattr(reply.cost, q) for q in QUANTITIES} == {q: want.totals[q] for q in QUANTITIES}
    assert reply.counts.macs == d.evaluate({"H": 224, "W": 160}).macs


def test_evaluate_cost_overflow_is_flagged(client: Client) -> None:
    reply = client.evaluate(RESNET, {"H": 224, "W": 224, "B": 4 * 10**9}, cost={"flops": "flop_counter"})
    assert reply.cost.overflow and reply.cost.forward_flops == 0


@pytest.mark.parametrize("arrow", [False, True])
def test_evaluate_batch_cost_columns(client: Client, arrow: bool) -> None:
    if arrow:
        pytest.importorskip("pyarrow")
    d = symshape.derive(RESNET)
    n = 500
    r = np.random.default_rng(1)
    cols = {"H": r.integers(16, 300, n), "W": r.integers(16, 300, n), "B": r.integers(1, 512, n)}
    opts = {"optimizer": "adamw", "dtype": "bf16-mixed"}
    got = client.evaluate_batch(RESNET, cols, ("params", "total_bytes", "train_flops"), cost=opts, arrow=arrow)
    lib = d.evaluate_batch(cols, ("params", "total_bytes", "train_flops"), cost=opts)
    assert got["valid"].tolist() == lib.valid.tolist()
    for q in ("params", "total_bytes", "train_flops"):
        assert got[q].tolist() == lib.columns[q].tolist()


ERRORS = [({"flops": "fvcor"}, "did you mean 'fvcore'"), ({"dtype": "fp33"}, "unknown dtype"),
          ({"batch": "3x"}, "batch is an integer or a symbol name"), ({"optimizer": "x" * 10_000}, "names are short"),
          ({"batch": "H"}, "already a symbol of the spec"), ({"batch": "9" * 30}, "beyond int64")]


@pytest.mark.parametrize(("options", "fragment"), ERRORS)
def test_bad_cost_options(client: Client, options: dict, fragment: str) -> None:
    with pytest.raises(SymshapeError, match=fragment) as info:
        client.evaluate(RESNET, {"H": 224, "W": 224, "B": 1}, cost=options)
    assert "Traceback" not in str(info.value)


def test_unknown_client_option(client: Client) -> None:
    with pytest.raises(BindingError, match="did you mean 'optimizer'"):
        client.evaluate(RESNET, {"H": 224, "W": 224, "B": 1}, cost={"optimiser": "adam"})


def test_spec_batch_over_grpc_and_by_id(client: Client) -> None:
    """A spec that names its batch: the batch condition and the cost by spec, then by the id (which carries
    `batch:` and `mode:`), agree with the library."""
    spec = "framework: torch\ninput: [5]\nbatch: N\nmode: train\nlayers:\n  - Linear: {out_features: 3}\n" \
           "  - BatchNorm1d: {}\n"
    d = symshape.derive(spec)
    bad = client.evaluate(spec, {"N": 1}, cost={})
    assert not bad.valid and "Expected more than 1 value per channel" in bad.violations[0].message
    good = client.evaluate(spec, {"N": 4}, cost={"optimizer": "adam"})
    assert good.valid and good.cost.total_bytes == d.cost(optimizer="adam").evaluate(N=4).total_bytes
    again = client.evaluate(good.derivation_id, {"N": 4}, cost={"optimizer": "adam"})
    assert again.cost.total_bytes == good.cost.total_bytes
