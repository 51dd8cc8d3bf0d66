"""The document's sentences read right in the edge cases: one symbol, an example invalid because of a given value."""

from __future__ import annotations

import symshape

ONE = {"framework": "torch", "input": [3, "H"], "symbols": {"H": {"min": 1}},
       "layers": [{"Conv1d": {"out_channels": 4, "kernel_size": 3}}]}
SKIP = {"framework": "torch", "input": [3, "H", "W"], "symbols": {"H": {"min": 1}, "W": {"min": 1}},
        "layers": [{"MaxPool2d": {"kernel_size": 2}, "name": "p"}, {"Upsample": {"scale_factor": 2}, "name": "u"},
                   {"cat": {"dim": 1}, "inputs": ["input", "u"]}]}


def test_valid_set_of_the_only_symbol_has_no_empty_with() -> None:
    text = str(symshape.document(ONE, format="markdown"))
    assert "The exact set of valid H: `H ≥ 3`" in text
    assert "With ," not in text


def test_no_example_names_the_given_value_and_the_condition_it_fails() -> None:
    text = str(symshape.document(SKIP, format="markdown", example={"H": 63}))
    assert "no value of W up to 4096 makes the network valid with H = 63" in text
    assert "It fails whatever W is: layer 2 'cat' (cat): axis 1 of the concatenated inputs 62 != 63 at H=63" in text
    assert "give other example values" in text and "--example" not in text


def test_invalid_example_says_which_values_it_fails_at() -> None:
    text = str(symshape.document(SKIP, format="markdown", example={"H": 63, "W": 8}))
    assert "Invalid: 1 violated condition, failing at H = 63 (give other example values for a valid network):" in text
    assert "--example" not in text


def test_the_naming_sentence_only_where_layers_make_new_sizes() -> None:
    """'Each layer's new sizes are named x_k' only when some layer makes a named size (a strided convolution
    does; an embedding and linear layers that keep theirs do not, and no x_k appears then)."""
    makes = "framework: torch\ninput: [3, H]\nlayers:\n  - Conv1d: {out_channels: 4, kernel_size: K, stride: S}\n"
    keeps = "framework: torch\ninput: [L]\nlayers:\n  - Embedding: {num_embeddings: 9, embedding_dim: E}\n" \
            "  - Linear: {in_features: E, out_features: 3}\n"
    text = str(symshape.document(makes, format="markdown"))
    assert "new sizes are named" in text and "x_{1}" in text
    text = str(symshape.document(keeps, format="markdown"))
    assert "new sizes are named" not in text and "x_{" not in text
