"""The page builder of every derivation: statement, steps, checks and results, as Markdown.

A derivation is a function that builds a `Derivation`: it states the setting, shows each step as
LaTeX (`sympy.latex`), *checks* each claim as it goes and records its results. A check is honest:
`check_equal` reduces `lhs − rhs` with a stated method and raises `VerificationError` unless the
result is exactly the integer 0 (for matrices: every entry); `check_numeric` raises unless a
measured error is finite and within its tolerance. So a page exists only if all its checks pass.

The page text depends only on the derivation (no dates, no timings, no machine details), so
`python -m derivations --check` can compare it with the committed file byte for byte.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import sympy as sp

__all__ = ["Derivation", "Result", "VerificationError", "tex"]


class VerificationError(AssertionError):
    """A claimed identity did not reduce to 0, or a numerical check missed its tolerance."""


def tex(expr) -> str:
    """LaTeX of a sympy object; strings are taken as LaTeX already."""
    if isinstance(expr, str):
        return expr
    return sp.latex(expr, ln_notation=True)


def _is_zero(value) -> bool:
    """True only for an exact zero: the integer 0, a zero matrix, or a matrix of exact zeros."""
    if isinstance(value, sp.MatrixBase):
        return all(entry == 0 for entry in value)
    if isinstance(value, sp.MatrixExpr):
        return isinstance(value, sp.ZeroMatrix) or value == 0
    return value == 0


@dataclasses.dataclass(frozen=True)
class Result:
    """A derived closed form, ready to be turned into a function and compared with `dln`.

    Attributes:
        key: short identifier used by the tests (`derive().results[key]`).
        expr: the sympy expression.
        args: the symbols it is a function of, in call order.
        lhs: LaTeX of the quantity it gives (shown on the page).
        text: one line saying what it is.
        code: the `dln` function it is compared with, or a note on how it is checked.
    """

    key: str
    expr: sp.Expr
    args: tuple[sp.Symbol, ...]
    lhs: str
    text: str
    code: str

    def function(self, modules="mpmath") -> Callable:
        """`sympy.lambdify` of the result in its `args` (mpmath by default: high precision).

        With mpmath, pass `mpmath.mpf` arguments (integers too: `2/D` with a Python int `D`
        would be a float64 division) and evaluate inside `mpmath.workdps(...)`.
        """
        return sp.lambdify(self.args, self.expr, modules=modules)


class Derivation:
    """Collects one derivation's page and results.

    Args:
        name: module name; the page is `docs/derivations/<name>.md`.
        title: page title.
        sources: where the result comes from (papers, and the theory pages in `docs/theory/`).
        statement: what is derived, in one paragraph of Markdown (LaTeX allowed in `$…$`).
    """

    def __init__(self, name: str, title: str, *, sources: str, statement: str):
        self.name = name
        self.title = title
        self.sources = sources
        self.statement = statement
        self.results: dict[str, Result] = {}
        self.n_exact = 0
        self.n_numeric = 0
        self._blocks: list[str] = []
        self._sections = 0

    # ------------------------------------------------------------------------------ page text
    def section(self, heading: str) -> None:
        self._sections += 1
        self._blocks.append(f"## {self._sections}. {heading}")

    def say(self, markdown: str) -> None:
        """A paragraph of Markdown (inline math in `$…$`)."""
        self._blocks.append(" ".join(markdown.split()))

    def show(self, lhs, rhs=None, *, rel: str = "=") -> None:
        """A displayed equation `lhs rel rhs` (or a single expression when `rhs` is None)."""
        body = tex(lhs) if rhs is None else f"{tex(lhs)} {rel} {tex(rhs)}"
        self._blocks.append(f"$$\n{body}\n$$")

    # -------------------------------------------------------------------------------- checks
    def check_equal(self, claim: str, lhs, rhs, *, reduce: Callable = sp.simplify,
                    how: str = "`simplify`", display: bool = True) -> None:
        """Check `lhs = rhs` exactly: `reduce(lhs − rhs)` must be the exact 0, else raise.

        `lhs` and `rhs` may be expressions, explicit matrices or matrix expressions; `how` names
        the reduction on the page.
        """
        self._verify(claim, lhs, rhs, reduce, how)
        if display:
            self.show(lhs, rhs)
        self._blocks.append(f"> **Check (exact).** {claim}. Reduced with {how}, the difference of "
                            "the two sides is exactly $0$.")

    def check_cases(self, claim: str, cases: Sequence[tuple[str, object, object]], *,
                    reduce: Callable = sp.simplify, how: str = "`simplify`") -> None:
        """`check_equal` for each `(label, lhs, rhs)` in `cases`, reported as one line."""
        for label, lhs, rhs in cases:
            self._verify(f"{claim} ({label})", lhs, rhs, reduce, how)
        labels = "; ".join(label for label, _, _ in cases)
        self._blocks.append(f"> **Check (exact, {len(cases)} cases).** {claim}. Cases: {labels}. "
                            f"Reduced with {how}, the difference of the two sides is exactly $0$ "
                            "in each.")

    def _verify(self, claim, lhs, rhs, reduce, how) -> None:
        residual = reduce(lhs - rhs)
        if not _is_zero(residual):
            raise VerificationError(
                f"{self.name}: {claim}: {how} leaves the residual {residual!s:.2000} instead of 0")
        self.n_exact += 1

    def check_zero(self, claim: str, expr, *, reduce: Callable = sp.simplify,
                   how: str = "`simplify`", display: bool = True) -> None:
        """Check `expr = 0` exactly (see `check_equal`)."""
        if isinstance(expr, sp.MatrixExpr):
            zero = sp.ZeroMatrix(*expr.shape)
        elif isinstance(expr, sp.MatrixBase):
            zero = sp.zeros(*expr.shape)
        else:
            zero = sp.S.Zero
        self.check_equal(claim, expr, zero, reduce=reduce, how=how, display=display)

    def check_numeric(self, claim: str, error: float, tolerance: float, *, how: str) -> None:
        """Record a numerical check: `error` (finite) must not exceed `tolerance`, else raise.

        Used only where no exact reduction exists; `how` says what was computed (points,
        precision). The page states the tolerance, not the measured error, so it stays
        byte-stable.
        """
        if not (math.isfinite(error) and error <= tolerance):
            raise VerificationError(
                f"{self.name}: {claim}: error {error:.3e} exceeds the tolerance {tolerance:.1e}")
        self.n_numeric += 1
        self._blocks.append(f"> **Check (numerical, not symbolic).** {claim}. {how}; the largest "
                            f"relative difference is below ${_sci(tolerance)}$.")

    # ------------------------------------------------------------------------------- results
    def result(self, key: str, expr, args: Sequence[sp.Symbol], *, lhs: str, text: str,
               code: str, shown=None) -> Result:
        """Record and display a result (`lhs = expr`) for the tests to lambdify.

        `shown` (LaTeX or an expression) replaces `expr` on the page where the full expression
        would be unreadable; the recorded expression is always `expr`.
        """
        if key in self.results:
            raise ValueError(f"result `{key}` recorded twice in `{self.name}`")
        res = Result(key, expr, tuple(args), lhs, " ".join(text.split()), code)
        self.results[key] = res
        self.show(lhs, expr if shown is None else shown)
        return res

    # ---------------------------------------------------------------------------------- page
    def markdown(self) -> str:
        head = [
            f"<!-- Generated by `python -m derivations` from `derivations/{self.name}.py`; "
            "do not edit by hand. -->",
            f"# {self.title}",
            f"*Sources:* {' '.join(self.sources.split())}",
            f"**Statement.** {' '.join(self.statement.split())}",
            f"Run it: `python -m derivations.{self.name}`. Every check below is executed each "
            f"time the page is generated: {self.n_exact} exact symbolic "
            f"check{'s' if self.n_exact != 1 else ''}"
            + (f" and {self.n_numeric} numerical check{'s' if self.n_numeric != 1 else ''}"
               if self.n_numeric else "") + ".",
        ]
        rows = ["## Results", "", "| key | result | checked against |", "|---|---|---|"]
        for res in self.results.values():
            cells = (f"`{res.key}`", res.text, res.code)
            rows.append("| " + " | ".join(cell.replace("|", r"\|") for cell in cells) + " |")
        return "\n\n".join(head + self._blocks) + "\n\n" + "\n".join(rows) + "\n"


def _sci(x: float) -> str:
    """`1e-30` → `10^{-30}`, `2e-12` → `2 \\times 10^{-12}` (tolerances are round numbers)."""
    mantissa, exponent = f"{x:.0e}".split("e")
    power = f"10^{{{int(exponent)}}}"
    return power if mantissa == "1" else f"{mantissa} \\times {power}"
