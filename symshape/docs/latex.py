"""A document as a standalone LaTeX file (pdflatex: Debian's texlive-latex-base/recommended/extra and
lmodern), and the PDF made from it when a TeX is installed.

Nothing runs off the page: tables are `longtable`s of paragraph columns sized from their content
(they break across pages, their cells wrap), text is set ragged right, and long formulas are made
breakable. TeX breaks inline math only after a binary operator or a relation at the formula's outer
level, never inside a `\\left...\\right` pair or a `\\frac`; so in a long formula the `\\left`/`\\right`
delimiters become plain ones and a wide fraction becomes a slash, `a/b`, after which its sums can
break wherever a line ends. Long display formulas are set as displaystyle paragraphs, broken the same way.

Spec text (names, descriptions) is escaped character by character; the compiler runs with shell
escape off, in a temporary directory.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import SymshapeError
from .blocks import Bullets, Code, Document, Figure, Heading, Line, Link, Math, MathBlock, Para, Table, Text
from .formulas import group_digits

PDFLATEX_TIMEOUT = 300  # seconds for one pdflatex run (a 300-layer document takes a few)
SHORT_FRAC = 18  # a \frac whose numerator and denominator together are longer than this becomes a/b
LINE = 80  # characters of text on a line (11pt on A4 with 2 cm margins: about 95)

PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[a4paper,margin=2cm]{geometry}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\usepackage{lmodern}
\usepackage{textcomp}
\usepackage{amsmath,amssymb}
\usepackage{array,longtable,booktabs}
\usepackage{graphicx}
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.45\baselineskip}
\setlength{\emergencystretch}{4em}
\setlength{\LTpre}{0.3\baselineskip}
\setlength{\LTpost}{0.3\baselineskip}
\allowdisplaybreaks
\binoppenalty=200
\relpenalty=100
\hbadness=10000
\usepackage[hidelinks,bookmarksopen,bookmarksdepth=2]{hyperref}
\newcolumntype{L}[1]{>{\raggedright\arraybackslash}p{\dimexpr#1\linewidth-2\tabcolsep\relax}}
\newcolumntype{R}[1]{>{\raggedleft\arraybackslash}p{\dimexpr#1\linewidth-2\tabcolsep\relax}}
"""

_TEXT = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#", "%": r"\%",
         "_": r"\_\allowbreak{}", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}", "<": r"\textless{}",
         ">": r"\textgreater{}", "|": r"\textbar{}", '"': r"\textquotedbl{}", "\n": " ", "\r": " ", "\t": " ",
         "−": r"\textminus{}", "·": r"\textperiodcentered{}", "×": r"\texttimes{}", "…": r"\dots{}",
         "–": "--", "—": "---", "‘": "`", "’": "'", "'": r"\textquotesingle{}", "“": "``", "”": "''",
         "≥": r"$\geq$", "≤": r"$\leq$",
         "≠": r"$\neq$", "≡": r"$\equiv$", "→": r"$\to$", "←": r"$\leftarrow$", "∈": r"$\in$", "∞": r"$\infty$",
         "⌊": r"$\lfloor$", "⌋": r"$\rfloor$", "⌈": r"$\lceil$", "⌉": r"$\rceil$", "≈": r"$\approx$",
         "′": r"$'$", "²": r"\textsuperscript{2}", "³": r"\textsuperscript{3}", "°": r"\textdegree{}",
         "\u00a0": "~", "\u2061": "", "\u200b": ""}
_TEXT.update({chr(0x2080 + k): rf"\textsubscript{{{k}}}" for k in range(10)})
_TEXT.update({"ₖ": r"\textsubscript{k}", "ᵢ": r"\textsubscript{i}", "ₙ": r"\textsubscript{n}"})


def escape(s: str) -> str:
    """Any text as LaTeX that prints it: specials escaped, known symbols mapped, other characters that
    T1 with utf8 input cannot typeset shown as their code point."""
    out = []
    for c in s:
        m = _TEXT.get(c)
        if m is not None:
            out.append(m)
        elif " " <= c <= "~" or 0xA0 <= ord(c) <= 0xFF:  # ASCII, Latin-1: inputenc's utf8 knows them
            out.append(c)
        elif ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0:
            out.append(" ")
        else:
            out.append(rf"\texttt{{[U+{ord(c):04X}]}}")
    return "".join(out)


def _code(s: str) -> str:
    """Code as typewriter text that may break after _ . , = / (identifiers and argument lists are long)."""
    out = []
    for c in s:
        e = _TEXT.get(c) if c != "_" else r"\_"
        e = e if e is not None else escape(c)
        out.append(e + (r"\allowbreak{}" if c in "_.,=/:" else ""))
    return r"\texttt{" + "".join(out) + "}"


# ---------------------------------------------------------------- math that can break


def _group(s: str, i: int) -> tuple[str, int]:
    """The brace group starting at s[i] == '{': its content and the index after it."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "\\":
            continue
        if s[j] == "{" and (j == 0 or s[j - 1] != "\\"):
            depth += 1
        elif s[j] == "}" and s[j - 1] != "\\":
            depth -= 1
            if depth == 0:
                return s[i + 1:j], j + 1
    raise ValueError("unbalanced braces")


_ATOM = re.compile(r"-?[A-Za-z0-9.]+|[A-Za-z]_\{[A-Za-z0-9,]+\}|\\[a-zA-Z]+(_\{[A-Za-z0-9,]+\})?")


def _operand(s: str, denominator: bool) -> str:
    """A slash's operand, in parentheses unless it reads right without: a numerator without a sum, a
    denominator that is one symbol or number (a/(2 S), never a/2 S)."""
    if denominator:
        return s if _ATOM.fullmatch(s.strip()) else f"({s})"
    return f"({s})" if re.search(r"\+| - |^-|\\bmod", s) else s


def _fracs(s: str, short: int) -> str:
    """\\frac{a}{b} -> a/b (operands in parentheses) when a and b together are longer than `short`."""
    out, i = [], 0
    while i < len(s):
        if s.startswith(r"\frac", i) and i + 5 < len(s) and s[i + 5] == "{":
            num, j = _group(s, i + 5)
            den, k = _group(s, j)
            num, den = _fracs(num, short), _fracs(den, short)
            if len(num) + len(den) > short:
                out.append(f"{_operand(num, False)}/{_operand(den, True)}")
            else:
                out.append(rf"\frac{{{num}}}{{{den}}}")
            i = k
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


_DELIMS = [(r"\left\lfloor", r"\lfloor"), (r"\right\rfloor", r"\rfloor"), (r"\left\lceil", r"\lceil"),
           (r"\right\rceil", r"\rceil"), (r"\left(", "("), (r"\right)", ")"), (r"\left[", "["), (r"\right]", "]"),
           (r"\left\{", r"\{"), (r"\right\}", r"\}"), (r"\left|", "|"), (r"\right|", "|"), (r"\left.", ""),
           (r"\right.", "")]


def width(latex: str) -> float:
    """About how many characters wide a formula is when set (commands and braces do not count)."""
    core = re.sub(r"\\(left|right|frac|allowbreak)(?![a-zA-Z])", "", latex)
    core = re.sub(r"\\bmod", "mod   ", core)  # a word with space around it
    core = len(re.sub(r"[{}^_ ]", "", re.sub(r"\\[a-zA-Z]+", "x", core)))  # any other command: one symbol
    operators = len(re.findall(r" [-+=] |\\geq|\\leq", latex))  # with the space around them
    delimiters = len(re.findall(r"\\left|\\right", latex))
    return 0.9 * core + 1.5 * operators + 0.8 * delimiters


def breakable(latex: str, room: float = LINE, short: int = SHORT_FRAC) -> str:
    """LaTeX math that TeX can break across lines (see the module's docstring); a formula that fits in
    `room` characters keeps its \\left/\\right delimiters and fractions."""
    latex = group_digits(latex)
    if width(latex) <= room:
        return latex
    try:
        latex = _fracs(latex, short)
    except ValueError:  # not ours (a fallback printer's output): leave it whole
        return latex
    for a, b in _DELIMS:
        latex = latex.replace(a, b)
    latex = latex.replace(", ", r",\allowbreak ").replace("; ", r";\allowbreak ").replace("{,}", r"{,}\allowbreak ")
    return _products(latex)


_OPERATORS = {"+", "-", "=", "/", r"\geq", r"\leq", r"\neq", r"\bmod", r"\cdot", r"\allowbreak", ",", ";"}


def _factor(tok: str) -> bool:
    """Not an operator, and not a command opening something (\\lfloor): what may end or start a factor."""
    return bool(tok) and tok not in _OPERATORS and not (tok.startswith("\\") and not tok.endswith(("}", ")")))


def _products(latex: str) -> str:
    """A break allowed between the factors of a product (S_{0} S_{1} ... S_{39}: no operator to break at)."""
    tokens = latex.split(" ")
    out = [tokens[0]]
    for prev, tok in zip(tokens, tokens[1:], strict=False):
        factor = _factor(prev) and _factor(tok) and not tok.startswith((")", "]", r"\rfloor", r"\rceil", r"\right"))
        factor = factor and not prev.endswith(("(", "[", ",", "allowbreak")) and not prev.replace("{,}", "").isdigit()
        out.append(r"\allowbreak " + tok if factor else tok)
    return " ".join(out)


def _inline(content: Line, room: float = LINE) -> str:
    parts = []
    for p in content:
        if isinstance(p, Math):
            parts.append(f"${breakable(p.latex, room)}$")
        elif isinstance(p, Code):
            parts.append(_code(p.text))
        elif isinstance(p, Link):
            parts.append(rf"\hyperref[{_label(p.anchor)}]{{{escape(p.text)}}}")
        elif isinstance(p, Text):
            text = _DIGIT_GROUP.sub(r",\\allowbreak{}", escape(p.text))  # 10^30 may break between groups
            parts.append(_LONG_DIGITS.sub(lambda m: r"\allowbreak{}".join(re.findall(r"\d{1,6}", m.group(0))), text))
    return "".join(parts)


_DIGIT_GROUP = re.compile(r"(?<=\d),(?=\d{3})")
_LONG_DIGITS = re.compile(r"\d{13,}")  # a number without separators (a shape's size): breakable every 6 digits


def _label(anchor: str) -> str:
    """A heading's anchor as a LaTeX label (our own anchors: letters, digits and hyphens)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", anchor)


def _visible(cell: Line) -> float:
    """About how many characters wide a cell is, set on one line."""
    return sum(width(p.latex) if isinstance(p, Math) else len(p.text) for p in cell)


def _unbreakable(cell: Line) -> float:
    """About how many characters wide the cell's longest piece that cannot break is."""
    longest = 0.0
    for p in cell:
        if isinstance(p, Math):
            pieces = re.split(r" [+=-] |, |\\geq|\\leq", p.latex) if width(p.latex) > 24 else [p.latex]
            longest = max([longest] + [1.35 * width(x) for x in pieces])
        else:
            longest = max([longest] + [len(w) for w in re.split(r"[\s_.,=/:]", p.text)])
    return longest


def _shares(t: Table, chars: float) -> list[float]:
    """Each column's share of the line: from its content, and never narrower than its longest word."""
    widths, least = [], []
    for k, h in enumerate(t.header):
        longest = max([len(h)] + [_visible(row[k]) for row in t.rows])
        widths.append(max(4.0, min(longest, 70.0)) ** 0.85)
        word = max([max(len(w) for w in h.split()) * 1.3] + [_unbreakable(row[k]) for row in t.rows])
        least.append((min(word, 40.0) + 3.5) / (LINE * chars))  # and the padding (2 tabcolsep)
    floor = sum(least)
    if floor >= 0.995:  # the longest words alone fill the line: share it by them
        shares = [x / floor * 0.995 for x in least]
    else:  # every column gets its longest word, the rest of the line goes by content
        total = sum(widths)
        shares = [low + (0.995 - floor) * w / total for w, low in zip(widths, least, strict=True)]
    return [int(s * 1000) / 1000 for s in shares]


def _table(t: Table) -> list[str]:
    size, chars = (r"\footnotesize", 1.3) if len(t.header) > 4 else (r"\small", 1.1)
    shares = _shares(t, chars)
    spec = "".join(f"{'R' if k in t.numeric else 'L'}{{{s:.3f}}}" for k, s in enumerate(shares))
    head = " & ".join(rf"\textbf{{{escape(h)}}}" for h in t.header) + r" \\"
    out = ["{" + size + r"\setlength{\tabcolsep}{3pt}", rf"\begin{{longtable}}{{{spec}}}", r"\toprule",
           head, r"\midrule", r"\endfirsthead", head, r"\midrule", r"\endhead"]
    out += [" & ".join(_inline(c, s * LINE * chars - 2) for c, s in zip(row, shares, strict=True)) + r" \\"
            for row in t.rows]
    out += [r"\bottomrule", r"\end{longtable}}"]
    return out


def _display(latex: str) -> list[str]:
    tex = breakable(latex)
    if tex == group_digits(latex):  # it fits: one centred line
        return [r"\[", tex, r"\]"]
    return [r"\begin{flushleft}", rf"$\displaystyle {tex}$", r"\end{flushleft}"]


def longtable(t: Table) -> list[str]:
    """A table as a `longtable` of paragraph columns sized from its content (breaks across pages, cells wrap)."""
    return _table(t)


def display(latex: str) -> list[str]:
    """A display formula: one centred line when it fits, else a displaystyle paragraph TeX may break."""
    return _display(latex)


def standalone(body: str, title: str = "") -> str:
    """`body` (LaTeX made with this module's helpers) as a standalone document pdflatex compiles."""
    head = [rf"{{\Large\bfseries {escape(title)}\par}}", r"\medskip"] if title else []
    return "\n".join([PREAMBLE.rstrip("\n"), r"\begin{document}", r"\raggedright", *head, body.rstrip("\n"),
                      r"\end{document}", ""])


def figure_file(doc_stem: str, fig: Figure) -> str:
    """The PDF file a LaTeX document includes for `fig`: `<stem>-<key>.pdf`."""
    return f"{doc_stem}-{fig.key}.pdf"


def render(doc: Document, stem: str = "model") -> tuple[str, dict[str, bytes]]:
    """The LaTeX source and the figures it includes ({file name: PDF bytes}, to be put beside it)."""
    out = [PREAMBLE, rf"\title{{{escape(doc.title)}}}", r"\date{}", r"\begin{document}", r"\raggedright"]
    files: dict[str, bytes] = {}
    levels = {1: "section*", 2: "section", 3: "subsection"}
    for b in doc.blocks:
        if isinstance(b, Heading):
            if b.level == 1:
                out += [rf"{{\LARGE\bfseries {escape(b.text)}\par}}", r"\medskip"]
            else:  # unnumbered, in the PDF's bookmarks, a target for the contents' links
                kind = levels.get(b.level, "subsubsection")
                out.append(rf"\{kind}*{{{escape(b.text)}}}")
                out.append(rf"\addcontentsline{{toc}}{{{kind}}}{{{escape(b.text)}}}")
                if b.anchor:
                    out.append(rf"\label{{{_label(b.anchor)}}}")
        elif isinstance(b, Para):
            out += [_inline(b.content), ""]
        elif isinstance(b, Bullets):
            out += [r"\begin{itemize}"] + [rf"\item {_inline(item)}" for item in b.items] + [r"\end{itemize}"]
        elif isinstance(b, MathBlock):
            out += _display(b.latex)
        elif isinstance(b, Table):
            out += _table(b)
        elif isinstance(b, Figure):
            name = figure_file(stem, b)
            files[name] = b.data("pdf")
            tall = 0.88 if b.key == "graph" else 0.8  # a graph is tall: the page's height is its limit
            out += [r"\begin{center}",
                    rf"\includegraphics[width=\linewidth,height={tall}\textheight,keepaspectratio]{{{name}}}\par",
                    rf"{{\small {escape(b.caption)}\par}}", r"\end{center}"]
    out += [r"\end{document}", ""]
    return "\n".join(out), files


# ---------------------------------------------------------------- PDF


def pdflatex() -> str:
    path = shutil.which("pdflatex")
    if path is None:
        raise SymshapeError("PDF needs a TeX: pdflatex is not installed (Debian: apt-get install "
                            "texlive-latex-base texlive-latex-recommended texlive-latex-extra lmodern); "
                            "write .tex instead")
    return path


def compile_pdf(tex: str, files: dict[str, bytes], runs: int = 3) -> tuple[bytes, str]:
    """The PDF of a LaTeX document (its figures beside it) and pdflatex's log: pdflatex in a temporary
    directory, shell escape off, run again while it asks to (longtable's column widths)."""
    exe = pdflatex()
    with tempfile.TemporaryDirectory(prefix="symshape-tex-") as tmp:
        root = Path(tmp)
        (root / "doc.tex").write_text(tex, encoding="utf-8")
        for name, data in files.items():
            (root / name).write_bytes(data)
        log = ""
        for _ in range(runs):
            try:
                subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "doc.tex"],
                               cwd=root, capture_output=True, timeout=PDFLATEX_TIMEOUT, check=False,
                               stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise SymshapeError(f"pdflatex took more than {PDFLATEX_TIMEOUT} s") from None
            log_path = root / "doc.log"
            log = log_path.read_text(encoding="latin-1") if log_path.exists() else ""
            pdf = root / "doc.pdf"
            if not pdf.exists() or "\n! " in log:
                first = next((ln for ln in log.splitlines() if ln.startswith("! ")), "no PDF written")
                raise SymshapeError(f"pdflatex failed: {first[2:] if first.startswith('! ') else first}")
            if "Rerun LaTeX" not in log and "Rerun to get" not in log:
                break
        return pdf.read_bytes(), log


def overfull(log: str) -> list[float]:
    """The overfull boxes pdflatex reported, in points (how far each runs past its line)."""
    return [float(m) for m in re.findall(r"Overfull \\[hv]box \((\d+(?:\.\d+)?)pt too", log)]
