"""Program.run_int with `wanted`: only the registers those need, chains of additions and of conjunctions
fused. Checked against the plain run (every instruction, one at a time) and the careful path (the
instructions as data, no precompiled step) on every example, valid, invalid and undefined bindings."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import symshape
from symshape.errors import LimitError
from symshape.limits import set_limits
from symshape.program import Program, _mul3, _plan, _prod

EXAMPLES = Path(__file__).parent.parent / "examples"
NAMES = sorted(p.name for p in EXAMPLES.glob("*.yaml"))


def sample(d: symshape.Derivation, rng: random.Random) -> dict[str, int]:
    """A value in each symbol's domain (up to 400 past its least) for every symbol the program reads."""
    bounds = {name: (d.symbols[name].min, d.symbols[name].max) for name in d.compiled.program.symbols}
    return {name: rng.randint(1 if lo is None else lo, (1 if lo is None else lo) + 400 if hi is None else
                              min(hi, (1 if lo is None else lo) + 400)) for name, (lo, hi) in bounds.items()}


@pytest.mark.parametrize("name", NAMES)
def test_wanted_registers_equal_the_plain_run(name: str) -> None:
    d = symshape.derive(EXAMPLES / name)
    c = d.compiled
    program = c.program
    rng = random.Random(name)
    kinds = {"valid": 0, "invalid": 0}
    for k in range(40):
        values = sample(d, rng)
        if k % 2 and values:  # a symbol at 0, whatever its domain: invalid, often undefined (a zero divisor)
            values[rng.choice(sorted(values))] = 0
        full = program.run_int(values)
        careful = program._run_careful(values)
        for wanted in (c.read, (c.valid,)):
            fused = program.run_int(values, wanted)
            assert [fused[r] for r in wanted] == [full[r] for r in wanted] == [careful[r] for r in wanted]
        kinds["valid" if full[c.valid] else "invalid"] += 1
    assert min(kinds.values()) > 0 or d.never_valid or not program.symbols, kinds


def test_running_totals_fuse_into_sums() -> None:
    """ResNet-18: 231 instructions to run one at a time; what an Evaluation reads needs 51 (the running totals
    and the running validity are one sum and one all(), each size floor((x + c1) / c2) + c3 one step)."""
    c = symshape.derive(EXAMPLES / "resnet18.yaml").compiled
    ops = c.program.ops
    full = _plan(ops, 4096, None)[1]
    fused = _plan(ops, 4096, c.read)[1]
    assert len(full) == 231 and len(fused) == 51
    assert sum(ops[i][0] == "and" for i, _ in fused) == 1  # the running validity: one step
    assert not [i for i, _ in fused if ops[i][0] == "fdiv"]  # every size: one step with its additions


def test_a_zero_divisor_takes_the_careful_path() -> None:
    d = symshape.derive("framework: torch\ninput: [3, H, W]\nlayers:\n  - Conv2d: {out_channels: 8, kernel_size: 3, "
                        "stride: S}\n")
    c = d.compiled
    regs = c.program.run_int({"H": 32, "W": 32, "S": 0}, c.read)
    assert regs[c.valid] is False
    assert None in [regs[r] for shape in c.layer_regs[0]["outputs"] for r in shape]  # undefined sizes


def test_mul3_bounds_like_prod() -> None:
    rng = random.Random(3)
    edges = [[2**64, 0, 0], [0, 2**64, 0], [2**64 - 1, 0, 0], [2**64, 1, 1], [2**63, 2, 0], [-(2**64), 0, 5]]
    for k in range(2000):
        xs = edges[k] if k < len(edges) else \
            [rng.choice([0, 1, -1, rng.randrange(-2**40, 2**40), rng.randrange(2**60, 2**70)]) for _ in range(3)]
        for max_bits in (64, 100, 140, 4096):
            try:
                want = _prod(xs, max_bits)
            except LimitError:
                with pytest.raises(LimitError):
                    _mul3(*xs, max_bits)
                continue
            assert _mul3(*xs, max_bits) == want


def test_plans_follow_max_bits() -> None:
    """A plan's bounds are max_bits' at the time it runs: a new limit is a new plan, not the old one."""
    program = Program((("sym", ("a",)), ("sym", ("b",)), ("sym", ("c",)), ("mul", (0, 1, 2))), ("a", "b", "c"))
    values = {"a": 2**30, "b": 2**30, "c": 2**30}
    assert program.run_int(values, (3,))[3] == 2**90
    previous = set_limits(max_bits=64)
    try:
        with pytest.raises(LimitError):
            program.run_int(values, (3,))
    finally:
        set_limits(**{k: v for k, v in previous.table()})
    assert program.run_int(values, (3,))[3] == 2**90


@pytest.mark.parametrize("name", NAMES)
def test_unchecked_products_equal_checked_where_bounds_allow(name: str) -> None:
    """checked=False (the server, when symshape_server.bounds proves no check can fire over int64 bindings)
    gives the same numbers as the checked run, up to int64 extremes."""
    from symshape_server.bounds import INT64_BITS, max_bits

    c = symshape.derive(EXAMPLES / name).compiled
    small = max_bits(c.program, INT64_BITS) + 4 >= 4096  # the server keeps the checks: small values only here
    rng = random.Random(name)
    for _ in range(30):
        values = {s: rng.choice([1, 2, 7, 224] if small else [1, 2, 7, 224, 2**31 - 1, rng.randrange(1, 2**63)])
                  for s in c.program.symbols}
        for wanted in (c.read, None):
            unchecked = c.program.run_int(values, wanted, checked=False)
            checked = c.program.run_int(values, wanted)
            assert [unchecked[r] for r in c.read] == [checked[r] for r in c.read]


def test_pickles_without_plans_and_runs_after() -> None:
    """The server pickles a Compiled while other threads evaluate with it: the plans are never pickled, and
    neither the program's attributes nor the Compiled's change on a first run (their caches exist from the
    start)."""
    import pickle

    c = symshape.derive(EXAMPLES / "resnet18.yaml").compiled
    before = (set(vars(c)), set(vars(c.program)))
    c.program.run_int({"H": 224, "W": 224}, c.read)
    assert (set(vars(c)), set(vars(c.program))) == before
    back = pickle.loads(pickle.dumps(c))
    assert back.program._plans == {} and back.program._last is None and back.read == c.read
    assert back.program.run_int({"H": 224, "W": 224}, back.read)[back.valid] is True


def test_comparisons_read_only_by_the_running_validity_are_done_in_it() -> None:
    """ResNet-18's validity: its comparisons (each read once or twice, all by the conjunction) are one map()
    per kind inside the conjunction's step, not steps of their own."""
    c = symshape.derive(EXAMPLES / "resnet18.yaml").compiled
    ops = c.program.ops
    plan = _plan(ops, 4096, (c.valid,))[1]
    assert not [i for i, _ in plan if ops[i][0] in (">=", "==")]
    assert sum(ops[i][0] == "and" for i, _ in plan) == 1


def random_program(rng: random.Random) -> Program:
    """A program of ints and truths: chains of additions and conjunctions with repeated and shared links,
    comparisons read once, twice, by a chain and elsewhere; divisions that may meet a zero."""
    ops: list[tuple[str, tuple]] = [("sym", ("a",)), ("sym", ("b",)), ("sym", ("c",)), ("const", (0,)),
                                    ("const", (1,)), ("const", (3,))]
    for _ in range(rng.randint(5, 40)):
        size = len(ops)

        def pick(size: int = size) -> int:
            return rng.randrange(size)

        op = rng.choice(["add", "add", "and", "and", "and", ">=", "==", "<", "!=", "mul", "fdiv", "or", "not",
                         "size", "size"])
        if op == "size":  # floor((x + c1) / c2) + c3, constants on either side, a zero divisor now and then
            x, c1, c2, c3 = pick(), len(ops), len(ops) + 1, len(ops) + 2
            ops += [("const", (rng.randint(-3, 5),)), ("const", (rng.choice([0, 1, 2, 3]),)),
                    ("const", (rng.randint(-1, 2),))]
            ops.append(("add", (c1, x) if rng.random() < 0.5 else (x, c1)))
            ops.append(("fdiv", (len(ops) - 1, c2)))
            ops.append(("add", (c3, len(ops) - 1) if rng.random() < 0.5 else (len(ops) - 1, c3)))
        elif op == "not":
            ops.append((op, (pick(),)))
        elif op in ("add", "and") and rng.random() < 0.3:
            x = pick()
            ops.append((op, (x, x)))  # a repeated term
        elif op in ("add", "and", "mul"):
            ops.append((op, tuple(pick() for _ in range(rng.choice([2, 2, 3])))))
        else:
            ops.append((op, (pick(), pick())))
    return Program(tuple(ops), ("a", "b", "c"))


def test_fused_plans_equal_the_careful_run_on_random_programs() -> None:
    rng = random.Random(13)
    checked = 0
    for _ in range(600):
        program = random_program(rng)
        n = len(program.ops)
        for _ in range(6):
            values = {s: rng.choice([0, 1, 2, 3, -2, 5, 17]) for s in ("a", "b", "c")}
            wanted = tuple(sorted(rng.sample(range(n), rng.randint(1, min(4, n)))))
            try:
                careful = program._run_careful(values)
            except LimitError:
                continue
            fused = program.run_int(values, wanted)
            assert [fused[r] for r in wanted] == [careful[r] for r in wanted], (program.ops, values, wanted)
            checked += 1
    assert checked > 3000
