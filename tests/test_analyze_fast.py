"""conditions.analyze with its exact shortcuts (sides and items made once per distinct closed side, the symbol
range, one_symbol, linear_form and divisibility computed once per object, floor(n/d) + c op k normalized directly
and normalization skipped where it changes nothing, implied_by_two on int keys without Fractions and, where its
work limit cannot be reached, without the combinations that cannot succeed) and SizeNames' faster construction:
the verdicts must be the very ones of the implementation before them, kept below verbatim as the reference
(renamed _old_*), on every example, variants of them, deep chains and fuzzed specs (never-valid ones among them);
implied_by_two on random systems on both sides of the work limit; items and the direct normalization on random
sides. (The verbatim copy keeps its long lines: E501 off for the file.)"""

# ruff: noqa: E501

from __future__ import annotations

import random
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest
import sympy
from sympy import Expr, Integer, Symbol
from sympy.core.relational import Relational

import symshape
from symshape import conditions
from symshape.algebra import Dim
from symshape.conditions import (
    INF,
    LINEAR_MAX_COUNT,
    PAIR_MAX_COUNT,
    PAIR_MAX_WORK,
    Bound,
    Bounds,
    Form,
    Linear,
    Verdicts,
    _fmt,
    _show_box,
    decide,
    divisibility,
    expand_small,
    implied_by_linear,
    implied_by_two,
    linear_form,
    one_symbol,
    reduced_divisibility,
    violation_text,
    zero_when_expanded,
)
from symshape.deep import run_deep
from symshape.named import SizeNames

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
import fuzzgen  # noqa: E402
from test_named import chain  # noqa: E402

ZERO = sympy.S.Zero

# ---------------------------------------------------------------- the reference: analyze before the shortcuts


@dataclass
class _OldItem:
    nc: object  # NetCondition
    rel: object  # the relation in closed form (normalized)
    g: Expr | None  # g op 0 says the same (op '>=' for every inequality)
    op: str
    constant: bool  # lhs and rhs are integers




def _old_implied_by_divisibility(items: list[_OldItem], never: Mapping[int, str], implied: set[int],
                             box: Mapping[Symbol, Bound]) -> set[int]:
    """Conditions that hold wherever a shown `s % k == 0` does (s a symbol, k a number): with s = k*m,
    floor(s/4) == 2*floor(s/8) for k = 8 becomes 2*m == 2*m. Bounded work: one substitution per
    condition and fact, expansions bounded by expand_small."""
    facts: list[tuple[int, Symbol, int]] = []
    for i, it in enumerate(items):
        if i in never or i in implied or it.op != "==" or not isinstance(it.rel, Relational):
            continue
        mod = divisibility(it.rel)
        if mod is not None and isinstance(mod.lhs.args[0], Symbol) and isinstance(mod.lhs.args[1], Integer) \
                and int(mod.lhs.args[1]) > 1:
            facts.append((i, mod.lhs.args[0], int(mod.lhs.args[1])))
    out: set[int] = set()
    for j, s, k in facts[:64]:
        if j in out:
            continue
        m = Symbol(f"{s.name}_over_{k}", integer=True)
        lo, hi = box.get(s, (-INF, INF))
        mbox = {**box, m: (-INF if lo == -INF else -(-int(lo) // k), INF if hi == INF else int(hi) // k)}
        sub = {s: k * m}
        bounds = Bounds(mbox)
        for i, it in enumerate(items):
            if i == j or i in never or i in implied or i in out or it.g is None or s not in it.g.free_symbols:
                continue
            g = it.g.xreplace(sub)
            if (it.op == "==" and zero_when_expanded(g)) or (it.op == ">=" and _old_symbol_range(it) is None and
                                                            decide(bounds(expand_small(g)), ">=") is True):
                out.add(i)
    return out




def _old_combination_lo(j: Form, premises: list[tuple[Fraction, Form]], box: Mapping[Symbol, Bound]) -> float | Fraction:
    """The least value over the box of j − Σ λ·f (each f ≥ 0 a premise, λ ≥ 0), times a positive integer (the
    product of the λ's denominators, cleared so that the sums stay in Python ints): at least 0 proves j ≥ 0
    from the premises over the box (an LP certificate: exact arithmetic, never claimed when false)."""
    scale = 1
    for lam, _ in premises:
        scale *= lam.denominator
    coeffs: dict[Symbol, int] = {s: a * scale for s, a in j[0].items()}
    const = j[1] * scale
    for lam, (fc, f0) in premises:
        w = lam.numerator * (scale // lam.denominator)
        const -= w * f0
        for s, a in fc.items():
            coeffs[s] = coeffs.get(s, 0) - w * a
    lo: float | Fraction = const
    for s, a in coeffs.items():
        if a == 0:
            continue
        b = box.get(s, (-INF, INF))
        end = b[0] if a > 0 else b[1]
        if end in (INF, -INF):
            return -INF
        lo += a * end
    return lo


def _old_ratios(a: Mapping[Symbol, int | Fraction], b: Mapping[Symbol, int]) -> list[Fraction]:
    """Multipliers λ > 0 that cancel a symbol of a against λ·b (and 1): the candidates of a certificate."""
    out = {Fraction(1)}
    for s, x in a.items():
        y = b.get(s, 0)
        if y and x and (x > 0) == (y > 0):
            out.add(Fraction(x) / y)
    return sorted(out)[:6]


def old_implied_by_two(forms: list[tuple[Mapping[Symbol, int], int] | None], box: Mapping[Symbol, Bound],
                   domains: Mapping[Symbol, Bound]) -> set[int]:
    """Indices of the linear inequalities `form >= 0` (None: not linear) implied over the box by one or two
    others that stay (λ·f + μ·h with λ, μ ≥ 0 from a few candidates: sound, not complete). E ≥ 1 goes when
    E − Hh ≥ 0 and Hh ≥ 1 are shown. A bound on one symbol is checked with that symbol unbounded, and once
    dropped its symbol's range in the box goes back to its domain, so no condition proves itself; each one
    dropped is implied by those kept at that point, so by the ones kept at the end. No check past
    PAIR_MAX_COUNT forms."""
    idx = [i for i, f in enumerate(forms) if f is not None]
    if len(idx) < 2 or len(idx) > PAIR_MAX_COUNT:
        return set()
    own = [s for i in idx for s, a in forms[i][0].items() if a]  # type: ignore[index]
    if all(len(forms[i][0]) == 1 for i in idx) and len(own) == len(idx) == len(set(own)):  # type: ignore[index]
        return set()  # bounds on distinct single symbols (H >= 1, W >= 1): each one's symbol is unbounded in its
        # own check and absent from the others (no certificate can cancel it): none is implied
    b = dict(box)
    dropped: set[int] = set()
    work = 0
    for j in idx:
        if work > PAIR_MAX_WORK:
            break
        fj = forms[j]
        own = next(iter(fj[0])) if len(fj[0]) == 1 else None  # type: ignore[index]
        bj = dict(b)
        if own is not None:
            bj[own] = (-INF, INF)
        kept = [i for i in idx if i != j and i not in dropped]
        found = False
        for x, i in enumerate(kept):
            fi = forms[i]
            for lam in _old_ratios(fj[0], fi[0]):  # type: ignore[index]
                work += 1
                if _old_combination_lo(fj, [(lam, fi)], bj) >= 0:  # type: ignore[list-item, arg-type]
                    found = True
                    break
                rest = {s: Fraction(fj[0].get(s, 0)) - lam * fi[0].get(s, 0)  # type: ignore[index]
                        for s in {*fj[0], *fi[0]}}  # type: ignore[index]
                for k in kept[x + 1:]:
                    fk = forms[k]
                    if work > PAIR_MAX_WORK:
                        break
                    if not any(rest.get(s) for s in fk[0]):  # type: ignore[index]
                        continue  # h shares no symbol left in j − λ·f: it cannot help
                    mus = _old_ratios(rest, fk[0])  # type: ignore[index]
                    work += len(mus)
                    if any(_old_combination_lo(fj, [(lam, fi), (mu, fk)], bj) >= 0  # type: ignore[list-item, arg-type]
                           for mu in mus):
                        found = True
                        break
                if found:
                    break
            if found:
                break
        if found:
            dropped.add(j)
            if own is not None:
                b[own] = domains.get(own, (-INF, INF))
    return dropped




def _old_symbol_range(it: _OldItem) -> Linear | None:
    """The range a condition on one symbol alone allows it (a*s + c >= 0, or == 0), else None."""
    if it.g is None or it.constant or it.op not in (">=", "=="):
        return None
    up = one_symbol(it.g)
    if up is None or it.op == ">=":
        return up
    down = one_symbol(-it.g)  # a*s + c == 0: both a*s + c >= 0 and -(a*s + c) >= 0
    return Linear(up.symbol, up.lo if up.lo is not None else down.lo, up.hi if up.hi is not None else down.hi)




def old_analyze(d: object) -> Verdicts:  # noqa: C901, PLR0912, PLR0915 - verbatim
    """Never-valid conditions and the list to show, for a `Derivation` (see its `never_valid`)."""
    from symshape.algebra import as_expr, normalize_relation
    from symshape.printing import to_text

    # closed forms; in a deep network fed by many symbols, sizes stay atoms (opened by Bounds): linear in depth
    form = d.size_names.form  # type: ignore[attr-defined]
    items: list[_OldItem] = []
    never: dict[int, str] = {}  # index in items -> reason
    for nc in d.conditions:  # type: ignore[attr-defined]
        c = nc.condition
        if c.op == "holds":
            rel = form(c.lhs)
            items.append(_OldItem(nc, rel, None, "holds", isinstance(rel, (bool, sympy.logic.boolalg.BooleanAtom))))
            continue
        lhs, rhs = form(c.lhs), form(as_expr(c.rhs))
        constant = isinstance(lhs, Integer) and isinstance(rhs, Integer)
        rel = sympy.Rel(lhs, rhs, c.op, evaluate=False)
        if c.op == "==" and lhs == rhs:  # the same size on both sides (a merge of equal inputs): what the lines
            items.append(_OldItem(nc, rel, ZERO, "==", constant))  # below give (normalizing leaves an equality,
            continue  # and x - x is 0), without building x - x
        rel = normalize_relation(rel) if not constant else rel
        if isinstance(rel, Relational) and rel.rel_op in (">=", ">", "<=", "<"):
            op = rel.rel_op
            g = rel.lhs - rel.rhs if op in (">=", ">") else rel.rhs - rel.lhs
            g = g - 1 if op in (">", "<") else g
            items.append(_OldItem(nc, rel, g, ">=", constant))
        elif isinstance(rel, Relational):
            items.append(_OldItem(nc, rel, rel.lhs - rel.rhs, rel.rel_op, constant))
        else:
            items.append(_OldItem(nc, rel, None, "holds", True))

    # the box: the symbols' domains, narrowed by every bound on a single symbol
    box: dict[Symbol, Bound] = {}
    for info in d.symbols.values():  # type: ignore[attr-defined]
        box[info.symbol] = (-INF if info.min is None else info.min, INF if info.max is None else info.max)
    domains = dict(box)
    for i, it in enumerate(items):
        lin = _old_symbol_range(it)
        if lin is None:
            continue
        lo, hi = box.get(lin.symbol, (-INF, INF))
        new_lo = lo if lin.lo is None else max(lo, lin.lo)
        new_hi = hi if lin.hi is None else min(hi, lin.hi)
        if new_lo > new_hi:  # contradicts the domain and the bounds before it: flagged, the box stays
            name = lin.symbol.name
            const, rest = it.g.as_coeff_Add()
            shown = f"{name} == {Fraction(-int(const), int(rest.as_coeff_Mul()[0]))}" \
                if lin.lo is not None and lin.hi is not None and lin.lo > lin.hi else \
                f"{name} == {_fmt(lin.lo)}" if lin.lo == lin.hi else \
                f"{name} >= {_fmt(lin.lo)}" if lin.lo is not None else f"{name} <= {_fmt(lin.hi)}"
            never[i] = f"{it.nc.origin}: {it.nc.condition.label}: {shown} holds for no value of " \
                       f"{_show_box(box, lin.symbol)}"
            continue
        box[lin.symbol] = (new_lo, new_hi)
    bounds = Bounds(box, d.defs)  # type: ignore[attr-defined]

    implied: set[int] = set()
    for i, it in enumerate(items):
        if i in never:
            continue
        if it.op == "holds":
            if it.rel is sympy.false or it.rel is False:
                never[i] = f"{it.nc.origin}: {it.nc.condition.label} does not hold"
            elif it.rel is sympy.true or it.rel is True:
                implied.add(i)
            continue
        verdict = decide(bounds(it.g), it.op)
        if verdict is False:
            c = it.nc.condition
            if it.constant:
                never[i] = f"{it.nc.origin}: " + violation_text(c.label, int(it.rel.lhs), c.op, int(it.rel.rhs),
                                                                   c.note)
            else:
                never[i] = f"{it.nc.origin}: {c.label}: {to_text(it.rel)} holds for no value of " \
                           f"{_show_box(bounds.box, it.g)}"
        elif verdict is True and _old_symbol_range(it) is None:  # (bounds on one symbol make the box: kept)
            implied.add(i)
    implied |= _old_implied_by_divisibility(items, never, implied, box)

    # what to show: each condition once, the tightest of each family, divisibility as x % k == 0
    shown: list[tuple[object, object, object]] = []  # (nc, relation, family key)
    best: dict[object, tuple[int, int]] = {}  # family -> (its constant, index in shown)
    seen: set = set()
    forms: list[tuple[dict[Symbol, int], int] | None] = []  # the linear form of each shown inequality, or None
    gs: list[Expr | None] = []  # each shown inequality's g (g >= 0), or None
    n_linear = 0
    for i, it in enumerate(items):
        if i in never or i in implied:
            continue
        rel, family = it.rel, None
        if it.op == ">=":
            lin = one_symbol(it.g)
            const, rest = it.g.as_coeff_Add()
            if lin is not None and lin.lo is not None:
                rel, family = sympy.Ge(lin.symbol, lin.lo, evaluate=False), ((lin.symbol, "lo"), -lin.lo)
            elif lin is not None:
                rel, family = sympy.Le(lin.symbol, lin.hi, evaluate=False), ((lin.symbol, "hi"), lin.hi)
            elif isinstance(const, Integer):
                family = (rest, int(const.p))  # rest + c >= 0: the smallest c is the tightest
            key: object = (">=", it.g)
        elif it.op in ("==", "!="):
            if it.op == "==" and zero_when_expanded(it.g):
                continue
            lin = _old_symbol_range(it)
            mod = divisibility(rel)
            if lin is not None and lin.lo == lin.hi:  # one symbol equal to a number: written s == n
                rel = sympy.Eq(lin.symbol, lin.lo, evaluate=False)
            elif mod is not None:
                rel = mod
            elif it.op == "==":
                rel = reduced_divisibility(rel)
            key = (it.op, frozenset((it.g, -it.g)))
        else:
            key = rel
        if key in seen:
            continue
        seen.add(key)
        if family is not None:
            fam, strength = family
            old = best.get(fam)
            if old is not None and old[0] <= strength:
                continue  # a weaker bound of a family already listed
            if old is not None:
                shown[old[1]] = (None, None, None)
            best[fam] = (strength, len(shown))
        shown.append((it.nc, rel, family))
        # a linear inequality on several symbols may be implied by another shown one (pairwise, below)
        forms.append(linear_form(it.g) if it.op == ">=" and one_symbol(it.g) is None and
                     n_linear <= LINEAR_MAX_COUNT else None)
        gs.append(it.g if it.op == ">=" and len(gs) <= PAIR_MAX_COUNT * 4 else None)
        n_linear += forms[-1] is not None
    for j in implied_by_linear([f if shown[k][0] is not None else None for k, f in enumerate(forms)], box):
        shown[j] = (None, None, None)
    # a shown inequality (one symbol's bound too) implied by one or two others that stay
    every = [linear_form(g) if g is not None and shown[k][0] is not None else None for k, g in enumerate(gs)]
    for j in old_implied_by_two(every, box, domains):
        shown[j] = (None, None, None)
    never_items = sorted(never)
    return Verdicts(tuple(items[i].nc for i in never_items), tuple(never[i] for i in never_items),
                    tuple((nc, rel) for nc, rel, _ in shown if nc is not None))


def _old_feeds(symbols: object, feeds: dict, cap: int = 16) -> frozenset[str] | None:
    out: set[str] = set()
    for s in symbols:  # type: ignore[attr-defined]
        if isinstance(s, Dim):
            sub = feeds.get(s)
            if sub is None:
                return None
            out |= sub
        else:
            out.add(s.name)
        if len(out) > cap:
            return None
    return frozenset(out)


def old_size_names(d: symshape.Derivation) -> tuple[str, dict, dict, dict]:
    """SizeNames.__init__ before it was made faster: (prefix, names, where, feeds)."""
    from symshape.algebra import as_expr

    taken = set(d.symbols)
    prefix = "x"
    while any(n.startswith(prefix + "_") for n in taken):
        prefix += "x"
    names: dict[Expr, Symbol] = {}
    where: dict[Expr, tuple[int, int, int]] = {}
    for ly in d.layers:
        for k, shape in enumerate(ly.outputs):
            for axis, s in enumerate(shape):
                if isinstance(s, Dim) and s not in names:
                    names[s] = Symbol(f"{prefix}_{len(names) + 1}", integer=True)
                    where[s] = (ly.index, k, axis)
    feeds: dict[Expr, frozenset[str] | None] = {}
    for atom, definition in d.defs.items():
        feeds[atom] = _old_feeds(as_expr(definition).free_symbols, feeds)
    return prefix, names, where, feeds


# ---------------------------------------------------------------- the comparisons


def _text(x: object) -> str:
    return sympy.srepr(x) if isinstance(x, sympy.Basic) else repr(x)


def _same_verdicts(d: symshape.Derivation) -> Verdicts:
    """The new analysis and the reference agree exactly on d (the new one first: it fills the derivation's memos
    the reference then reads, as in a reply)."""
    new = run_deep(conditions.analyze, d)
    old = run_deep(old_analyze, d)
    assert len(new.never_valid) == len(old.never_valid)
    assert all(a is b for a, b in zip(new.never_valid, old.never_valid, strict=True))
    assert new.reasons == old.reasons
    assert len(new.shown) == len(old.shown), (new.shown, old.shown)
    for (nc, rel), (nc0, rel0) in zip(new.shown, old.shown, strict=True):
        assert nc is nc0
        assert type(rel) is type(rel0) and rel == rel0 and _text(rel) == _text(rel0) and str(rel) == str(rel0)
    return new


def _same_names(d: symshape.Derivation) -> None:
    prefix, names, where, feeds = old_size_names(d)
    got = SizeNames(d)
    assert got.prefix == prefix
    assert list(got.names.items()) == list(names.items())
    assert all(a.assumptions0 == b.assumptions0 for a, b in zip(got.names.values(), names.values(), strict=True))
    assert list(got.where.items()) == list(where.items())
    assert list(got.feeds.items()) == list(feeds.items())


def _check(d: symshape.Derivation) -> Verdicts:
    _same_names(d)
    return _same_verdicts(d)


EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
RESNET = (ROOT / "examples" / "resnet50.yaml").read_text()
CLASSIC = (ROOT / "examples" / "classic_symbolic.yaml").read_text()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples(path: Path) -> None:
    _check(symshape.derive(path, cache=False))


VARIANTS = {
    **{f"resnet50 H{r}": RESNET.replace("[3, H, W]", f"[3, H{r}, W]") for r in (1, 2)},
    **{f"classic {r}": CLASSIC.replace("[I, I, 3]", f"[I, I, {r + 3}]") for r in (1, 2)},
    "chain 6": chain(6, "_v"),
    "chain 20": chain(20, "_w"),  # named sizes: conditions on atoms
    # never valid: a bound on one symbol against its domain, a constant mismatch, a floor that cannot reach 1
    "small domain": CLASSIC.replace("I: {min: 1, default: 32}", "I: {min: 1, max: 2, default: 2}")
    .replace("F: {min: 1, default: 3}", "F: {min: 5, default: 5}").replace("P: {min: 0, default: 0}",
                                                                          "P: {min: 0, max: 0, default: 0}"),
    "one symbol": "framework: torch\ninput: [3, H, W]\nsymbols: {H: {min: 1, max: 3}}\nlayers:\n"
                  "  - Conv2d: {out_channels: 8, kernel_size: 7}\n",
    "mismatch": "framework: torch\ninput: [3, H, W]\nlayers:\n  - Conv2d: {in_channels: 4, out_channels: 8, "
                "kernel_size: 3}\n",
    "repeated": "framework: torch\ninput: [C, H, H]\nsymbols: {H: {min: 1}}\nlayers:\n"
                + "  - Conv2d: {out_channels: C, kernel_size: K, stride: S, padding: P}\n" * 3
                + "  - MaxPool2d: {kernel_size: 2}\n  - Flatten: {}\n  - Linear: {out_features: 10}\n",
    "transformer": (ROOT / "examples" / "transformer_block_keras.yaml").read_text(),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variants(name: str) -> None:
    v = _check(symshape.derive(VARIANTS[name], cache=False))
    assert bool(v.never_valid) == (name in ("small domain", "one symbol", "mismatch"))


def test_fuzzed_specs() -> None:
    checked = never = shown = 0
    for d in fuzzgen.derivations(1000, 700):
        v = _check(d)
        checked += 1
        never += bool(v.never_valid)
        shown += len(v.shown)
    assert checked >= 150 and never >= 10 and shown >= 300, (checked, never, shown)


# ---------------------------------------------------------------- implied_by_two alone, on random systems


def _random_forms(rng: random.Random, syms: list[Symbol], n: int, zeros: bool) -> list[Form | None]:
    forms: list[Form | None] = []
    for _ in range(n):
        if rng.random() < 0.1:
            forms.append(None)
            continue
        chosen = rng.sample(syms, min(len(syms), rng.choice([1, 1, 2, 2, 3, len(syms)])))
        coeffs = {s: rng.choice([-3, -2, -1, -1, 1, 1, 1, 2, 3, 4]) for s in chosen}
        if zeros and rng.random() < 0.2:
            coeffs[rng.choice(syms)] = 0  # (linear_form never writes one; implied_by_two must not mind)
        forms.append((coeffs, rng.randint(-6, 6)))
    return forms


def _random_box(rng: random.Random, syms: list[Symbol]) -> dict[Symbol, Bound]:
    box: dict[Symbol, Bound] = {}
    for s in syms:
        lo = rng.choice([-INF, 0, 1, rng.randint(-5, 5)])
        hi = rng.choice([INF, INF, lo + rng.randint(0, 9) if lo != -INF else rng.randint(-3, 9)])
        if rng.random() < 0.9:
            box[s] = (lo, hi)
    return box


@pytest.mark.parametrize("seed", range(4))
def test_implied_by_two_is_the_reference_s(seed: int) -> None:
    """Small systems (the work bound holds: pruned search) and large ones (past it: counted search, stopped at
    the limit), with and without zero coefficients."""
    rng = random.Random(seed)
    syms = [Symbol(f"s{k}", integer=True) for k in range(8)]
    dropped = limited = 0
    for _ in range(400):
        n = rng.choice([2, 3, 4, 5, 6, 8, 12, 16])
        forms = _random_forms(rng, syms[:rng.randint(1, 8)], n, rng.random() < 0.3)
        box = _random_box(rng, syms)
        domains = {s: b if rng.random() < 0.5 else (-INF, INF) for s, b in box.items()}
        got, want = implied_by_two(forms, box, domains), old_implied_by_two(forms, box, domains)
        assert got == want, (forms, box, domains)
        idx = [i for i, f in enumerate(forms) if f is not None]
        dropped += bool(got)
        limited += 2 <= len(idx) <= PAIR_MAX_COUNT and conditions._work_bound(forms, idx) > PAIR_MAX_WORK
    assert dropped > 40 and limited > 20, (dropped, limited)


def test_ratios_and_proofs_are_the_reference_s() -> None:
    """The multipliers (ints where integral) equal the reference's Fractions, in order; `_proves` is
    `_combination_lo >= 0` (Fraction multipliers too)."""
    rng = random.Random(7)
    syms = [Symbol(f"t{k}", integer=True) for k in range(8)]
    capped = 0
    for _ in range(2000):
        a = {s: rng.choice([-4, -3, -2, -1, 1, 2, 3, 5, 7, 0, Fraction(3, 2), Fraction(-7, 3)]) for s in
             rng.sample(syms, rng.randint(1, 8))}
        b = {s: rng.choice([-3, -2, -1, 1, 2, 4, 0]) for s in rng.sample(syms, rng.randint(1, 8))}
        got, want = conditions._ratios(a, b), _old_ratios(a, b)
        assert got == want and all(x == y for x, y in zip(got, want, strict=True))
        capped += len(want) == 6
        box = _random_box(rng, syms)
        j = ({s: rng.randint(-3, 3) for s in rng.sample(syms, 2)}, rng.randint(-5, 5))
        f = ({s: rng.randint(-3, 3) for s in rng.sample(syms, 2)}, rng.randint(-5, 5))
        h = ({s: rng.randint(-3, 3) for s in rng.sample(syms, 2)}, rng.randint(-5, 5))
        lam, mu = rng.choice(got), rng.choice([1, 2, Fraction(1, 3), Fraction(5, 2)])
        for premises in ([(lam, f)], [(lam, f), (mu, h)]):
            assert conditions._proves(j, premises, box) == (_old_combination_lo(j, [(Fraction(p), q) for p, q in premises],
                                                                               box) >= 0)
    for _ in range(300):  # many symbols shared with one sign: more than 6 candidates, cut
        a = {s: rng.randint(1, 9) for s in syms}
        b = {s: rng.randint(1, 9) for s in syms}
        got, want = conditions._ratios(a, b), _old_ratios(a, b)
        assert got == want
        capped += len(want) == 6
    assert capped > 200, capped  # (the candidates cut at 6)


def test_floor_bound_is_normalize_relation_s() -> None:
    """The quick normalization of floor(n/d) + c op k is normalize_relation's relation, node for node, wherever it
    answers (and it answers for the sizes of convolutions and pools)."""
    from symshape.algebra import FloorDiv, normalize_relation

    rng = random.Random(11)
    h, w, s = (Symbol(n, integer=True) for n in ("H", "W", "S"))
    numerators = [h - 1, h + 2 * w - 3, h, 2 * h + 4, h * w - 5, h - s, Integer(7) + h * s]
    answered = 0
    for _ in range(3000):
        n = rng.choice(numerators)
        d = rng.choice([Integer(rng.choice([1, 2, 3, 4, 7, 32, -2])), s, 2 * s, s * h, s**2])
        lhs = FloorDiv(n, d) + rng.choice([0, 0, 1, -1, 2, 5, -7])
        rhs = Integer(rng.choice([0, 1, 1, 2, -3, 10]))
        op = rng.choice([">=", ">", "<=", "<", "==", "!="])
        got = conditions._floor_bound(lhs, rhs, op)
        if got is None:
            continue
        answered += 1
        want = normalize_relation(sympy.Rel(lhs, rhs, op, evaluate=False))
        assert type(got) is type(want) and got == want and _text(got) == _text(want), (lhs, op, rhs, got, want)
    assert answered > 300


def _old_item(lhs: Expr, rhs: Expr, op: str) -> tuple:
    """What old_analyze's first loop made of a condition lhs op rhs (closed sides): (rel, g, op, constant)."""
    from symshape.algebra import normalize_relation

    constant = isinstance(lhs, Integer) and isinstance(rhs, Integer)
    rel = sympy.Rel(lhs, rhs, op, evaluate=False)
    if op == "==" and lhs == rhs:
        return rel, ZERO, "==", constant
    rel = normalize_relation(rel) if not constant else rel
    if isinstance(rel, Relational) and rel.rel_op in (">=", ">", "<=", "<"):
        rop = rel.rel_op
        g = rel.lhs - rel.rhs if rop in (">=", ">") else rel.rhs - rel.lhs
        g = g - 1 if rop in (">", "<") else g
        return rel, g, ">=", constant
    if isinstance(rel, Relational):
        return rel, rel.lhs - rel.rhs, rel.rel_op, constant
    return rel, None, "holds", True


def test_item_is_the_reference_s() -> None:
    """Each condition's relation, g, op and symbol range, with the quick normalizations and the ones skipped
    (s op k, equalities), on random sides."""
    from symshape.algebra import FloorDiv, normalize_relation

    rng = random.Random(5)
    h, w, s = (Symbol(n, integer=True) for n in ("H", "W", "S"))
    sides = [h, w, s, h - 1, 2 * h - w, FloorDiv(h - 1, 2) + 1, FloorDiv(h - w, s) + 1, FloorDiv(h, s * w) - 2,
             FloorDiv(h - 3, 4), 3 * FloorDiv(h, 2), FloorDiv(h, 2) + FloorDiv(w, 3), sympy.Max(h, w), h * w]
    numbers = [Integer(k) for k in (0, 1, 2, -1, 7, 64)]
    for _ in range(3000):
        lhs = rng.choice(sides + numbers)
        rhs = rng.choice(numbers + sides[:4])
        op = rng.choice([">=", ">", "<=", "<", "==", "!="])
        it = conditions._item(None, lhs, rhs, op, normalize_relation)
        rel, g, rop, constant = _old_item(lhs, rhs, op)
        assert (it.op, it.constant) == (rop, constant)
        assert type(it.rel) is type(rel) and it.rel == rel and _text(it.rel) == _text(rel), (lhs, op, rhs)
        assert type(it.g) is type(g) and it.g == g and _text(it.g) == _text(g), (lhs, op, rhs)
        assert it.lin == _old_symbol_range(_OldItem(None, rel, g, rop, constant))
