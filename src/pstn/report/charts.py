"""Small, dependency-free SVG charts for the monthly report: every chart is a picture with a
title, labelled axes with units, and a legend, readable at a glance and printable. No scripts,
no fonts or images from the network."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

WIDTH, HEIGHT = 640, 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 74, 16, 40, 62
PALETTE = {
    "blue": "#2563eb",
    "teal": "#0d9488",
    "orange": "#ea580c",
    "red": "#dc2626",
    "amber": "#d97706",
    "grey": "#6b7280",
    "purple": "#7c3aed",
    "green": "#16a34a",
}


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k at or above value (an axis top)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        top = step * 10**exponent
        if top >= value * 0.999999:
            return float(top)
    return float(10 ** (exponent + 1))


def number(value: float, decimals: int = 0) -> str:
    return f"{value:,.{decimals}f}"


def _ticks(top: float, count: int = 5) -> list[float]:
    return [top * i / count for i in range(count + 1)]


def _tick_label(value: float, top: float) -> str:
    return number(value, 0 if top >= 10 else 2)


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]
    colour: str = "blue"
    dashed: bool = False
    step: bool = False


@dataclass
class Rule:
    """A horizontal reference line (e.g. 80 % of capacity)."""

    value: float
    label: str
    colour: str = "red"


@dataclass
class Chart:
    chart_id: str
    title: str
    x_label: str
    y_label: str
    parts: list[str] = field(default_factory=list)

    def frame(self, height: int = HEIGHT) -> str:
        return (
            f'<svg class="chart" data-chart="{escape(self.chart_id)}" role="img" '
            f'aria-labelledby="{self.chart_id}-title" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
            f'height="{height}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="11">'
            f'<title id="{self.chart_id}-title">{escape(self.title)}</title>'
            f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>'
            f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600" '
            f'fill="#111827">{escape(self.title)}</text>' + "".join(self.parts) + "</svg>"
        )


def _axes(chart: Chart, y_top: float, plot_h: float, height: int, y_unit_decimals: int | None = None) -> None:
    left, bottom = MARGIN_LEFT, height - MARGIN_BOTTOM
    right = WIDTH - MARGIN_RIGHT
    for tick in _ticks(y_top):
        y = bottom - tick / y_top * plot_h
        chart.parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        label = _tick_label(tick, y_top) if y_unit_decimals is None else number(tick, y_unit_decimals)
        chart.parts.append(
            f'<text class="y-tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#374151">{label}</text>'
        )
    chart.parts.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#374151"/>')
    chart.parts.append(f'<line x1="{left}" y1="{MARGIN_TOP}" x2="{left}" y2="{bottom}" stroke="#374151"/>')
    chart.parts.append(
        f'<text class="axis-label" x="{(left + right) / 2}" y="{height - 8}" text-anchor="middle" '
        f'fill="#111827">{escape(chart.x_label)}</text>'
    )
    middle = MARGIN_TOP + plot_h / 2
    chart.parts.append(
        f'<text class="axis-label" transform="translate(14 {middle:.1f}) rotate(-90)" text-anchor="middle" '
        f'fill="#111827">{escape(chart.y_label)}</text>'
    )


def _legend(chart: Chart, entries: list[tuple[str, str, bool]], height: int) -> None:
    x = MARGIN_LEFT
    y = height - 28
    for name, colour, dashed in entries:
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        chart.parts.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 18}" y2="{y}" stroke="{PALETTE[colour]}" stroke-width="2.5"{dash}/>'
        )
        chart.parts.append(f'<text x="{x + 22}" y="{y + 4}" fill="#374151">{escape(name)}</text>')
        x += 30 + 6.2 * len(name)


def line_chart(
    chart_id: str,
    title: str,
    x_label: str,
    y_label: str,
    series: list[Series],
    x_range: tuple[float, float],
    x_ticks: list[tuple[float, str]],
    rules: list[Rule] = (),
    markers: list[tuple[float, float, str, str]] = (),
) -> str:
    """Lines over a numeric x axis; `markers` are (x, y, label, colour) dots with a caption."""
    height = HEIGHT + 14
    chart = Chart(chart_id, title, x_label, y_label)
    values = [y for s in series for _, y in s.points] + [r.value for r in rules] + [m[1] for m in markers]
    y_top = nice_ceiling(max([*values, 0]) * 1.05)
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = height - MARGIN_TOP - MARGIN_BOTTOM
    x0, x1 = x_range
    span = (x1 - x0) or 1

    def px(x: float) -> float:
        return MARGIN_LEFT + (x - x0) / span * plot_w

    def py(y: float) -> float:
        return height - MARGIN_BOTTOM - y / y_top * plot_h

    _axes(chart, y_top, plot_h, height)
    for x, label in x_ticks:
        chart.parts.append(
            f'<text class="x-tick" x="{px(x):.1f}" y="{height - MARGIN_BOTTOM + 14}" text-anchor="middle" '
            f'fill="#374151">{escape(label)}</text>'
        )
    for rule in rules:
        y = py(rule.value)
        chart.parts.append(
            f'<line class="rule" x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{WIDTH - MARGIN_RIGHT}" y2="{y:.1f}" '
            f'stroke="{PALETTE[rule.colour]}" stroke-width="1.5" stroke-dasharray="6 4"/>'
        )
        chart.parts.append(
            f'<text x="{WIDTH - MARGIN_RIGHT - 4}" y="{y - 4:.1f}" text-anchor="end" '
            f'fill="{PALETTE[rule.colour]}">{escape(rule.label)}</text>'
        )
    for s in series:
        if not s.points:
            continue
        coords: list[str] = []
        previous_y = None
        for x, y in s.points:
            if s.step and previous_y is not None:
                coords.append(f"{px(x):.1f},{py(previous_y):.1f}")
            coords.append(f"{px(x):.1f},{py(y):.1f}")
            previous_y = y
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        chart.parts.append(
            f'<polyline class="series" data-series="{escape(s.name)}" fill="none" stroke="{PALETTE[s.colour]}" '
            f'stroke-width="2.5"{dash} points="{" ".join(coords)}"/>'
        )
    for x, y, label, colour in markers:
        chart.parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{PALETTE[colour]}"/>')
        chart.parts.append(
            f'<text x="{px(x) + 6:.1f}" y="{py(y) + 14:.1f}" fill="{PALETTE[colour]}">{escape(label)}</text>'
        )
    legend = [(s.name, s.colour, s.dashed) for s in series] + [(r.label, r.colour, True) for r in rules]
    _legend(chart, legend, height)
    return chart.frame(height)


def bar_chart(
    chart_id: str,
    title: str,
    x_label: str,
    y_label: str,
    categories: list[str],
    stacks: list[tuple[str, list[float], str]],
    line: tuple[str, list[float | None], str] | None = None,
    decimals: int = 0,
) -> str:
    """Vertical stacked bars per category (`stacks`: name, values, colour), optionally with a
    line across the categories (e.g. capacity)."""
    height = HEIGHT + 14
    chart = Chart(chart_id, title, x_label, y_label)
    totals = [sum(values[i] for _, values, _ in stacks) for i in range(len(categories))]
    candidates = totals + ([v for v in line[1] if v is not None] if line else [])
    y_top = nice_ceiling(max([*candidates, 0]) * 1.08)
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = height - MARGIN_TOP - MARGIN_BOTTOM
    bottom = height - MARGIN_BOTTOM
    _axes(chart, y_top, plot_h, height)
    slot = plot_w / max(len(categories), 1)
    bar = slot * 0.62
    for i, category in enumerate(categories):
        x = MARGIN_LEFT + i * slot + (slot - bar) / 2
        base = 0.0
        for name, values, colour in stacks:
            value = values[i]
            if value <= 0:
                continue
            h = value / y_top * plot_h
            y = bottom - (base + value) / y_top * plot_h
            chart.parts.append(
                f'<rect class="bar" data-series="{escape(name)}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[colour]}"><title>{escape(category)}: {escape(name)} '
                f"{number(value, decimals)}</title></rect>"
            )
            base += value
        if totals[i] > 0:
            chart.parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{bottom - totals[i] / y_top * plot_h - 3:.1f}" text-anchor="middle" '
                f'font-size="9" fill="#374151">{number(totals[i], decimals)}</text>'
            )
        chart.parts.append(
            f'<text class="x-tick" x="{x + bar / 2:.1f}" y="{bottom + 14}" text-anchor="middle" '
            f'fill="#374151">{escape(category)}</text>'
        )
    legend = [(name, colour, False) for name, _, colour in stacks]
    if line:
        name, values, colour = line
        # A month without data (None) breaks the line rather than dropping it to zero.
        runs: list[list[str]] = [[]]
        for i, v in enumerate(values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{MARGIN_LEFT + i * slot + slot / 2:.1f},{bottom - v / y_top * plot_h:.1f}")
        for run in runs:
            if len(run) == 1:
                x, y = run[0].split(",")
                chart.parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{PALETTE[colour]}"/>')
            elif run:
                chart.parts.append(
                    f'<polyline class="series" data-series="{escape(name)}" fill="none" stroke="{PALETTE[colour]}" '
                    f'stroke-width="2" stroke-dasharray="6 4" points="{" ".join(run)}"/>'
                )
        legend.append((name, colour, True))
    _legend(chart, legend, height)
    return chart.frame(height)


def hbar_chart(
    chart_id: str, title: str, x_label: str, items: list[tuple[str, float]], colour: str = "blue", decimals: int = 2
) -> str:
    """Horizontal bars, largest first: a ranking (departments, destinations)."""
    row = 22
    height = MARGIN_TOP + row * max(len(items), 1) + 44
    chart = Chart(chart_id, title, x_label, "")
    label_w = 150
    left = label_w + 10
    plot_w = WIDTH - left - MARGIN_RIGHT - 60
    top = nice_ceiling(max([v for _, v in items] + [0]))
    if not items:
        chart.parts.append(
            f'<text x="{WIDTH / 2}" y="{MARGIN_TOP + 20}" text-anchor="middle">nothing this month</text>'
        )
    for i, (label, value) in enumerate(items):
        y = MARGIN_TOP + i * row
        w = value / top * plot_w if top else 0
        chart.parts.append(
            f'<text x="{label_w}" y="{y + 15}" text-anchor="end" fill="#374151">{escape(label[:24])}</text>'
        )
        chart.parts.append(
            f'<rect class="bar" data-series="{escape(label)}" x="{left}" y="{y + 4}" width="{w:.1f}" '
            f'height="{row - 8}" fill="{PALETTE[colour]}">'
            f"<title>{escape(label)}: {number(value, decimals)}</title></rect>"
        )
        chart.parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 15}" fill="#111827">{number(value, decimals)}</text>')
    axis_y = MARGIN_TOP + row * max(len(items), 1) + 4
    chart.parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{left + plot_w}" y2="{axis_y}" stroke="#374151"/>')
    for tick in _ticks(top, 4):
        x = left + tick / top * plot_w
        chart.parts.append(
            f'<text class="x-tick" x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle" fill="#374151">'
            f"{_tick_label(tick, top)}</text>"
        )
    chart.parts.append(
        f'<text class="axis-label" x="{left + plot_w / 2}" y="{axis_y + 32}" text-anchor="middle" '
        f'fill="#111827">{escape(x_label)}</text>'
    )
    return chart.frame(height)
