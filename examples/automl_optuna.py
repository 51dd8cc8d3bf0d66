"""An AutoML search with Optuna: the CNN of most capacity (parameters) within a MAC budget.

The family: `depth` convolution blocks (Conv2d + ReLU) on a 3 x 64 x 64 image, then a global average
pool and a 10-way Linear head. Every block's width D<k> (8..256, log scale), kernel K<k> (1, 3, 5, 7)
and stride S<k> (1..2) is a symbol declared in the spec; the depth (2..6) picks the spec. symshape
suggests each symbol within its declared range, checks the candidate exactly (valid? under budget?)
in microseconds and prunes it before any training; the margins of its conditions go to Optuna's
constraints_func, so TPE learns where the valid, affordable candidates are.

    python examples/automl_optuna.py --trials 200 --macs 100000000
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import optuna

from symshape.integrations.optuna import Search

DEPTHS = range(2, 7)
SIZE = 64


def cnn_spec(depth: int) -> dict[str, Any]:
    """The family member with `depth` convolution blocks, every width, kernel and stride a symbol."""
    symbols: dict[str, dict[str, Any]] = {}
    layers: list[dict[str, Any]] = []
    for k in range(1, depth + 1):
        symbols[f"D{k}"] = {"min": 8, "max": 256, "log": True, "description": f"block {k}: filters"}
        symbols[f"K{k}"] = {"min": 1, "max": 7, "step": 2, "description": f"block {k}: kernel size"}
        symbols[f"S{k}"] = {"min": 1, "max": 2, "description": f"block {k}: stride"}
        layers += [{"Conv2d": {"out_channels": f"D{k}", "kernel_size": f"K{k}", "stride": f"S{k}"},
                    "name": f"conv{k}"},
                   {"ReLU": {}}]
    layers += [{"AdaptiveAvgPool2d": {"output_size": 1}}, {"Flatten": {}}, {"Linear": {"out_features": 10}}]
    return {"framework": "torch", "input": [3, SIZE, SIZE], "symbols": symbols, "layers": layers}


def run(trials: int, macs: int, seed: int = 0) -> dict[str, Any]:
    """Search; returns the study, the best candidate and what pruning cost."""
    searches = {depth: Search(cnn_spec(depth), budgets={"macs": macs}) for depth in DEPTHS}
    checks: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        depth = trial.suggest_int("depth", DEPTHS.start, DEPTHS.stop - 1)
        search = searches[depth]
        try:
            e = search.check(trial)  # suggests D1.., K1.., S1..; prunes invalid or over-budget candidates
        finally:
            checks.append(search.last_seconds)  # symshape's exact check, without Optuna's sampling
        trial.set_user_attr("macs", e.macs)
        return float(e.params)  # a real search would train here, on valid, affordable candidates only

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=10)  # reads the margins each trial sets
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=trials)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    invalid = [t for t in pruned if not t.user_attrs.get("symshape_valid", False)]
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = max(done, key=lambda t: t.value) if done else None
    return {"study": study, "best": best, "invalid": len(invalid), "over_budget": len(pruned) - len(invalid),
            "complete": len(done), "check_us": 1e6 * sorted(checks)[len(checks) // 2] if checks else 0.0,
            "searches": searches}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--macs", type=int, default=100_000_000, help="the MAC budget")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    got = run(args.trials, args.macs, args.seed)
    print(f"{args.trials} trials: {got['complete']} complete, {got['invalid']} pruned as invalid, "
          f"{got['over_budget']} pruned over the budget of {args.macs:,} MACs; "
          f"a check takes {got['check_us']:.0f} us (median)")
    best = got["best"]
    if best is None:
        print("no valid candidate within the budget")
        return 1
    print(f"best: depth {best.params['depth']}, {int(best.value):,} parameters, {best.user_attrs['macs']:,} MACs")
    print("  " + ", ".join(f"{k}={v}" for k, v in best.params.items() if k != "depth"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
