"""Pictures and tables the pages draw: line charts as SVG, confusion matrices, hyperparameter comparisons.

Plain Python over rows the selectors read; the templates only place what these return.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from apps.reviews.choices import Label

# Distinguishable on white and for the common colour-vision deficiencies (Okabe-Ito).
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442")


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Series:
    """One line: ``values`` are (x, y) pairs in data units; ``dashed`` and square markers for the second line
    of a pair (a single point has no dashes to tell it apart, so its marker's shape does)."""

    name: str
    values: list[tuple[float, float]]
    colour: str = PALETTE[0]
    dashed: bool = False

    @property
    def marker(self) -> str:
        return "square" if self.dashed else "circle"


@dataclass(frozen=True)
class DrawnSeries:
    name: str
    colour: str
    dashed: bool
    marker: str
    points: list[Point]

    @property
    def polyline(self) -> str:
        return " ".join(f"{point.x:.1f},{point.y:.1f}" for point in self.points)


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class LineChart:
    title: str
    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    x_label: str
    y_label: str
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    series: list[DrawnSeries] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not any(series.points for series in self.series)


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str = "epoch",
    y_label: str = "loss",
    width: int = 640,
    height: int = 260,
) -> LineChart:
    """Scale ``series`` into an SVG viewport with integer x ticks (epochs) and about five y ticks."""
    left, top, right, bottom = 56, 14, width - 16, height - 36
    values = [(x, y) for line in series for x, y in line.values if y is not None and math.isfinite(y)]
    chart = LineChart(
        title=title, width=width, height=height, left=left, top=top, right=right, bottom=bottom,
        x_label=x_label, y_label=y_label,
    )  # fmt: skip
    if not values:
        return chart
    x_low, x_high = min(x for x, _ in values), max(x for x, _ in values)
    if x_high == x_low:
        # One epoch: its point mid-plot with its own tick only, not an axis from 0 to 2.
        x_low, x_high = x_low - 0.5, x_high + 0.5
    y_ticks = _nice_ticks(min(y for _, y in values), max(y for _, y in values))
    y_low, y_high = y_ticks[0], y_ticks[-1]

    def sx(x: float) -> float:
        return left + (x - x_low) / (x_high - x_low) * (right - left)

    def sy(y: float) -> float:
        return bottom - (y - y_low) / (y_high - y_low) * (bottom - top)

    first, last = math.ceil(x_low), math.floor(x_high)
    step = max(1, math.ceil((last - first + 1) / 10))
    chart.x_ticks.extend(Tick(sx(x), str(x)) for x in range(first, last + 1, step))
    chart.y_ticks.extend(Tick(sy(y), label) for y, label in zip(y_ticks, _tick_labels(y_ticks)))
    for line in series:
        points = [
            Point(sx(x), sy(y), f"{line.name}, {x_label} {_format_x(x)}: {y:.4f}")
            for x, y in line.values
            if y is not None and math.isfinite(y)
        ]
        chart.series.append(
            DrawnSeries(name=line.name, colour=line.colour, dashed=line.dashed, marker=line.marker, points=points)
        )
    return chart


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten."""
    # A span under 2% of the values (one epoch's train and validation loss, say) would be stretched over
    # the whole plot, making noise look like a trend: widen it around its middle.
    least = 0.02 * max(abs(low), abs(high)) or 0.1
    if high - low < least:
        middle = (low + high) / 2
        low, high = middle - least / 2, middle + least / 2
    raw = (high - low) / (count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    # The small allowances keep 0.3 / 0.1 = 2.9999999999999996 from dropping a tick.
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [round(n * step, 10) for n in range(first, max(last, first + 1) + 1)]


def _tick_labels(values: Sequence[float]) -> list[str]:
    """The shortest fixed-point labels that tell every tick apart (0.69, 0.695, 0.7 rather than 0.693 thrice)."""
    for decimals in range(0, 11):
        labels = [f"{value:.{decimals}f}" for value in values]
        exact = all(float(label) == round(value, 10) for label, value in zip(labels, values))
        if exact and len(set(labels)) == len(labels):
            return [label.rstrip("0").rstrip(".") if "." in label else label for label in labels]
    return [f"{value:g}" for value in values]


def _format_x(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def loss_chart(runs: Sequence[tuple[str, Sequence[Any]]], *, colours: Sequence[str] = PALETTE) -> LineChart:
    """Train (solid, round dots) and validation (dashed, square dots) loss per epoch; ``runs`` is (name, epochs).

    Several runs get one colour per run; a single run gets a colour per line, so that even its one-epoch
    chart (two dots, no line) tells train from validation by colour as well as by shape.
    """
    series: list[Series] = []
    single = len(runs) == 1
    for index, (name, epochs) in enumerate(runs):
        colour = colours[index % len(colours)]
        validation_colour = colours[1 % len(colours)] if single else colour
        prefix = "" if single else f"{name}: "
        series.append(Series(f"{prefix}train loss", [(e.epoch, e.train_loss) for e in epochs], colour))
        series.append(
            Series(
                f"{prefix}validation loss",
                [(e.epoch, e.validation_loss) for e in epochs],
                validation_colour,
                dashed=True,
            )
        )
    return line_chart(series, title="Train and validation loss per epoch")


@dataclass(frozen=True)
class MatrixCell:
    gold: int
    predicted: int
    count: int
    row_percent: float
    url: str

    @property
    def correct(self) -> bool:
        return self.gold == self.predicted

    @property
    def name(self) -> str:
        kind = "true" if self.correct else "false"
        return f"{kind} {Label(self.predicted).label}s"

    @property
    def style(self) -> str:
        """Background strength follows the row percentage: blue where the model is right, red where wrong."""
        # At most 45% strength, so the page's dark text keeps a contrast of 4.5:1 or more on every cell: a
        # stronger blend falls where neither dark nor white text reads well enough.
        alpha = 0.06 + 0.39 * self.row_percent / 100
        rgb = "0, 114, 178" if self.correct else "213, 94, 0"
        return f"background: rgba({rgb}, {alpha:.2f});"


@dataclass(frozen=True)
class MatrixRow:
    gold: int
    cells: list[MatrixCell]

    @property
    def total(self) -> int:
        return sum(cell.count for cell in self.cells)

    @property
    def name(self) -> str:
        return Label(self.gold).label


def confusion_rows(matrix: Sequence[Sequence[int]], cell_url: Callable[[int, int], str]) -> list[MatrixRow]:
    """``[[tn, fp], [fn, tp]]`` (rows gold, columns predicted) as rows of cells with row percentages."""
    rows = []
    for gold, counts in enumerate(matrix):
        total = sum(counts)
        cells = [
            MatrixCell(
                gold=gold,
                predicted=predicted,
                count=count,
                row_percent=100.0 * count / total if total else 0.0,
                url=cell_url(gold, predicted),
            )
            for predicted, count in enumerate(counts)
        ]
        rows.append(MatrixRow(gold=gold, cells=cells))
    return rows


@dataclass(frozen=True)
class ComparedValue:
    name: str
    values: list[Any]

    @property
    def differs(self) -> bool:
        return len({repr(value) for value in self.values}) > 1


def compared_values(names: Sequence[str], objects: Sequence[Any]) -> list[ComparedValue]:
    """One row per attribute name, with each object's value, marking rows where they differ."""
    return [ComparedValue(name=name, values=[getattr(obj, name) for obj in objects]) for name in names]


class NotUsed:
    """A setting the run's model kind does not read: never equal to a value, shown as such."""

    def __repr__(self) -> str:
        return "NotUsed()"

    def __str__(self) -> str:
        return "not used"


def compared_settings(runs: Sequence[Any], context_rows: Sequence[str]) -> list[ComparedValue]:
    """The kind, then every setting that some run's kind reads, then ``context_rows``.

    A setting a run's kind ignores (a TF-IDF run's base model) shows as not used, so a TF-IDF run and a
    transformer run never look alike on it.
    """
    per_run = [dict(run.model_settings()) for run in runs]
    names = list(dict.fromkeys(name for settings in per_run for name in settings))
    rows = [ComparedValue(name="kind", values=[run.kind for run in runs])]
    rows += [
        ComparedValue(name=name, values=[settings.get(name, NotUsed()) for settings in per_run]) for name in names
    ]
    return rows + compared_values(context_rows, runs)


_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(text: str) -> SafeString:
    """Markdown (a model card) as HTML; raw HTML in the text is escaped, never passed through."""
    return mark_safe(_markdown.render(text))  # noqa: S308 - markdown-it escapes raw HTML with html=False
