"""`symshape sweep --format parquet`: the same rows as CSV, written as they are found, rows past int64 exact."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from symshape.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CLASSIC = str(EXAMPLES / "classic_symbolic.yaml")

GRIDS = [  # grid, where, --all
    (["I=1:301", "F=1:8", "S=1:4", "P=0:3", "D=8"], [], False),
    (["I=1:301", "F=1:8", "S=1:4", "P=0:3", "D=8"], ["params <= 300 and (out0 >= 14 or not S == 1)"], False),
    (["I=1:40", "F=1,3", "S=0:3", "P=0", "D=4,8"], [], True),
    (["I=9223372036854775807,32", "F=1", "S=1", "P=0", "D=1,5"], [], False),  # MACs past int64
]


def _csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as f:
        header, *rows = list(csv.reader(f))
    return header, rows


@pytest.mark.parametrize(("grid", "where", "everything"), GRIDS)
def test_parquet_rows_equal_csv_rows(tmp_path: Path, grid: list[str], where: list[str], everything: bool,
                                     capsys: pytest.CaptureFixture) -> None:
    argv = ["sweep", CLASSIC, *(a for g in grid for a in ("--grid", g)), *(a for w in where for a in ("--where", w))]
    argv += ["--all"] if everything else []
    assert main([*argv, "-o", str(tmp_path / "rows.csv")]) == 0
    assert main([*argv, "--format", "parquet", "-o", str(tmp_path / "rows.parquet")]) == 0
    assert "combinations kept -> " in capsys.readouterr().err
    header, rows = _csv_rows(tmp_path / "rows.csv")
    table = pq.read_table(tmp_path / "rows.parquet")
    assert table.schema.names == [*header, "exact"]
    assert str(table.schema.field("valid").type) == "bool"
    got = []
    for rec in table.to_pylist():
        if rec["exact"] is not None:  # a row past int64: its exact values as CSV text; only what does not fit null
            exact = rec["exact"].split(",")
            for h, v in zip(header[:-1], exact, strict=False):
                fits = -(2**63) <= int(v) <= 2**63 - 1
                assert rec[h] == (int(v) if fits else None), h  # (review13 #6) the inputs are kept
            assert any(rec[h] is None for h in header[:-1])
            got.append(exact)
        else:
            got.append([str(int(rec[h])) for h in header])
    assert got == rows
    assert len(rows) > 0


def test_parquet_needs_a_file(capsys: pytest.CaptureFixture) -> None:
    assert main(["sweep", CLASSIC, "--grid", "I=32", "--grid", "F=3", "--grid", "S=1", "--grid", "P=0", "--grid",
                 "D=4", "--format", "parquet"]) == 2
    assert "give -o FILE" in capsys.readouterr().err


def test_parquet_is_written_in_row_groups_as_it_goes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import symshape.sweep

    monkeypatch.setattr(symshape.sweep, "PARQUET_ROWS", 10_000)
    assert main(["sweep", CLASSIC, "--grid", "I=1:1001", "--grid", "F=1:11", "--grid", "S=1:4", "--grid", "P=0:3",
                 "--grid", "D=8", "--format", "parquet", "-o", str(tmp_path / "r.parquet")]) == 0
    meta = pq.ParquetFile(tmp_path / "r.parquet").metadata
    assert meta.num_row_groups > 3
    assert all(meta.row_group(i).num_rows < 10_000 + (1 << 18) for i in range(meta.num_row_groups))
