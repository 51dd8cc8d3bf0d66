"""`batch:` and `mode:` in a spec: batch-dependent conditions exact against torch, existing specs unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

import symshape
from symshape.errors import SpecError

torch = pytest.importorskip("torch")

EXAMPLES = Path(__file__).parent.parent / "examples"

BN = """
framework: torch
input: {shape}
batch: N
{mode}
layers:
  - {kind}: {{num_features: 3}}
"""

CASES = [  # kind, input shape (batch excluded), batches
    ("BatchNorm1d", [3], [1, 2, 5]),
    ("BatchNorm1d", [3, 1], [1, 2]),
    ("BatchNorm1d", [3, 4], [1, 2]),
    ("BatchNorm2d", [3, 1, 1], [1, 2, 3]),
    ("BatchNorm2d", [3, 1, 2], [1]),
    ("BatchNorm3d", [3, 1, 1, 1], [1, 2]),
]


@pytest.mark.parametrize(("kind", "shape", "batches"), CASES)
@pytest.mark.parametrize("mode", ["train", "eval", None])
def test_batchnorm_batch_condition_matches_torch(kind: str, shape: list, batches: list, mode: str | None) -> None:
    d = symshape.derive(BN.format(shape=shape, kind=kind, mode=f"mode: {mode}" if mode else ""))
    for n in batches:
        module = getattr(torch.nn, kind)(3).train(mode != "eval")
        try:
            module(torch.randn(n, *shape))
            torch_ok = True
        except ValueError as err:
            assert "Expected more than 1 value per channel when training" in str(err)
            torch_ok = False
        ev = d.evaluate({"N": n} if "N" in d.free_symbols else {})
        assert ev.valid == torch_ok, (kind, shape, n, mode, ev.violations)


def test_an_integer_batch_of_one_is_never_valid_in_training() -> None:
    d = symshape.derive(BN.format(shape=[3], kind="BatchNorm1d", mode="").replace("batch: N", "batch: 1"))
    assert "Expected more than 1 value per channel" in (d.never_valid_reason() or "")


def test_without_batch_nothing_changes() -> None:
    for path in EXAMPLES.glob("*.yaml"):
        spec = symshape.derive(path).spec
        assert "batch" not in spec.canonical() and "mode" not in spec.canonical()
    d = symshape.derive(BN.format(shape=[3], kind="BatchNorm1d", mode="").replace("batch: N\n", ""))
    assert d.batch is None and d.evaluate({}).valid  # as before: the batch axis is excluded


def test_cost_uses_the_spec_batch() -> None:
    text = (EXAMPLES / "resnet18.yaml").read_text().replace("framework: torch", "framework: torch\nbatch: 8")
    d = symshape.derive(text)
    c = symshape.derive(EXAMPLES / "resnet18.yaml").cost(batch=8)
    assert d.cost().evaluate(H=64, W=64).total_bytes == c.evaluate(H=64, W=64).total_bytes


SPEC_ERRORS = [
    ("batch: 0", "batch is at least 1"),
    ("batch: 2.5", "batch is the batch size"),
    ("batch: 'B + 1'", "batch is the batch size"),
    ("mode: training", "did you mean 'train'"),
    ("mode: 3", "mode is 'train' or 'eval'"),
]


@pytest.mark.parametrize(("line", "fragment"), SPEC_ERRORS)
def test_spec_errors(line: str, fragment: str) -> None:
    with pytest.raises(SpecError, match=fragment) as info:
        symshape.derive(f"framework: torch\ninput: [3]\n{line}\nlayers:\n  - ReLU: {{}}\n")
    assert "line 3" in str(info.value) or ":3:" in str(info.value)


LIN_BN = {"framework": "torch", "input": [8], "layers": [{"Linear": {"in_features": 8, "out_features": 4}},
                                                         {"BatchNorm1d": {"num_features": 4}}]}
# the spec's batch: (absent, a symbol, 1), the cost's batch (--batch), its mode (--mode), the binding of B
OPTIONS = [(None, 1, None, {}), (None, 2, None, {}), (None, 1, "eval", {}), ("B", 1, None, {}), ("B", None, None,
           {"B": 1}), ("B", None, None, {"B": 2}), (1, None, "eval", {}), (1, 4, None, {}), (1, None, None, {}),
           (None, "M", None, {"M": 1}), (None, "M", "train", {"M": 3})]


@pytest.mark.parametrize(("spec_batch", "batch", "mode", "bindings"), OPTIONS)
def test_cost_batch_and_mode_validity_as_torch(spec_batch: object, batch: object, mode: str | None,
                                               bindings: dict) -> None:
    """cost(d, batch=..., mode=...) is valid exactly where torch runs Linear + BatchNorm1d at that batch and
    mode (training: 'Expected more than 1 value per channel when training' at batch 1)."""
    from symshape.cost import cost

    spec = dict(LIN_BN, **({"batch": spec_batch} if spec_batch is not None else {}))
    d = symshape.derive(spec)
    c = cost(d, batch=batch, mode=mode)
    n = batch if isinstance(batch, int) else bindings.get(str(batch), spec_batch if isinstance(spec_batch, int)
                                                          else bindings.get("B"))
    train = (mode or "train") == "train"
    net = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.BatchNorm1d(4)).train(train)
    try:
        net(torch.zeros(n, 8))
        ok = True
    except ValueError:
        ok = False
    never = c.derivation.never_valid_reason()
    assert (never is None and c.evaluate(bindings).valid) == ok, (spec_batch, batch, mode, never)
