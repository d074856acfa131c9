"""Server-side SVG charts for operator pages: no JavaScript, nothing fetched from the network."""

from datetime import date, timedelta
from decimal import Decimal

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from core.admin import usd
from core.money import ZERO

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
)
OTHER_COLOUR = "#bab0ac"
UNNAMED = "(none)"  # a series with no name: usage rows with no model (a body the gateway could not read)
WIDTH, HEIGHT = 820, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 36
LEGEND_ROW = 20


def _nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above `value`, so axis ticks read as round numbers."""
    if value <= 0:
        return Decimal(1)
    exponent = value.adjusted()
    for step in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        candidate = step.scaleb(exponent)
        if candidate >= value:
            return candidate
    return Decimal(10).scaleb(exponent)


def _usd_tick(value: Decimal) -> str:
    """An axis label: as many places as the round tick needs ($0.0000025 on a chart of micro-costs)."""
    if value == 0:
        return "$0"
    places = max(0, min(10, -value.normalize().as_tuple().exponent))  # type: ignore[operator]
    return f"${value:,.{places}f}"


def _fold(series: dict[str, dict[date, Decimal]], keep: int) -> list[tuple[str, dict[date, Decimal]]]:
    """The `keep` costliest models by name, the rest summed as "other": more colours stop being readable."""
    ranked = sorted(series.items(), key=lambda item: (-sum(item[1].values(), ZERO), item[0]))
    if len(ranked) <= keep + 1:
        return ranked
    other: dict[date, Decimal] = {}
    for _, days in ranked[keep:]:
        for day, cost in days.items():
            other[day] = other.get(day, ZERO) + cost
    return [*ranked[:keep], ("others", other)]


def _axes(top: Decimal, periods: list[date], slot: float, unit: str) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" class="ytick">{escape(_usd_tick(value))}</text>'
        )
    every = max(1, len(periods) // 6)
    for i, when in enumerate(periods):
        if i % every == 0 or i == len(periods) - 1:
            x = LEFT + slot * (i + 0.5)
            label = when.strftime("%b %Y" if unit == "month" else "%b %-d")
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" class="xtick">{label}</text>')
    middle = f"{TOP + plot_h / 2:.0f}"
    parts.append(f'<text x="14" y="{middle}" class="axis" transform="rotate(-90 14 {middle})">USD per {unit}</text>')
    return parts


def _bars(folded: list[tuple[str, dict[date, Decimal]]], top: Decimal, periods: list[date], slot: float) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    for i, day in enumerate(periods):
        base = Decimal(0)
        for index, (model, costs) in enumerate(folded):
            cost = costs.get(day, ZERO)
            if cost <= 0:
                continue
            y0 = TOP + plot_h - float(base / top) * plot_h
            y1 = TOP + plot_h - float((base + cost) / top) * plot_h
            base += cost
            colour = PALETTE[index] if index < len(PALETTE) else OTHER_COLOUR
            x = LEFT + slot * i + slot * 0.15
            title = f"{model} · {day:%b %-d}: {usd(cost)}"
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y1:.1f}" width="{slot * 0.7:.1f}" '
                f'height="{max(y0 - y1, 0.5):.1f}" fill="{colour}"><title>{escape(title)}</title></rect>'
            )
    return parts


def _legend(folded: list[tuple[str, dict[date, Decimal]]]) -> tuple[list[str], int]:
    parts, x, row = [], LEFT, 0
    for index, (model, costs) in enumerate(folded):
        label = f"{model} ({usd(sum(costs.values(), ZERO))})"
        width = 26 + 7 * len(label)
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, row = LEFT, row + 1
        y = HEIGHT + 8 + row * LEGEND_ROW
        colour = PALETTE[index] if index < len(PALETTE) else OTHER_COLOUR
        parts.append(
            f'<rect x="{x}" y="{y}" width="12" height="12" rx="2" fill="{colour}"/>'
            f'<text x="{x + 18}" y="{y + 10}" class="legend">{escape(label)}</text>'
        )
        x += width
    return parts, (row + 1) * LEGEND_ROW + 8 if folded else 0


def spend_chart_svg(*, series: dict[str, dict[date, Decimal]], today: date, days: int = 30) -> SafeString:
    """Stacked bars of spend per day and model for the `days` days up to `today`, with axes and a legend."""
    first = today - timedelta(days=days - 1)
    periods = [first + timedelta(days=i) for i in range(days)]
    return period_chart_svg(
        series=series, periods=periods, unit="day", empty=f"No spend in the last {days} days", what="model"
    )


def period_chart_svg(
    *, series: dict[str, dict[date, Decimal]], periods: list[date], unit: str, empty: str, what: str
) -> SafeString:
    """Stacked bars of spend per period (day, week or month, each named by its first day) and series."""
    kept = set(periods)
    shown = {name or UNNAMED: {d: c for d, c in costs.items() if d in kept} for name, costs in series.items()}
    # A series with nothing spent in the range draws no bar: no legend entry either (refused calls
    # with no model name were a blank "($0.00)" one).
    folded = _fold({name: costs for name, costs in shown.items() if any(costs.values())}, len(PALETTE))
    totals = [sum((costs.get(when, ZERO) for _, costs in folded), ZERO) for when in periods]
    top = _nice_ceiling(max(totals, default=ZERO))
    slot = (WIDTH - LEFT - RIGHT) / max(len(periods), 1)
    legend, legend_h = _legend(folded)
    body = [*_axes(top, periods, slot, unit), *_bars(folded, top, periods, slot), *legend]
    if not any(totals):
        body.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" class="empty">{escape(empty)}</text>')
    total_h = HEIGHT + legend_h
    head = format_html(
        '<svg class="gw-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" xmlns="http://www.w3.org/2000/svg">',
        f"Spend per {unit}, by {what}",
        WIDTH,
        total_h,
    )
    # Every value above is either a number we formatted or text passed through escape().
    return mark_safe(f"{head}{''.join(body)}</svg>")  # noqa: S308
