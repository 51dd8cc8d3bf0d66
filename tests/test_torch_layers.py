"""Every torch layer rule against real PyTorch on seeded random configurations, valid and invalid.

For each configuration: error-or-not must agree (a torch output with an empty axis counts as an
error: symshape requires every size >= 1; a spec symshape refuses with one of its errors counts as
invalid), and when both accept it, every output shape, the parameter count and the buffer count
must be equal. SYMSHAPE_CASES sets cases per layer kind (a quarter of it for the elementwise kinds).

The comparison is two-sided only if the generators make cases torch refuses: every kind outside
NEVER_INVALID must get both valid and invalid cases (the guard), and every torch kind symshape
knows must have a generator.
"""

from __future__ import annotations

import functools
import os
import random
import warnings

import pytest

torch = pytest.importorskip("torch")

import symshape  # noqa: E402
from symshape.errors import SymshapeError  # noqa: E402
from symshape.layers import rules  # noqa: E402
from tests.import_cases import IMPORT_ONLY, TORCH_FUNCTIONAL  # noqa: E402
from tests.torch_cases import GENERATORS, NEVER_INVALID  # noqa: E402

CASES = int(os.environ.get("SYMSHAPE_CASES", "400"))
GUARD_MIN_CASES = 100  # below this many cases per kind, a kind may miss its invalid cases by chance
FUNCTIONAL = {  # torch's functional merges, written in specs as layers
    "add": lambda xs, a: functools.reduce(torch.add, xs), "sub": lambda xs, a: torch.sub(*xs),
    "mul": lambda xs, a: functools.reduce(torch.mul, xs), "cat": lambda xs, a: torch.cat(xs, dim=a.get("dim", 1)),
}
FUNCTIONAL.update(TORCH_FUNCTIONAL)  # reshape, permute, transpose, mean: torch's tensor methods
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
            if kind in FUNCTIONAL:
                module, params, buffers = functools.partial(FUNCTIONAL[kind], a=args), 0, 0
            else:
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
                out = module(xs) if kind in FUNCTIONAL else module(*xs)
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
    try:
        result = symshape.derive(spec, cache=False).evaluate()
    except SymshapeError as error:  # refused outright (a wrong input rank, an index out of range...)
        if "unknown argument" in str(error):  # the test's vocabulary, not a verdict on the layer
            raise
        return False, [], 0, 0
    layer = result.layers[0]
    return result.valid, [tuple(s) for s in layer.output_shapes], layer.params, layer.buffers


def test_every_torch_kind_has_a_generator() -> None:
    assert sorted(r.name for r in rules("torch") if r.name not in GENERATORS and r.name not in IMPORT_ONLY) == []
    assert set(NEVER_INVALID) <= set(GENERATORS)
    assert all(reason.strip() for reason in NEVER_INVALID.values())  # each exemption says why


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_layer_matches_torch(kind: str) -> None:
    rng = random.Random(f"torch-{kind}")
    seen = {True: 0, False: 0}
    cases = CASES // 4 if kind in NEVER_INVALID else CASES
    for i in range(cases):
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
    print(f"{kind}: {seen[True]} valid, {seen[False]} invalid")  # shown with -rP
    assert seen[True] > 0, f"{kind}: no valid configuration was generated"
    if kind not in NEVER_INVALID and cases >= GUARD_MIN_CASES:
        # the guard: a rule that accepts too much passes a sample without invalid cases
        assert seen[False] > 0, f"{kind}: no invalid configuration was generated (one-sided comparison)"
    if kind in NEVER_INVALID:  # the list stays honest: the framework refused none of its cases
        assert seen[False] == 0, f"{kind} is listed as never invalid ({NEVER_INVALID[kind]}), yet was refused"
