"""The cost table torchinfo users recognise, and the cost as plain data.

Per layer: name, kind, output shape (the batch where the framework puts it: `symshape.layout`), parameters,
their share, FLOPs under the convention, and the activation bytes the layer keeps for backward; then the totals
and the memory breakdown. Numbers
in human units (1.81 G FLOPs, 87.1 MB; decimal, as torchinfo) with exact values in ``to_dict``; without
bindings the cells are formulas. ``depth`` folds layers by name prefix (depth 2: ``layer1.0.conv1`` ->
``layer1.0``), summing their numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import BindingError, did_you_mean

if TYPE_CHECKING:
    from . import Cost, CostValues

__all__ = ["COLUMNS", "cost_dict", "cost_table", "derive_columns", "human", "human_bytes"]

COLUMNS = ("kind", "output_shape", "params", "params_pct", "flops", "backward", "saved")
DEFAULT_COLUMNS = ("kind", "output_shape", "params", "params_pct", "flops", "saved")
HEADERS = {"kind": "Kind", "output_shape": "Output Shape", "params": "Param #", "params_pct": "Param %",
           "flops": "FLOPs", "backward": "Backward FLOPs", "saved": "Saved for backward"}
NUMERIC = {"params", "params_pct", "flops", "backward", "saved"}
FORMULA_WIDTH = 40
SUMMARY_WIDTH = 400


def human(n: int | None, unit: str = "") -> str:
    """1810000000 -> '1.81 G' (three significant digits, decimal prefixes)."""
    if n is None:
        return "undefined"
    if abs(n) < 1000:
        return f"{n}{' ' + unit if unit else ''}"
    for k, prefix in enumerate("kMGTPEZY", start=1):
        scaled = n / 1000**k
        if abs(scaled) < 999.5 or prefix == "Y":
            digits = 2 if abs(scaled) < 9.995 else 1 if abs(scaled) < 99.95 else 0
            return f"{scaled:.{digits}f} {prefix}{unit}"
    return str(n)


def human_bytes(n: int | None) -> str:
    if n is None:
        return "undefined"
    return human(n, "B") if abs(n) >= 1000 else f"{n} B"


def _columns(columns: Sequence[str] | None) -> tuple[str, ...]:
    if columns is None:
        return DEFAULT_COLUMNS
    out = []
    for c in columns:
        if c not in COLUMNS:
            raise BindingError(f"unknown column '{c}'{did_you_mean(c, COLUMNS)}; one of {', '.join(COLUMNS)}")
        out.append(c)
    return tuple(out)


def _group(name: str, depth: int | None) -> str:
    if depth is None:
        return name
    parts = name.split(".")
    return ".".join(parts[: max(depth, 1)])


def _fold(c: Cost, values: CostValues | None, depth: int | None) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for k, ly in enumerate(c.layers):
        key = _group(ly.name, depth)
        v = values.layers[k] if values is not None else None
        row = rows.get(key)
        cells = {"params": ly.params, "flops": ly.forward_flops, "backward": ly.backward_flops, "saved": ly.saved_bytes}
        if v is not None:
            cells = {"params": v["params"], "flops": v["forward_flops"], "backward": v["backward_flops"],
                     "saved": v["saved_bytes"]}
        shape = v["output_shape"] if v is not None else list(ly.output_shape)
        if row is None:
            rows[key] = {"name": key, "kind": ly.kind, "output_shape": shape, "members": 1, **cells}
        else:
            row["members"] += 1
            row["kind"] = "" if row["kind"] != ly.kind else row["kind"]
            row["output_shape"] = shape
            for q, x in cells.items():
                row[q] = None if row[q] is None or x is None else row[q] + x
    return list(rows.values())


def _text(e: Any, c: Cost, width: int = FORMULA_WIDTH, total: bool = False, bindings: Any = None) -> str:
    """A formula in closed form (a total multiplied out when small: like terms merged), with the symbols
    in `bindings` (a partial binding) replaced by their values."""
    from ..render import text

    d = c.derivation
    if isinstance(e, int):
        s = str(e)
    else:
        e = c.substitute(d.normal_form(e) if total else d.collapse(e), bindings)
        s = text(d.normal_form(e) if total and bindings else e)
    return s if len(s) <= width else s[: width - 3] + "..."


def cost_table(c: Cost, values: CostValues | None = None, *, depth: int | None = None,
               columns: Sequence[str] | None = None, bindings: dict[str, int] | None = None) -> str:
    """The table as text (values None: formulas in the symbols, those in `bindings` replaced by their values)."""
    sub = bindings if values is None and bindings else None
    cols = _columns(columns)
    rows = _fold(c, values, depth)
    params_total = sum(r["params"] for r in rows) if values is not None else None
    pct: dict[str, int] = {}
    if values is None and "params_pct" in cols:  # parameters rarely depend on the batch: a share when numbers
        counts = [c.substitute(c.derivation.collapse(r["params"]), sub) for r in rows]
        if all(getattr(x, "is_Integer", False) for x in counts):
            pct = dict(zip([r["name"] for r in rows], [int(x) for x in counts], strict=True))
            params_total = sum(pct.values())
    # the column says what it counts: MACs under the default convention (multiply-adds), FLOPs otherwise
    unit = "MACs" if c.convention.name == "symshape" else "FLOPs"
    headers = {**HEADERS, "flops": unit, "backward": f"Backward {unit}"}
    header = ["Layer", *(headers[k] for k in cols)]
    body = []
    for r in rows:
        name = r["name"] + (f" ({r['members']} layers)" if r["members"] > 1 else "")
        cells = [name]
        for k in cols:
            if k == "kind":
                cells.append(r["kind"] or "·")
            elif k == "output_shape":
                shape = r["output_shape"]
                cells.append("(" + ", ".join(str(s) if isinstance(s, int) else _text(s, c, bindings=sub)
                                             for s in shape) + ")")
            elif values is None and k == "params_pct":
                p = pct.get(r["name"]) if params_total else None
                cells.append(f"{100 * p / params_total:.2f}%" if p is not None else "")
            elif values is None:
                cells.append("" if k == "params_pct" else _text(r[k if k != "params_pct" else "params"], c,
                                                                bindings=sub))
            elif k == "params_pct":
                p = r["params"]
                cells.append(f"{100 * p / params_total:.2f}%" if params_total and p is not None else "--")
            elif k == "params":
                cells.append(f"{r['params']:,}" if r["params"] is not None else "undefined")
            elif k == "saved":
                cells.append(human_bytes(r["saved"]))
            else:
                cells.append(human(r[k]))
        body.append(cells)
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    numeric = [False, *(k in NUMERIC for k in cols)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric, strict=True)
                         ).rstrip()

    rule = "=" * len(line(header))
    out = [rule, line(header), rule, *(line(b) for b in body), rule]
    out += _summary(c, values, sub)
    return "\n".join(out)


def _summary(c: Cost, values: CostValues | None, sub: dict[str, int] | None) -> list[str]:
    conv = c.convention
    lines = [f"FLOPs: {conv.name} ({conv.describe()})"]
    lines += [f"Note: {note}" for note in c.notes]
    if conv.per_sample:
        lines.append("  (per sample: the batch does not enter this convention)")
    labels = [("forward_flops", "Forward FLOPs"), ("backward_flops", "Backward FLOPs"),
              ("train_flops", "Forward + backward")]
    mem = [("params_bytes", f"Parameters ({c.dtype.name})"), ("grads_bytes", "Gradients"),
           ("optimizer_bytes", f"Optimizer state ({c.optimizer})"), ("buffers_bytes", "Buffers"),
           ("activations_bytes", "Activations saved for backward" + (" (checkpointed)" if c.checkpoint else "")),
           ("total_bytes", "Total to train" if c.mode == "train" else "Total (eval)")]
    if values is None:
        for key, label in labels:
            lines.append(f"{label}: {_text(c.totals[key], c, SUMMARY_WIDTH, total=True, bindings=sub)}")
        bound = ", ".join(f"{k}={v}" for k, v in (sub or {}).items())
        lines.append(f"Memory in bytes at batch {c.batch} ({c.mode}{'; ' + bound if bound else ''}):")
        for key, label in mem:
            lines.append(f"  {label}: {_text(c.totals[key], c, SUMMARY_WIDTH, total=True, bindings=sub)}")
        return lines
    t = values.totals
    for key, label in labels:
        lines.append(f"{label}: {human(t[key])} ({t[key]:,})" if t[key] is not None else f"{label}: undefined")
    batch = values.bindings.get(str(c.batch), c.batch)
    bound = ", ".join(f"{k}={v}" for k, v in values.bindings.items() if k != str(c.batch))
    lines.append(f"Memory at batch {batch} ({c.mode}{'; ' + bound if bound else ''}):")
    for key, label in mem:
        lines.append(f"  {label}: {human_bytes(t[key])} ({t[key]:,} bytes)" if t[key] is not None
                     else f"  {label}: undefined")
    if not t.get("valid", True):
        lines.append("Not valid at these values:")
        lines += [f"  {v}" for v in t.get("violations", [])[:10]]
    return lines


def cost_dict(c: Cost) -> dict[str, Any]:
    from ..render import text

    return {
        "batch": text(c.batch), "mode": c.mode, "dtype": c.dtype.name, "optimizer": c.optimizer,
        "flops": {"convention": c.convention.name, "description": c.convention.describe()},
        "checkpoint": c.checkpoint, "notes": list(c.notes),
        "totals": {k: text(c.derivation.normal_form(v)) for k, v in c.totals.items()},
        "layers": [{"index": ly.index, "name": ly.name, "kind": ly.kind,
                    "output_shape": [text(c.derivation.collapse(s)) for s in ly.output_shape],
                    "params": text(c.derivation.collapse(ly.params)),
                    "forward_flops": text(c.derivation.collapse(ly.forward_flops)),
                    "backward_flops": text(c.derivation.collapse(ly.backward_flops)),
                    "saved_bytes": text(c.derivation.collapse(ly.saved_bytes)), "keeps": list(ly.keeps)}
                   for ly in c.layers],
    }


DERIVE_COLUMNS = {"flops": ("FLOPs", "forward_flops"), "backward": ("Backward FLOPs", "backward_flops"),
                  "saved": ("Saved bytes", "saved_bytes")}


def derive_columns(d: Any, columns: Sequence[str], **options: Any) -> dict[str, list[str]]:
    """`symshape derive --columns flops,saved`: header -> each layer's cost formula (closed form, as text)."""
    from ..render import text

    for col in columns:
        if col not in DERIVE_COLUMNS:
            raise BindingError(f"unknown column '{col}'{did_you_mean(col, DERIVE_COLUMNS)}; derive adds "
                               f"{', '.join(DERIVE_COLUMNS)}")
    c = d.cost(**{k: v for k, v in options.items() if v is not None})
    show = d.size_names.show if hasattr(d, "size_names") else d.collapse
    out: dict[str, list[str]] = {}
    for col in columns:
        header, attr = DERIVE_COLUMNS[col]
        out[header] = [text(show(getattr(ly, attr))) for ly in c.layers]
    return out
