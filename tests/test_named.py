"""Named sizes (symshape.named): deep all-symbolic networks stay linear in size in to_dict and every view, the
names evaluate to the library's numbers, closed forms come on request, and small networks are unchanged."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import sympy

import symshape
from symshape.named import MAX_CLOSED_SYMBOLS
from symshape.portable import evaluate_graph, expression_graph
from symshape.report import derivation_report
from symshape.views import derivation_html

EXAMPLES = Path(__file__).parent.parent / "examples"


def chain(n: int, tag: str = "") -> dict:
    layers = [{"Conv2d": {"out_channels": f"D{k}{tag}", "kernel_size": f"F{k}{tag}", "stride": f"S{k}{tag}",
                          "padding": f"P{k}{tag}"}} for k in range(n)]
    return {"framework": "torch", "input": [f"C{tag}", f"H{tag}", f"W{tag}"], "layers": layers}


def values(n: int, rng: random.Random, tag: str = "") -> dict[str, int]:
    out = {f"C{tag}": rng.randint(1, 4), f"H{tag}": rng.randint(200, 4000), f"W{tag}": rng.randint(200, 4000)}
    for k in range(n):
        out.update({f"D{k}{tag}": rng.randint(1, 5), f"F{k}{tag}": rng.randint(1, 3), f"S{k}{tag}": 1,
                    f"P{k}{tag}": rng.randint(0, 1)})
    return out


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_examples_are_shown_in_closed_form(name: str) -> None:
    """Every example is fed by few symbols: nothing named, to_dict as before (the same as closed_forms=True)."""
    d = symshape.derive(EXAMPLES / name)
    assert not d.size_names.deep
    out = d.to_dict()
    assert "sizes" not in out
    if not out["never_valid"]:
        assert out == d.to_dict(closed_forms=True)


def test_a_chain_is_named_past_the_symbol_budget() -> None:
    d = symshape.derive(chain(12, "_a"))
    names = d.size_names
    assert names.deep
    fed = [names.feeds[a] for shape in (ly.output_shape for ly in d.layers) for a in shape[1:]]
    first_named = next(i for i, f in enumerate(fed) if f is None)
    assert all(len(f) <= MAX_CLOSED_SYMBOLS for f in fed[:first_named])  # closed while few symbols feed them
    out = d.to_dict()
    assert out["layers"][-1]["output_shape"] == ["D11_a", "x_23", "x_24"]
    assert out["sizes"][-2] == {"name": "x_23", "layer": 11, "output": 0, "axis": 1,
                                "definition": "floor((x_21 - F11_a + 2*P11_a)/S11_a) + 1"}
    assert out["layers"][0]["output_shape"] == d.to_dict(closed_forms=True)["layers"][0]["output_shape"]


@pytest.mark.parametrize("seed", range(5))
def test_named_sizes_evaluate_to_the_library_s_numbers(seed: int) -> None:
    """Sampled: each size from its definition in order, then every layer's shown sizes and counts."""
    rng = random.Random(seed)
    n = 14
    d = symshape.derive(chain(n, "_b"))
    bound = values(n, rng, "_b")
    e = d.evaluate(bound)
    names = d.size_names
    env = dict(bound)
    for s in names.definitions():
        env[s.name.name] = evaluate_graph(expression_graph(names.named(s.definition)), env)
    for ly, got in zip(d.layers, e.layers, strict=True):
        shape = [evaluate_graph(expression_graph(names.show(x)), env) for x in ly.output_shape]
        assert shape == list(got.output_shape)
        assert evaluate_graph(expression_graph(names.show(ly.macs)), env) == got.macs
    rels = [rel for _, rel in d.constraints()]
    assert all(evaluate_graph(expression_graph(r), env) == 1 for r in rels) == e.valid


def test_views_and_to_dict_are_linear_in_depth() -> None:
    """Bytes of to_dict and of the text views roughly double with the depth (they were quadratic)."""
    sizes = {}
    for n in (60, 120):
        d = symshape.derive(chain(n, f"_c{n}"), cache=False)
        sizes[n] = [len(json.dumps(d.to_dict())), len(derivation_report(d, "table")),
                    len(derivation_report(d, "markdown")), len(derivation_report(d, "latex")), len(derivation_html(d))]
    for small, big in zip(sizes[60], sizes[120], strict=True):
        assert big < 2.3 * small, sizes


def test_constraints_of_a_deep_chain_are_named_and_equivalent() -> None:
    from symshape.render import text

    d = symshape.derive(chain(40, "_d"))
    shown = [text(rel) for _, rel in d.constraints()]
    assert "x_77 - F39_d + 2*P39_d >= 0" in shown  # layer 39's height condition on layer 38's named height
    assert all(len(s) < 400 for s in shown)  # (closed forms of up to 16 symbols first, then names)
    assert not any(isinstance(a, sympy.Dummy) for _, rel in d.constraints() for a in rel.free_symbols)


def test_views_show_the_sizes() -> None:
    d = symshape.derive(chain(10, "_e"))
    table = derivation_report(d, "table")
    assert "Sizes (each layer's, in terms of the sizes before it):" in table
    assert "  x_19 = floor((x_17 - F9_e + 2*P9_e)/S9_e) + 1    [layer 9 'conv2d_9' (Conv2d) output 0 axis 1]" in table
    md = derivation_report(d, "markdown")
    assert "**Sizes**" in md and "- $x_{19} = " in md
    assert "x_{19} &= " in derivation_report(d, "latex")


def test_closed_forms_on_request_everywhere(tmp_path: Path) -> None:
    """to_dict(closed_forms=True), derivation_report(closed_forms=True) and `derive --closed-forms`: no names."""
    import subprocess
    import sys

    spec = chain(9, "_f")
    d = symshape.derive(spec)
    out = d.to_dict(closed_forms=True)
    assert "sizes" not in out and "x_" not in json.dumps(out)
    assert "x_" not in derivation_report(d, "table", closed_forms=True)
    e = d.evaluate(values(9, random.Random(3), "_f"))
    env = dict(e.bindings)
    rels = [rel for _, rel in d.constraints(closed_forms=True)]
    assert all(evaluate_graph(expression_graph(r), env) == 1 for r in rels) == e.valid
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(spec))
    named = subprocess.run([sys.executable, "-m", "symshape", "derive", str(path)], capture_output=True, text=True)
    closed = subprocess.run([sys.executable, "-m", "symshape", "derive", str(path), "--closed-forms"],
                            capture_output=True, text=True)
    assert named.returncode == closed.returncode == 0
    assert "Sizes (each layer's" in named.stdout and "x_" not in closed.stdout
