"""One look for every figure: a colour-blind-safe palette, fonts legible at a paper's column
width, and a save_figure that writes byte-identical PNG and PDF files run after run."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from homeworkflow.util.io import atomic_path  # noqa: E402

# seaborn's "colorblind" palette (Okabe-Ito-like): distinguishable with the common colour-vision
# deficiencies. Spelled out so that drawing a figure does not import seaborn.
PALETTE = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494", "#ece133", "#56b4e9"]
NEUTRAL = "0.35"  # grey for reference lines and observed data
COLUMN_WIDTH = 3.5  # inches: one column of a two-column paper
FULL_WIDTH = 7.0  # inches: both columns
DPI = 200

# No creation date or software version in the files, so the same figure gives the same bytes.
METADATA = {
    "png": {"Software": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
}

RC = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.titleweight": "bold",
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03,
    "pdf.fonttype": 42,  # TrueType: text stays text in the PDF
    "svg.hashsalt": "homeworkflow",
}


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Matplotlib settings of every figure, restored on exit (no global side effects)."""
    with plt.rc_context(RC):
        yield


def styled(make_figure: Callable[..., Figure]) -> Callable[..., Figure]:
    """Decorator: build the figure under `figure_style()`, so titles, ticks and legends all get it."""

    @functools.wraps(make_figure)
    def wrapper(*args, **kwargs) -> Figure:
        with figure_style():
            return make_figure(*args, **kwargs)

    return wrapper


def new_figure(width: float = COLUMN_WIDTH, height: float = 2.6, **subplots) -> tuple:
    """A figure of `width` x `height` inches with constrained layout, and its axes."""
    with figure_style():
        return plt.subplots(figsize=(width, height), layout="constrained", **subplots)


def save_figure(fig: Figure, stem: str | Path) -> list[Path]:
    """Write `fig` as `<stem>.png` (200 dpi) and `<stem>.pdf`, atomically, and close it.

    `stem` may also be a path ending in .png or .pdf; both files are written either way.
    """
    stem = Path(stem)
    if stem.suffix.lower() in (".png", ".pdf"):
        stem = stem.with_suffix("")
    paths = []
    with figure_style():
        for fmt in ("png", "pdf"):
            path = stem.with_name(f"{stem.name}.{fmt}")
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=DPI, metadata=METADATA[fmt], bbox_inches="tight")
            paths.append(path)
    plt.close(fig)
    return paths


def reference_line(ax, value: float, orientation: str = "vertical") -> None:
    """A thin dashed grey line at `value` (no effect: 0 for differences, 1 for ratios)."""
    draw = ax.axvline if orientation == "vertical" else ax.axhline
    draw(value, color=NEUTRAL, linewidth=0.8, linestyle="--", zorder=0)


def interval_plot(
    ax,
    estimates,
    lows,
    highs,
    positions,
    color=None,
    marker: str = "o",
    label: str | None = None,
) -> None:
    """Point estimates with horizontal interval bars at y `positions` (forest-plot style)."""
    color = color if color is not None else PALETTE[0]
    ax.hlines(positions, lows, highs, color=color, linewidth=1.2)
    ax.plot(estimates, positions, marker, color=color, label=label, markersize=4, linestyle="none")
