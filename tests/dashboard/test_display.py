"""The charts and tables the pages draw, as plain Python."""

from __future__ import annotations

from types import SimpleNamespace

from apps.dashboard.display import compared_values, confusion_rows, line_chart, loss_chart, render_markdown, Series


def test_a_line_chart_scales_values_into_the_plot_and_labels_round_ticks() -> None:
    chart = line_chart([Series("loss", [(1, 0.7), (2, 0.4), (3, 0.3)])], title="t", width=300, height=200)

    [line] = chart.series
    xs = [point.x for point in line.points]
    ys = [point.y for point in line.points]
    assert xs[0] == chart.left and xs[-1] == chart.right
    assert ys[0] < ys[1] < ys[2], "lower loss sits lower on the page (larger y)"
    assert [tick.label for tick in chart.x_ticks] == ["1", "2", "3"]
    assert [tick.label for tick in chart.y_ticks] == ["0.3", "0.4", "0.5", "0.6", "0.7"]


def test_a_chart_of_one_epoch_or_of_no_values_still_draws() -> None:
    single = line_chart([Series("loss", [(1, 0.5)])], title="t")
    empty = line_chart([Series("loss", [(1, None)])], title="t")  # type: ignore[list-item]

    assert len(single.series[0].points) == 1 and not single.is_empty
    assert empty.is_empty


def test_the_loss_chart_draws_a_solid_and_a_dashed_line_per_run_in_one_colour() -> None:
    epochs = [SimpleNamespace(epoch=1, train_loss=0.6, validation_loss=0.5)]

    chart = loss_chart([("run 1", epochs), ("run 2", epochs)])

    assert [(s.name, s.dashed) for s in chart.series] == [
        ("run 1: train loss", False), ("run 1: validation loss", True),
        ("run 2: train loss", False), ("run 2: validation loss", True),
    ]  # fmt: skip
    assert chart.series[0].colour == chart.series[1].colour != chart.series[2].colour


def test_one_runs_chart_of_one_epoch_tells_train_from_validation_by_colour_and_shape() -> None:
    epochs = [SimpleNamespace(epoch=1, train_loss=0.6931, validation_loss=0.6925)]

    chart = loss_chart([("run 1", epochs)])

    train, validation = chart.series
    assert (train.name, validation.name) == ("train loss", "validation loss")
    assert train.colour != validation.colour
    assert (train.marker, validation.marker) == ("circle", "square")
    assert [tick.label for tick in chart.x_ticks] == ["1"], "one epoch, one tick: not an axis from 0 to 2"
    assert train.points[0].x == (chart.left + chart.right) / 2
    labels = [tick.label for tick in chart.y_ticks]
    assert len(set(labels)) == len(labels) == len(chart.y_ticks) > 1, labels


def test_y_tick_labels_never_repeat_however_close_the_losses() -> None:
    chart = line_chart([Series("loss", [(1, 0.6932), (2, 0.6929), (3, 0.6921)])], title="t")

    labels = [tick.label for tick in chart.y_ticks]
    assert len(set(labels)) == len(labels) > 1, labels


def test_confusion_rows_give_counts_row_percentages_and_a_link_per_cell() -> None:
    rows = confusion_rows([[40, 10], [5, 45]], lambda gold, predicted: f"/cell/{gold}/{predicted}/")

    [[tn, fp], [fn, tp]] = [row.cells for row in rows]
    assert (fp.count, fp.row_percent, fp.url, fp.name) == (10, 20.0, "/cell/0/1/", "false positives")
    assert (tp.row_percent, tp.correct, tp.name) == (90.0, True, "true positives")
    assert "213, 94, 0" in fn.style and "0, 114, 178" in tn.style


def test_compared_values_mark_the_rows_that_differ() -> None:
    runs = [SimpleNamespace(lr=2e-5, epochs=2), SimpleNamespace(lr=3e-5, epochs=2)]

    rows = compared_values(["lr", "epochs"], runs)

    assert [(row.name, row.differs) for row in rows] == [("lr", True), ("epochs", False)]


def test_markdown_is_rendered_and_raw_html_escaped() -> None:
    html = render_markdown("# Title\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n\n<script>alert(1)</script>")

    assert "<h1>Title</h1>" in html and "<td>1</td>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
