"""RD plots of a report: one PNG per quality metric, group ``all``, rate on a log axis."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

from vcmref.ctc.report.model import ALL, RATE_HEADERS, Report

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def rd_plots(report: Report) -> list[tuple[str, str]]:
    """(metric, base64 PNG) of each ``rd_figures`` figure, saved without metadata that would
    change from run to run. Raises ImportError without matplotlib."""
    out = []
    for metric, fig in rd_figures(report):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
        out.append((metric, base64.b64encode(buf.getvalue()).decode("ascii")))
    return out


def rd_figures(report: Report) -> list[tuple[str, Figure]]:
    """(metric, matplotlib Figure) RD plots of the ALL group, one per quality metric with
    points: one curve per codec (the anchor dashed), the rate on a logarithmic x axis as CTC
    plots draw it. Raises ImportError without matplotlib."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    pp = report.per_point.frame
    pp = pp.loc[(pp["class"] == ALL) & (pp["items"] > 0)]
    rate = report.rate_unit
    out = []
    for metric in report.metrics:
        fig = Figure(figsize=(6.4, 4.4), dpi=90)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        rates: list[float] = []
        for i, codec in enumerate(report.codecs):
            pts = pp.loc[pp["codec"] == codec, [rate, metric]].dropna()
            pts = pts.loc[pts[rate] > 0].sort_values([rate, metric], kind="stable")
            if pts.empty:
                continue
            is_anchor = codec == report.anchor
            ax.plot(
                pts[rate].to_numpy(dtype=float),
                pts[metric].to_numpy(dtype=float),
                linestyle="--" if is_anchor else "-",
                marker="o",
                color=f"C{i}",
                label=f"{codec} (anchor)" if is_anchor else codec,
            )
            rates += pts[rate].tolist()
        if not rates:
            continue
        ax.set_xscale("log")
        # plain numbers at 1, 2 and 5 times the powers of ten: CTC rate ranges often span
        # one or two decades, where powers of ten alone leave the axis almost unlabelled;
        # a narrow range (less than a factor of 3) gets evenly spaced round values instead
        narrow = max(rates) < 3 * min(rates)
        ax.xaxis.set_major_locator(
            MaxNLocator(nbins=6) if narrow else LogLocator(subs=(1.0, 2.0, 5.0))
        )
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"{RATE_HEADERS[rate]} (log scale)")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} vs {RATE_HEADERS[rate]} ({ALL})")
        ax.grid(True, which="major", alpha=0.3)
        ax.grid(True, which="minor", alpha=0.12)
        ax.legend()
        fig.subplots_adjust(left=0.12, right=0.97, top=0.92, bottom=0.12)
        out.append((metric, fig))
    return out
