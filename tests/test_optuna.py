"""symshape in real Optuna studies: suggestions within declared ranges (step, log), exact checks, signed
margins as constraints, pruning before training; the example's best CNN checked against torch."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import optuna
import pytest

import symshape
from symshape.integrations.optuna import CONSTRAINTS_ATTR, Search, SymbolRange, constraints

ROOT = Path(__file__).resolve().parent.parent
optuna.logging.set_verbosity(optuna.logging.WARNING)


def _example():
    spec = importlib.util.spec_from_file_location("automl_optuna", ROOT / "examples" / "automl_optuna.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["automl_optuna"] = module
    spec.loader.exec_module(module)
    return module


SPACE = {"framework": "torch", "input": [3, "H", "H"],
         "symbols": {"H": {"min": 16, "max": 100, "step": 8}, "D": {"min": 4, "max": 128, "log": True},
                     "K": {"min": 1, "max": 7, "step": 2}, "S": {"min": 1, "max": 3}, "P": {"min": 0, "max": 2}},
         "layers": [{"Conv2d": {"out_channels": "D", "kernel_size": "K", "stride": "S", "padding": "P"}},
                    {"MaxPool2d": {"kernel_size": 4}}, {"Flatten": {}}, {"Linear": {"out_features": 10}}]}

RANGES = [  # name -> how it is suggested (hi is the last value of the step grid: 16 + 10*8 = 96)
    SymbolRange("H", 16, 96, 8, False), SymbolRange("D", 4, 128, 1, True), SymbolRange("K", 1, 7, 2, False),
    SymbolRange("S", 1, 3, 1, False), SymbolRange("P", 0, 2, 1, False),
]


def test_every_declared_symbol_is_suggested_within_its_range() -> None:
    search = Search(SPACE, budgets={"params": 50_000})
    assert sorted(search.space, key=lambda r: r.name) == sorted(RANGES, key=lambda r: r.name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = {r.name: set() for r in RANGES}
    for _ in range(200):
        trial = study.ask()
        values = search.suggest(trial)
        for r in RANGES:
            v = values[r.name]
            assert r.lo <= v <= r.hi and (v - r.lo) % r.step == 0
            seen[r.name].add(v)
        study.tell(trial, 0.0)
    assert seen["K"] == {1, 3, 5, 7} and seen["S"] == {1, 2, 3} and min(seen["H"]) == 16
    dist = study.trials[0].distributions
    assert dist["D"].log and dist["H"].step == 8 and dist["K"].step == 2


def test_check_prunes_exactly_the_invalid_and_over_budget_candidates() -> None:
    d = symshape.derive(SPACE)
    search = Search(SPACE, budgets={"params": 50_000, "macs": 2_000_000})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    states = set()
    for _ in range(150):
        trial = study.ask()
        try:
            e = search.check(trial)
            study.tell(trial, float(e.params))
        except optuna.TrialPruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        frozen = study.trials[-1]
        values = {k: frozen.params[k] for k in "HDKSP"}
        exact = d.evaluate(values)
        feasible = exact.valid and exact.params <= 50_000 and exact.macs <= 2_000_000
        assert (frozen.state == optuna.trial.TrialState.COMPLETE) == feasible
        margins = frozen.user_attrs[CONSTRAINTS_ATTR]
        assert len(margins) == len(search.constraint_names) == len(search.condition_names) + 2
        assert all(m <= 0 for m in margins) == feasible  # the signed margins say the same
        if exact.valid:
            assert margins[-2:] == [float(exact.params - 50_000), float(exact.macs - 2_000_000)]
        else:  # (review13 #8) an invalid network's sizes mean nothing: its budgets are "not satisfied", 1
            assert margins[-2:] == [1.0, 1.0]
        assert constraints(frozen) == margins and search.constraints(frozen) == margins
        keys = sorted(k for k in frozen.system_attrs if k.startswith("constraints:"))
        assert len(keys) == len(margins)  # set_constraint, what Optuna 5's samplers read
        if not feasible:
            reason = frozen.user_attrs["symshape_pruned"]
            assert reason == (exact.violations[0].message if not exact.valid else reason)
            assert exact.valid or reason.startswith("over budget: ")
        states.add(frozen.state)
    assert states == {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}


ERRORS = [  # kwargs, spec change, message
    ({"budgets": {"mac": 5}}, None, "did you mean 'macs'"),
    ({"fixed": {"Q": 3}}, None, "unknown symbol 'Q'"),
    ({}, {"W": None}, "symbol 'W' has no max"),
    ({"ranges": {"H": (40, 20)}}, None, "range of 'H': 40 > 20"),
]


@pytest.mark.parametrize(("kwargs", "change", "message"), ERRORS)
def test_search_errors(kwargs: dict, change: dict | None, message: str) -> None:
    spec = {**SPACE}
    if change:
        spec = {**SPACE, "input": [3, "H", "W"]}
    with pytest.raises(symshape.BindingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Search(spec, **kwargs)


def test_open_symbols_take_fixed_values_or_ranges() -> None:
    spec = {**SPACE, "input": [3, "H", "W"]}
    search = Search(spec, fixed={"W": 32}, ranges={"H": (20, 30)})
    assert [r for r in search.space if r.name == "H"] == [SymbolRange("H", 20, 28, 8, False)]
    assert "W" not in {r.name for r in search.space}


SPEC_ERRORS = [
    ({"D": {"min": 1, "max": 8, "log": 1}}, "'log' is true or false"),
    ({"D": {"min": 1, "max": 8, "step": 0}}, "'step' must be at least 1"),
    ({"D": {"min": 0, "max": 8, "log": True}}, "'log: true' needs min >= 1"),
    ({"D": {"min": 1, "max": 8, "log": True, "step": 2}}, "it takes no step"),
    ({"D": {"min": 1, "max": 8, "stpe": 2}}, "did you mean 'step'"),
]


@pytest.mark.parametrize(("symbols", "message"), SPEC_ERRORS)
def test_step_and_log_declarations_are_checked(symbols: dict, message: str) -> None:
    with pytest.raises(symshape.SpecError, match=message):
        symshape.derive({**SPACE, "symbols": symbols})


def test_example_finds_a_valid_cnn_under_the_budget_checked_with_torch(capsys: pytest.CaptureFixture) -> None:
    torch = pytest.importorskip("torch", reason="torch checks the example's best network")
    from torch.utils.flop_counter import FlopCounterMode

    example = _example()
    got = example.run(trials=40, macs=100_000_000, seed=0)
    assert got["complete"] > 0 and got["invalid"] > 0  # the family has invalid members, pruned
    assert got["check_us"] < 5_000
    best = got["best"]
    depth = best.params["depth"]
    p = best.params
    layers = []
    channels = 3
    for k in range(1, depth + 1):
        layers += [torch.nn.Conv2d(channels, p[f"D{k}"], p[f"K{k}"], p[f"S{k}"]), torch.nn.ReLU()]
        channels = p[f"D{k}"]
    net = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(channels, 10))
    assert sum(t.numel() for t in net.parameters()) == int(best.value)
    with FlopCounterMode(display=False) as counter:
        y = net(torch.zeros(1, 3, example.SIZE, example.SIZE))
    assert tuple(y.shape) == (1, 10)
    assert counter.get_total_flops() // 2 == best.user_attrs["macs"] <= 100_000_000
    for t in got["study"].trials:  # every candidate pruned as invalid fails in torch too
        if t.state == optuna.trial.TrialState.PRUNED and not t.user_attrs["symshape_valid"]:
            d = t.params["depth"]
            mods, c = [], 3
            for k in range(1, d + 1):
                mods.append(torch.nn.Conv2d(c, t.params[f"D{k}"], t.params[f"K{k}"], t.params[f"S{k}"]))
                c = t.params[f"D{k}"]
            with pytest.raises(RuntimeError):
                torch.nn.Sequential(*mods)(torch.zeros(1, 3, example.SIZE, example.SIZE, device="meta"))
    assert example.main(["--trials", "15"]) in (0, 1)
    assert "trials:" in capsys.readouterr().out


def test_an_invalid_candidate_is_never_under_budget() -> None:
    """(review13 #8) an invalid network's sizes mean nothing (a kernel past the input: a negative output
    height, negative MACs): its budget margins are 1, never a negative 'under budget'."""
    d = symshape.derive(SPACE)
    cases = [  # bindings, valid
        ({"H": 16, "D": 128, "K": 7, "S": 1, "P": 0}, True),
        ({"H": 8, "D": 128, "K": 7, "S": 1, "P": 0}, False),  # conv output 2: the 4x4 pool's output 0
        ({"H": 4, "D": 128, "K": 7, "S": 1, "P": 0}, False),  # conv output -2: negative sizes
    ]
    search = Search(SPACE, budgets={"params": 10**6, "macs": 10**7})
    for bindings, valid in cases:
        exact = d.evaluate(bindings)
        assert exact.valid == valid
        trial = optuna.create_study().ask()
        search.evaluate(trial, bindings)
        got = trial.user_attrs[CONSTRAINTS_ATTR][-2:]
        if valid:
            assert got == [float(exact.params - 10**6), float(exact.macs - 10**7)] and max(got) <= 0
        else:
            assert exact.macs is None or exact.macs - 10**7 < 0  # the meaningless size would say "under budget"
            assert got == [1.0, 1.0]
