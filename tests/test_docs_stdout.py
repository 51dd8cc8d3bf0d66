"""`symshape docs SPEC --format F -o -` writes the document on standard output."""

import io
import os
from pathlib import Path

import pytest

from symshape.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(("fmt", "start"), [("markdown", "# Derivation of classic.yaml"), ("html", "<!DOCTYPE html>"),
                                            ("latex", "\\documentclass")])
def test_document_on_standard_output(tmp_path, fmt, start):
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(tmp_path)  # a document's figures go to the current directory
    try:
        code = main(["docs", str(EXAMPLES / "classic.yaml"), "--format", fmt, "-o", "-"], out=out)
    finally:
        os.chdir(cwd)
    assert code == 0
    assert out.getvalue().lstrip().startswith(start)
    assert not (tmp_path / "-").exists()


def test_standard_output_needs_a_format(capsys):
    assert main(["docs", str(EXAMPLES / "classic.yaml"), "-o", "-"], out=io.StringIO()) == 2
    assert "give --format" in capsys.readouterr().err
