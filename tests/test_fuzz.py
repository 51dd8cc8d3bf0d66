"""Never a crash, never a hang: every crash class found by fuzzing, and the fuzzer itself.

Each reproducer names the input and what symshape must answer: a SymshapeError (one clear message),
quickly. The fuzz test (tests/fuzzgen.py) runs a few thousand seeded cases through every public entry
point; ``SYMSHAPE_FUZZ=100000 pytest tests/test_fuzz.py`` is the long run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import symshape
from symshape import LimitError, SpecError, SymshapeError
from symshape.errors import BindingError
from symshape.limits import current
from symshape.report import derivation_report
from tests.fuzzgen import case, run

EXAMPLES = Path(__file__).parent.parent / "examples"
HUGE = "9" * 5000
KERAS = "framework: keras\ninput: [32, 32, 3]\nlayers:\n"
TORCH = "framework: torch\ninput: [3, 32, 32]\nlayers:\n"


def _tower(base: str) -> str:
    return f"framework: keras\ninput: [I]\nlayers:\n  - Dense: {{units: '(((({base}**64)**64)**64)**64)'}}\n"


REPRODUCERS = [  # name, spec (text or dict), error class, fragment of the message
    ("yaml 0x", "framework: keras\ninput: [0x_]\nlayers: [Flatten]\n", SpecError, "'0x_' is not a valid int"),
    ("yaml 0b", "framework: keras\ninput: [0b_]\nlayers: [Flatten]\n", SpecError, "'0b_' is not a valid int"),
    ("yaml +0x", "framework: keras\ninput: [+0x_]\nlayers: [Flatten]\n", SpecError, "not a valid int"),
    ("yaml huge int", f"framework: keras\ninput: [{HUGE}]\nlayers: [Flatten]\n", LimitError, "longer than 60 digits"),
    ("symbols min huge", f"framework: keras\ninput: [I]\nsymbols: {{I: {{min: {HUGE}}}}}\nlayers: [Flatten]\n",
     LimitError, "60 digits"),
    ("dict huge int", {"framework": "keras", "input": [10**5000], "layers": ["Flatten"]}, LimitError, "60 digits"),
    ("dict huge min", {"framework": "keras", "input": ["I"], "symbols": {"I": {"min": -(10**5000)}},
                       "layers": ["Flatten"]}, LimitError, "60 digits"),
    ("upsample huge int", TORCH + f"  - Upsample: {{scale_factor: {HUGE}}}\n", LimitError, "60 digits"),
    ("upsample 1e5000", TORCH + "  - Upsample: {scale_factor: 1e5000}\n", SpecError, "scale_factor"),
    ("upsample 1e-99999999", TORCH + "  - Upsample: {scale_factor: 1e-99999999}\n", SpecError, "scale_factor"),
    ("int key yaml", KERAS + "  - Dense: {3: 4, units: 2}\n", SpecError, "unknown argument '3'"),
    ("int key dict", {"framework": "keras", "input": [3], "layers": [{"Dense": {3: 4, "units": 2}}]}, SpecError,
     "mapping keys are names"),
    ("tuple key dict", {"framework": "keras", "input": [3], "layers": [{"Dense": {(1, 2): 4}}]}, SpecError,
     "mapping keys are names"),
    ("power tower of 2", _tower("2"), LimitError, "bits"),
    ("power tower of I", _tower("I"), LimitError, "degree 4096"),
    ("power of a sum", KERAS + "  - Dense: {units: '(J+K+L+M)**64'}\n", LimitError, "terms"),
    ("product of sums", KERAS + "  - Dense: {units: '" + "*".join(["(a+b+c+d)"] * 60) + "'}\n", LimitError,
     "terms"),
    ("sum of fractions", KERAS + "  - Dense: {units: 'floor(" + "+".join(f"1/a{i}" for i in range(150)) + ")'}\n",
     LimitError, "degree"),
    ("exponent too big", KERAS + "  - Dense: {units: 'I**65'}\n", SpecError, "exponent"),
    ("nested 500 deep", "framework: keras\ninput: " + "[" * 500 + "1" + "]" * 500 + "\nlayers: [Flatten]\n",
     LimitError, "nested deeper than 64"),
    ("two documents", "framework: keras\n---\nframework: torch\n", SpecError, "one YAML document"),
    ("python tag", KERAS + "  - !!python/object/apply:os.system ['true']\n", SpecError, "unsupported YAML tag"),
    ("alias to nothing", KERAS + "  - *nope\n", SpecError, "alias"),
    ("surrogate", "framework: keras\ninput: ['\ud800']\nlayers: [Flatten]\n", SpecError, "not valid text"),
    ("a path as text", "examples/classic.yaml", SpecError, "pass pathlib.Path('examples/classic.yaml')"),
    ("group norm axes", {"framework": "keras", "input": [8, 8, 4],
                         "layers": [{"GroupNormalization": {"groups": 2, "axis": [1, 2]}}]}, SpecError, "one integer"),
]


def _nest(n: int) -> list:
    out: list = [1]
    for _ in range(n):
        out = [out]
    return out


@pytest.mark.parametrize(("name", "spec", "error", "fragment"), REPRODUCERS, ids=[r[0] for r in REPRODUCERS])
def test_reproducer_is_one_clear_error(name: str, spec: object, error: type, fragment: str) -> None:
    start = time.perf_counter()
    with pytest.raises(error) as info:
        symshape.derive(spec, cache=False)
    assert fragment in str(info.value), str(info.value)
    assert len(str(info.value)) < 600
    assert time.perf_counter() - start < 2


def test_deeply_nested_dict_is_refused() -> None:
    spec = {"framework": "keras", "input": [3], "layers": [{"Dense": {"units": _nest(500)}}]}
    with pytest.raises(LimitError, match="nested deeper than 64"):
        symshape.derive(spec, cache=False)


VIEW_REPRODUCERS = [  # specs that derive, but whose closed forms would hold constants too big to print
    {"framework": "keras", "input": [4],
     "layers": [x for _ in range(100) for x in ({"RepeatVector": {"n": 10**59}}, {"Flatten": {}})]},
    {"framework": "torch", "input": [1, "L"], "layers": [{"MaxPool1d": {"kernel_size": 10**59}}] * 100},
]


@pytest.mark.parametrize("spec", VIEW_REPRODUCERS, ids=["repeat-flatten", "pool-chain"])
def test_views_refuse_constants_too_big_to_print(spec: dict) -> None:
    d = symshape.derive(spec, cache=False)
    for view in (d.to_dict, lambda: derivation_report(d)):
        with pytest.raises(LimitError, match="bits"):
            view()


def test_mod_by_a_symbol_that_may_be_zero() -> None:
    d = symshape.derive("framework: keras\ninput: [I]\nsymbols: {I: {min: 1}, K: {min: 0}}\n"
                        "layers:\n  - Dense: {units: 'I % K + 1'}\n", cache=False)
    e = d.evaluate(I=5, K=0)
    assert not e.valid and any("divisor" in v.message or "division" in v.message for v in e.violations)
    batch = d.evaluate_batch({"I": np.array([5, 5]), "K": np.array([0, 2])}, outputs=("output_shape",))
    assert batch.valid.tolist() == [False, True]


def test_exact_evaluation_refuses_results_over_the_bit_limit() -> None:
    d = symshape.derive(KERAS.replace("[32, 32, 3]", "[I]") + "  - Dense: {units: 'I**64'}\n"
                        "  - Dense: {units: 'I**64'}\n", cache=False)
    assert d.evaluate(I=3).params == 3 * 3**64 + 3**64 + 3**128 + 3**64
    with pytest.raises(LimitError, match="bits"):
        d.evaluate(I=2**62 - 1)  # 2**(62*128): over 4,096 bits
    with pytest.raises(LimitError, match="bits"):
        d.evaluate(I=10**5000)


def test_the_issue_evaluate_case_answers_at_once() -> None:
    """Dense units ((((I**64)**64)**64)**64) at I = 2**62 - 1 pinned the server: now refused at derive."""
    start = time.perf_counter()
    with pytest.raises(LimitError):
        symshape.derive(_tower("I"), cache=False)
    assert time.perf_counter() - start < 1


# ---------------------------------------------------------------- batches in int64


CLASSIC = EXAMPLES / "classic_symbolic.yaml"


def test_batch_overflow_rows_are_flagged_never_valid() -> None:
    d = symshape.derive(CLASSIC)
    big = 2**62
    r = d.evaluate_batch({"I": np.array([big, 32]), "F": 3, "S": 1, "P": 1, "D": np.array([big, 8])},
                         outputs=("output_shape", "params", "macs"))
    exact = d.evaluate(I=big, F=3, S=1, P=1, D=big)
    assert exact.valid and exact.params > 2**63 and exact.macs > 2**63  # the truth does not fit in int64
    assert r.overflow.tolist() == [True, False]
    assert r.valid.tolist() == [False, True]
    assert int(r.columns["params"][0]) == 0 and int(r.columns["macs"][0]) == 0
    small = d.evaluate(I=32, F=3, S=1, P=1, D=8)
    assert int(r.columns["params"][1]) == small.params and int(r.columns["macs"][1]) == small.macs
    assert r.to_dict()["overflow"] == [True, False]


def test_batch_overflow_matches_exact_evaluation_near_the_edge() -> None:
    d = symshape.derive({"framework": "keras", "input": ["I"], "layers": [{"Dense": {"units": "U"}}]}, cache=False)
    units = np.array([1, 2**31, 2**32, 2**40, 2**60, 2**62, 2**63 - 1], dtype=np.int64)
    r = d.evaluate_batch({"I": np.int64(2**31), "U": units}, outputs=("params",))
    for i, u in enumerate(units.tolist()):
        exact = d.evaluate(I=2**31, U=u).params  # I*U + U
        fits = exact <= 2**63 - 1
        assert bool(r.overflow[i]) == (not fits), (u, exact)
        if fits:
            assert int(r.columns["params"][i]) == exact


@pytest.mark.parametrize(("column", "fragment"), [
    (np.array([2**63, 1], dtype=np.uint64), "uint64"),
    ([2**64, 1], "does not fit in int64"),
    (2**64, "does not fit in int64"),
    (np.array([1e19, 1.0]), "does not fit in int64"),
    (np.array([1.5]), "must be integers"),
    (np.array([True]), "booleans"),
    (np.array([[1, 2]]), "1-d"),
    (["a", 1], "integers"),
])
def test_batch_columns_int64_cannot_hold_are_refused(column: object, fragment: str) -> None:
    d = symshape.derive(CLASSIC)
    with pytest.raises(BindingError, match=fragment):
        d.evaluate_batch({"I": column, "F": 3, "S": 1, "P": 1, "D": 8})


def test_uint64_and_small_columns_within_int64_are_fine() -> None:
    d = symshape.derive(CLASSIC)
    r = d.evaluate_batch({"I": np.array([32, 64], dtype=np.uint64), "F": np.int8(3), "S": 1, "P": 1, "D": 8})
    assert r.valid.all() and not r.overflow.any()


# ---------------------------------------------------------------- time


def test_deep_yaml_in_a_fresh_process_is_a_limit_error() -> None:
    code = ("import symshape\ntry:\n    symshape.derive('x: ' + '[' * 500 + ']' * 500)\n"
            "except symshape.LimitError as e:\n    print('limit', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("limit"), out.stderr[-500:]


def test_deep_yaml_after_the_recursion_limit_was_raised_is_linear() -> None:
    symshape.derive(CLASSIC, cache=False)  # runs in run_deep: the process-wide recursion limit is now high
    text = "framework: keras\ninput: [1]\nlayers: " + "[" * 8000 + "]" * 8000 + "\n"
    start = time.perf_counter()
    with pytest.raises(LimitError):
        symshape.derive(text, cache=False)
    assert time.perf_counter() - start < 1


def test_concatenate_of_3000_inputs_is_quick() -> None:
    text = "framework: keras\ninputs: {a: [4]}\nlayers:\n  - Concatenate: {}\n    inputs: [" + \
        ", ".join(["a"] * 3000) + "]\n"
    start = time.perf_counter()
    d = symshape.derive(text, cache=False)
    assert d.to_dict()["output_shape"] == ["12000"]
    assert time.perf_counter() - start < 5


def test_a_call_past_the_time_limit_is_a_limit_error() -> None:
    from symshape.deep import run_deep
    from symshape.limits import set_limits

    def spin() -> None:
        while True:
            try:
                sum(range(100))
            except Exception:  # noqa: BLE001, S112 - a computation that swallows exceptions is stopped anyway
                continue

    previous = set_limits(seconds=0.3)
    try:
        start = time.perf_counter()
        with pytest.raises(LimitError, match="gave up after 0.3 s"):
            run_deep(spin)
        assert time.perf_counter() - start < 1.5
    finally:
        set_limits(**{k: v for k, v in previous.table()})
    assert current().seconds == previous.seconds


# ---------------------------------------------------------------- the fuzzer


FUZZ_CASES = int(os.environ.get("SYMSHAPE_FUZZ", "2000"))
FUZZ_START = int(os.environ.get("SYMSHAPE_FUZZ_START", "0"))
MAX_SECONDS = 5.0


def test_fuzz_every_entry_point() -> None:
    """0 exceptions outside SymshapeError, 0 cases over 5 s, over seeded cases (SYMSHAPE_FUZZ sets how many)."""
    crashes: list[str] = []
    slow: list[str] = []
    worst = 0.0
    for seed in range(FUZZ_START, FUZZ_START + FUZZ_CASES):
        c = case(seed)
        outcome = run(c, cli=seed % 4 == 0)  # the CLI on every 4th case: it derives again, five times
        worst = max(worst, outcome.seconds)
        crashes += [f"{x}\n    {c.describe()}" for x in outcome.crashes]
        if outcome.seconds > MAX_SECONDS:
            slow.append(f"{outcome.seconds:.1f} s {outcome.stages}\n    {c.describe()}")
        if len(crashes) + len(slow) > 10:
            break
    assert not crashes, "\n".join(crashes[:10])
    assert not slow, "\n".join(slow[:10])
    print(f"{FUZZ_CASES} cases, worst {worst:.2f} s")


def test_fuzz_cases_are_reproducible() -> None:
    assert repr(case(12345)) == repr(case(12345))
    kinds = {case(seed).kind for seed in range(300)}
    assert {"yaml", "json", "dict", "deep-nesting", "yaml-raw", "not-a-spec"} <= kinds


def test_symshape_errors_are_one_family() -> None:
    assert issubclass(LimitError, SpecError) and issubclass(SpecError, SymshapeError)
    assert issubclass(BindingError, SymshapeError)
