"""The report's plots as inline SVG, drawn with matplotlib (the ``report`` extra).

Three figures: each miner's activity over time (jobs the pool pushed and shares the miner
sent, from ``Suspect.activity``; where the input does not carry activity, when its
evidence flows were open, labelled as such), miners and energy per entity, and miners per
coin and per pool.

SVG because it is text: it goes inside the HTML file, which then needs nothing else to
open (no image files, no network). Text stays text (``svg.fonttype: none``), so labels
are searchable. Labels come from packets and the owners file: they are made printable
first (textsafe.escape: controls shown as ``\\xNN``, length capped), mathtext is off
(``text.parse_math``: a ``$`` in a wallet is a dollar sign, never a formula to parse),
and matplotlib's SVG is not pasted into the page as it is: ``inert_svg`` parses it
(xml.etree) and writes it again from an allowlist of drawing elements and attributes,
every text and attribute value through ``html.escape`` - the same standard-library
escaping as the rest of the page, and no element (script, foreignObject), event
attribute or outside link can come through. Ids in the SVG are salted with a fixed
string, so the same report gives the same bytes.
"""

from __future__ import annotations

import html
import io
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC
from typing import TYPE_CHECKING, Any

from detector.report.data import Report, ReportSuspect
from detector.report.summary import pool_labels
from detector.textsafe import escape

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_LANES = 24  # miners drawn in the timeline (the most active)
MAX_BARS = 20  # entities, coins, pools per bar chart

JOBS_COLOUR = "#4c72b0"
SHARES_COLOUR = "#dd8452"
SPAN_COLOUR = "#8c8c8c"
ENERGY_COLOUR = "#55a868"

STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "minewatch-report",
    "text.parse_math": False,
    "date.epoch": "1970-01-01T00:00:00",  # _day_number's
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


class PlotsUnavailable(Exception):
    """matplotlib is not installed (the CLI names the extra to install)."""


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError as exc:
        raise PlotsUnavailable(str(exc)) from None
    return pyplot


def label(text: str, width: int = 40) -> str:
    """A string from a packet or a file as a plot label: printable and short."""
    return escape(text, width)


def all_plots(report: Report) -> dict[str, str]:
    """Every figure of the report: name -> SVG text (no XML prologue)."""
    plt = _pyplot()
    import matplotlib

    with matplotlib.rc_context(STYLE):
        return {
            "entities": _svg(plt, entities(plt, report)),
            "coins": _svg(plt, coins_and_pools(plt, report)),
            "timeline": _svg(plt, timeline(plt, report), tight=False),
        }


def _svg(plt: Any, fig: Figure, tight: bool = True) -> str:
    """``tight``: crop to what was drawn (costs a second draw; the timeline, whose margins
    are set, does without)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None},
                bbox_inches="tight" if tight else None)  # fmt: skip
    plt.close(fig)
    text = buf.getvalue()
    return inert_svg(text[text.index("<svg") :])  # the prologue and DOCTYPE: for files


SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
# What matplotlib draws with; anything else (its RDF metadata included) is left out.
SVG_ELEMENTS = frozenset(("svg", "g", "defs", "style", "path", "use", "clipPath", "rect",
                          "text", "tspan", "line", "polyline", "polygon", "circle",
                          "ellipse", "title"))  # fmt: skip
SVG_ATTRIBUTES = frozenset(("width", "height", "viewBox", "version", "id", "d", "x", "y",
                            "transform", "style", "clip-path", "type", "xlink:href",
                            "x1", "x2", "y1", "y2", "cx", "cy", "r", "rx", "ry", "points",
                            "fill", "stroke", "class", "text-anchor",
                            "font-size", "font-family"))  # fmt: skip


def inert_svg(text: str) -> str:
    """matplotlib's SVG written again from the allowlists, every text and attribute
    value through ``html.escape`` (module docstring); a link may only point inside the
    figure (``#id``)."""
    root = ET.fromstring(text)
    out = [f'<svg xmlns="{SVG_NS}" xmlns:xlink="{XLINK_NS}"']
    out.append(_attributes(root) + ">")
    out.append(html.escape(root.text or ""))
    for child in root:
        _element(child, out)
    out.append("</svg>")
    return "".join(out)


def _element(node: ET.Element, out: list[str]) -> None:
    tag = node.tag.rpartition("}")[2]
    if tag in SVG_ELEMENTS:
        out.append(f"<{tag}{_attributes(node)}>")
        out.append(html.escape(node.text or ""))
        for child in node:
            _element(child, out)
        out.append(f"</{tag}>")
    out.append(html.escape(node.tail or ""))


def _attributes(node: ET.Element) -> str:
    parts = []
    for key, value in node.attrib.items():
        name = key.replace("{" + XLINK_NS + "}", "xlink:").rpartition("}")[2]
        if name not in SVG_ATTRIBUTES or (name == "xlink:href" and not value.startswith("#")):
            continue
        parts.append(f' {name}="{html.escape(value, quote=True)}"')
    return "".join(parts)


# ---- timeline -------------------------------------------------------------------------------


def lanes(report: Report) -> list[ReportSuspect]:
    """The miners the timeline shows: the most active (jobs + shares, then flows), drawn
    in first-seen order."""
    ranked = sorted(report.suspects, key=lambda s: (-(s.jobs + s.submits), -s.flows, s.ip))
    return sorted(ranked[:MAX_LANES], key=lambda s: (s.first_seen, s.ip))


def timeline(plt: Any, report: Report) -> Figure:
    """One small panel per miner on its own clock (miners of one report may be years
    apart, and one miner's minutes matter): jobs the pool pushed per time bucket above
    the line, shares the miner sent below; where the input has no activity, bars where
    its evidence flows were open (grey, said so in the legend)."""
    import matplotlib.dates as mdates
    from matplotlib.patches import Patch

    shown = lanes(report)
    columns = 3 if len(shown) > 2 else max(len(shown), 1)
    rows = max((len(shown) + columns - 1) // columns, 1)
    fig, axes = plt.subplots(rows, columns, figsize=(10, 1.55 + 1.3 * rows), squeeze=False)
    cells = [ax for row in axes for ax in row]
    if not shown:
        _empty(cells[0], "no miners")
    for ax in cells[len(shown) :]:
        ax.set_axis_off()
    for ax, s in zip(cells, shown, strict=False):
        _panel(ax, s, mdates)
    has_activity = any(s.activity for s in shown)
    has_spans = any(not s.activity for s in shown)
    handles = []
    if has_activity:
        handles.append(Patch(color=JOBS_COLOUR, label="jobs pushed by the pool (up)"))
        handles.append(Patch(color=SHARES_COLOUR, label="shares sent by the miner (down)"))
    if has_spans:
        handles.append(Patch(color=SPAN_COLOUR, label="evidence flow open (activity over "
                             "time not available from this input)"))  # fmt: skip
    more = len(report.suspects) - len(shown)
    title = "Activity of each miner over time (UTC)"
    if more:
        title += f" - the {len(shown)} most active; {more} more not drawn"
    fig.suptitle(title)
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False)
    height = fig.get_figheight()  # fixed margins (inches): a layout engine costs a draw
    fig.subplots_adjust(left=0.05, right=0.98, top=1 - 0.8 / height, bottom=0.75 / height,
                        hspace=1.0, wspace=0.22)  # fmt: skip
    return fig


def _panel(ax: Axes, s: ReportSuspect, mdates: Any) -> None:
    start, end = s.first_seen, max(s.last_seen, s.first_seen + 60.0)
    if s.activity:  # buckets are aligned to the epoch: the first may start before the miner
        start = min(start, s.activity[0][0])
        end = max(end, s.activity[-1][0] + s.activity[-1][1])
    least = (end - start) * 0.006  # a burst stays visible on a long axis
    if s.activity:
        for bucket_start, width, jobs, shares in s.activity:
            x, w = _day_number(bucket_start), max(width, least) / 86400.0
            if jobs:
                ax.bar(x, jobs, width=w, align="edge", color=JOBS_COLOUR, linewidth=0)
            if shares:
                ax.bar(x, -shares, width=w, align="edge", color=SHARES_COLOUR, linewidth=0)
        ax.axhline(0, color="#444444", linewidth=0.6)
        ax.yaxis.set_major_formatter(lambda value, _pos: f"{abs(value):g}")
        ax.yaxis.get_major_locator().set_params(integer=True, nbins=3)
    else:
        for a, b in s.spans or [(s.first_seen, s.last_seen)]:
            ax.broken_barh([(_day_number(a), max(b - a, least) / 86400.0)], (0.3, 0.4),
                           facecolors=SPAN_COLOUR)  # fmt: skip
        ax.set_ylim(0, 1)
        ax.set_yticks([])
    pad = (end - start) * 0.02
    ax.set_xlim(_day_number(start - pad), _day_number(end + pad))
    locator = mdates.AutoDateLocator(minticks=2, maxticks=5, tz=UTC)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    ax.tick_params(labelsize=7)
    ax.set_title(f"{label(s.ip, 39)} - {label(s.entity, 24)}", fontsize=8, loc="left")


def _day_number(ts: float) -> float:
    """Epoch seconds as matplotlib's date number (days since its epoch, 1970-01-01)."""
    return ts / 86400.0


# ---- entities -------------------------------------------------------------------------------


def entities(plt: Any, report: Report) -> Figure:
    rows = report.entities[:MAX_BARS]
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(10, 1.2 + 0.3 * max(len(rows), 1)), sharey=True, layout="constrained"
    )
    if not rows:
        _empty(left, "no miners")
        _empty(right, "no miners")
        return fig
    y = list(range(len(rows)))[::-1]
    names = [label(e.entity, 32) for e in rows]
    left.barh(y, [len(e.ips) for e in rows], color=JOBS_COLOUR)
    left.set_yticks(y, labels=names)
    left.set_xlabel("mining IPs")
    left.set_title("Miners per entity")
    left.xaxis.get_major_locator().set_params(integer=True)
    for yi, e in zip(y, rows, strict=True):
        known = len(e.ips) - e.energy_unknown
        if known:
            right.barh(yi, max(e.kwh_day_high - e.kwh_day_low, 0.0), left=e.kwh_day_low,
                       color=ENERGY_COLOUR, alpha=0.45)  # fmt: skip
            right.plot([e.kwh_day_low, e.kwh_day_high], [yi, yi], "|", color=ENERGY_COLOUR,
                       markersize=12)  # fmt: skip
        else:
            right.text(0, yi, " unknown", va="center", color=SPAN_COLOUR)
    right.set_xlabel("kWh per day (low–high)")
    right.set_title("Energy per entity")
    return fig


# ---- coins and pools ------------------------------------------------------------------------


def coins_and_pools(plt: Any, report: Report) -> Figure:
    coin_counts: Counter[str] = Counter()
    pool_counts: Counter[str] = Counter()
    for s in report.suspects:
        coin_counts.update(s.coins or ["(coin unknown)"])
        pool_counts.update(pool_labels(s)[:4] or ["(pool unknown)"])
    coin_rows = coin_counts.most_common(MAX_BARS)
    pool_rows = pool_counts.most_common(MAX_BARS)
    n = max(len(coin_rows), len(pool_rows), 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 1.2 + 0.3 * n), layout="constrained")
    for ax, rows, title in ((left, coin_rows, "Miners per coin"), (right, pool_rows,
                            "Miners per pool")):  # fmt: skip
        if not rows:
            _empty(ax, "no miners")
            continue
        y = [n - 1 - i for i in range(len(rows))]  # from the top, bars as thick on both sides
        ax.barh(y, [c for _, c in rows], color=SHARES_COLOUR if ax is right else JOBS_COLOUR)
        ax.set_ylim(-0.6, n - 0.4)
        ax.set_yticks(y, labels=[label(name, 32) for name, _ in rows])
        ax.set_xlabel("mining IPs")
        ax.set_title(title)
        ax.xaxis.get_major_locator().set_params(integer=True)
    left.xaxis.get_major_locator().set_params(integer=True)
    return fig


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
