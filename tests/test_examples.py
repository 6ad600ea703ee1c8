"""Every example runs (`main(out_dir, quick=True)`), writes real PNGs and draws figures fit to
print: labelled axes, no empty panel, a legend (or colour bar, or labels) wherever several curves
are drawn. The examples' numbers are checked in `test_example_<name>.py`."""

from __future__ import annotations

import ast
import pathlib

import matplotlib
import matplotlib.figure
import numpy as np
import pytest

matplotlib.use("Agg")  # before anything imports pyplot: examples only write files

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _defines_main(path: pathlib.Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)


SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if p.name != "__init__.py" and _defines_main(p))




def test_examples_found():
    assert any(p.stem == "saxe2014_modes" for p in SCRIPTS), f"examples found: {SCRIPTS}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_runs_and_writes_pngs(script, tmp_path, capsys, monkeypatch, load_example):
    saved = []
    savefig = matplotlib.figure.Figure.savefig

    def recording_savefig(fig, fname, *args, **kwargs):
        saved.append((fig, str(fname)))
        return savefig(fig, fname, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", recording_savefig)
    written = load_example(script.stem).main(str(tmp_path / "out"), quick=True)
    pngs = [pathlib.Path(p) for p in written if str(p).endswith(".png")]
    assert pngs, f"{script.name}: main() returned no PNG paths, got {written!r}"
    for png in pngs:
        assert png.is_file(), f"{script.name}: {png} was not written"
        assert png.stat().st_size > 1000, f"{script.name}: {png} is nearly empty"
        with open(png, "rb") as f:
            assert f.read(8) == PNG_SIGNATURE, f"{script.name}: {png} is not a PNG file"
    assert capsys.readouterr().out.strip(), f"{script.name}: printed no summary"
    # Every figure is fit to print: labelled axes, no empty panel, legends for several curves.
    assert saved, f"{script.name}: no figure went through Figure.savefig"
    problems = [f"{pathlib.Path(path).name}: {p}" for fig, path in saved
                for p in figure_problems(fig)]
    assert not problems, f"{script.name}:\n" + "\n".join(problems)


# --- every figure fit to print -------------------------------------------------------------

def _drawn(ax) -> int:
    """How many data artists an axes holds (lines, scatter/fill collections, images, bars)."""
    return len(ax.lines) + len(ax.collections) + len(ax.images) + len(ax.patches)


def _curves(ax) -> list:
    """The lines of an axes that are data curves (two or more points that differ), not
    reference lines drawn with `axhline`/`axvline` (two points, constant in x or in y)."""
    out = []
    for line in ax.lines:
        x, y = (np.asarray(a, dtype=float) for a in line.get_data())
        if x.size < 2 or not line.get_visible():
            continue
        if x.size == 2 and (x[0] == x[1] or y[0] == y[1]):
            continue  # a reference line
        out.append(line)
    return out


def _has_label(ax, which: str, fig) -> bool:
    """An axis label on this axes, on an axes that shares this axis with it, or on the figure."""
    if getattr(ax, f"get_{which}label")().strip():
        return True
    sup = getattr(fig, f"_sup{which}label", None)
    if sup is not None and sup.get_text().strip():
        return True
    shared = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    return any(other is not ax and shared.joined(ax, other)
               and getattr(other, f"get_{which}label")().strip() for other in fig.axes)


def figure_problems(fig) -> list[str]:
    """What a reader of a printed figure would miss: unlabelled axes, empty panels, several
    curves and no legend (or colour bar, or text labels on the curves), empty legend entries,
    unlabelled colour bars."""
    problems = []
    has_colorbar = any(hasattr(ax, "_colorbar") for ax in fig.axes)
    for i, ax in enumerate(fig.axes):
        name = f"axes {i} ({ax.get_title() or 'untitled'})"
        if not ax.get_visible():
            continue
        if hasattr(ax, "_colorbar"):
            if not (ax.get_ylabel().strip() or ax.get_xlabel().strip()):
                problems.append(f"colour bar {i} has no label")
            continue
        if not ax.axison:  # a text-only panel
            if not (ax.texts or _drawn(ax)):
                problems.append(f"{name} is empty")
            continue
        if not _drawn(ax):
            problems.append(f"{name} draws nothing")
            continue
        for which in ("x", "y"):
            if not _has_label(ax, which, fig):
                problems.append(f"{name} has no {which}-axis label")
        legend = ax.get_legend()
        if legend is not None:
            for text in legend.get_texts():
                if not text.get_text().strip():
                    problems.append(f"{name}: a legend entry has no text")
        if len(_curves(ax)) >= 2 and legend is None and not fig.legends and not has_colorbar \
                and not ax.texts:
            problems.append(f"{name} draws {len(_curves(ax))} curves with no legend, colour bar "
                            "or labels on them")
    for legend in fig.legends:
        for text in legend.get_texts():
            if not text.get_text().strip():
                problems.append("a figure legend entry has no text")
    return problems
