"""The insights chart as a PNG: detractors per day as bars, time to claim as a line.

Rendered with matplotlib's Agg backend onto a bare ``Figure`` (no pyplot, so no global state and
no display). matplotlib is imported inside the function: it takes about a second to import, and
neither start-up nor an ack should wait for it. The call is CPU-bound; callers run it off the event
loop (``asyncio.to_thread``).
"""

from __future__ import annotations

import io
import math

from bot.insights import Insights

WIDTH, HEIGHT, DPI = 1200, 600, 100  # pixels: wide enough to read in Slack's preview
BAR_COLOUR, LINE_COLOUR = "#4a90d9", "#d9534f"


def render_chart(
    insights: Insights, width: int = WIDTH, height: int = HEIGHT, dpi: int = DPI
) -> bytes:
    """The chart of ``insights`` as PNG bytes, exactly ``width`` x ``height`` pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(figure)
    bars = figure.add_subplot()
    days = [day for day, _ in insights.per_day]
    bars.bar(days, [count for _, count in insights.per_day], color=BAR_COLOUR, label="Detractors")
    bars.set_ylabel("Detractors per day")
    # Headroom above the tallest bar and point, so the legend never covers them.
    bars.set_ylim(0, max((count for _, count in insights.per_day), default=0) * 1.3 + 1)
    bars.yaxis.get_major_locator().set_params(integer=True)
    line = bars.twinx()
    # A day nobody claimed anything is a gap in the line, not a zero.
    hours = [math.nan if h is None else h for h in insights.claim_per_day]
    line.plot(days, hours, color=LINE_COLOUR, marker="o", label="Median hours to claim")
    line.set_ylabel("Median hours to claim")
    line.set_ylim(0, max((h for h in hours if not math.isnan(h)), default=1.0) * 1.3)
    bars.set_title(
        f"Detractors per day and time to claim, {days[0]:%d %b} – {days[-1]:%d %b %Y} (UTC)"
    )
    figure.autofmt_xdate()
    handles = bars.get_legend_handles_labels()[0] + line.get_legend_handles_labels()[0]
    bars.legend(handles=handles, loc="upper left")
    out = io.BytesIO()
    # No bbox_inches="tight": that would crop the figure to another size than was asked for.
    figure.savefig(out, format="png", dpi=dpi)
    return out.getvalue()
