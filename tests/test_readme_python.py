"""The README's Python API sample runs as printed, and its comments state what it returns."""

from .readme_sample import run_readme_sample


def test_python_api_sample_runs_and_says_what_it_returns():
    scope = run_readme_sample("## Python API", "Python API")
    d, s, u = scope["d"], scope["s"], scope["u"]
    assert d.params == 25557032 and d.closed_form == (1000,)
    assert repr(d).startswith("<Derivation torch") and len(repr(d)) < 200
    assert s.evaluate(I=8, F=7, S=2, P=0, D=4).violations[0].message == (
        "layer 1 'max_pooling2d' (MaxPooling2D): output height 0 < 1 at I=8, F=7, S=2, P=0")
    assert str(u) == "H ≥ 8 and H ≡ 0 (mod 8)"
    assert (u.contains(570), u.nearest(570), u.first(3)) == (False, (568, 576), [8, 16, 24])
    assert s.solve("I", {"F": 5, "S": 2, "P": 0, "D": 8}, target={0: 10}).text() == "43 ≤ I ≤ 46"
    assert s.solve("I", {"F": 2, "S": 2, "P": 0, "D": 8}, lossless=True).text() == "I ≥ 4 and I ≡ 0 (mod 4)"
    assert not scope["batch"].overflow.any()
