"""Every torch layer rule against real PyTorch on seeded random configurations, valid and invalid.

For each configuration: error-or-not must agree (a torch output with an empty axis counts as an
error: symshape requires every size >= 1), and when both accept it, every output shape, the
parameter count and the buffer count must be equal. SYMSHAPE_CASES sets cases per layer kind.
"""

from __future__ import annotations

import os
import random
import warnings

import pytest

torch = pytest.importorskip("torch")

import symshape  # noqa: E402
from tests.torch_cases import GENERATORS  # noqa: E402

CASES = int(os.environ.get("SYMSHAPE_CASES", "400"))
UNBATCHED = {"RNN", "LSTM", "GRU"}
INFERRED = {  # argument -> (input, axis) it must equal
    "in_channels": (0, 0), "num_features": (0, 0), "num_channels": (0, 0), "in_features": (0, -1),
    "input_size": (0, -1), "in1_features": (0, -1), "in2_features": (1, -1),
}


def _tuple(v: object) -> object:
    return tuple(v) if isinstance(v, list) else v


def _flat(out: object) -> list:
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [out]


def torch_result(kind: str, args: dict, shapes: list[list[int]]) -> tuple[bool, list[tuple[int, ...]], int, int]:
    """(ok, output shapes without batch, parameters, buffers) from real torch."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module = getattr(torch.nn, kind)(**{k: _tuple(v) for k, v in args.items()})
            params = sum(p.numel() for p in module.parameters())
            buffers = sum(b.numel() for b in module.buffers())
            if kind == "Embedding":
                xs = [torch.zeros(2, *shapes[0], dtype=torch.long)]
            elif kind in UNBATCHED:
                xs = [torch.zeros(*s) for s in shapes]
            else:
                xs = [torch.zeros(2, *s) for s in shapes]
            if kind == "MultiheadAttention" and len(xs) == 1:
                xs = xs * 3  # one input: self-attention
            with torch.no_grad():
                out = module(*xs)
        except (RuntimeError, ValueError, IndexError, TypeError, AssertionError):
            return False, [], 0, 0
    tensors = _flat(out)
    got = [tuple(t.shape) if kind in UNBATCHED else tuple(t.shape[1:]) for t in tensors]
    ok = all(d >= 1 for s in got for d in s)
    return ok, got, params, buffers


def ours(kind: str, args: dict, shapes: list[list[int]]) -> tuple[bool, list[tuple[int, ...]], int, int]:
    spec_args = dict(args)
    if len(shapes) == 1:
        spec = {"framework": "torch", "input": shapes[0], "layers": [{kind: spec_args}]}
    else:
        names = [f"x{i}" for i in range(len(shapes))]
        spec = {"framework": "torch", "inputs": dict(zip(names, shapes)),
                "layers": [{kind: spec_args, "inputs": names}]}
    result = symshape.derive(spec, cache=False).evaluate()
    layer = result.layers[0]
    return result.valid, [tuple(s) for s in layer.output_shapes], layer.params, layer.buffers


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_layer_matches_torch(kind: str) -> None:
    rng = random.Random(f"torch-{kind}")
    seen = {True: 0, False: 0}
    for i in range(CASES):
        _, args, shapes = GENERATORS[kind](rng)
        spec_args = dict(args)
        for name, (which, axis) in INFERRED.items():  # torch requires these; symshape may infer them
            if name in args and args[name] == shapes[which][axis] and rng.random() < 0.5:
                del spec_args[name]
        expected = torch_result(kind, args, shapes)
        got = ours(kind, spec_args, shapes)
        where = f"case {i}: {kind}({args}) on {shapes}"
        assert got[0] == expected[0], f"{where}: symshape valid={got[0]}, torch ok={expected[0]}"
        seen[expected[0]] += 1
        if expected[0]:
            assert got[1] == expected[1], f"{where}: shapes {got[1]} != torch {expected[1]}"
            assert got[2] == expected[2], f"{where}: params {got[2]} != torch {expected[2]}"
            assert got[3] == expected[3], f"{where}: buffers {got[3]} != torch {expected[3]}"
    assert seen[True] > 0, f"{kind}: no valid configuration was generated"
