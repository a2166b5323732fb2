"""The report's figures, drawn with matplotlib's Agg canvas and returned as PNG bytes.

Imported only when an HTML report is written (matplotlib is slow to import). No pyplot: each
figure is its own ``Figure`` with an Agg canvas, so nothing global changes and no display is
needed. Non-finite values in the data are left out of the drawing.
"""

from __future__ import annotations

import io
import math

import numpy as np
import numpy.typing as npt
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.report.plot_data import (
    AlertsData,
    AttemptDistributionData,
    BackoffWindowData,
    JitterData,
    SuccessRateData,
    TelemetryData,
)

#: At most this many points per retry index are drawn as dots (all out-of-window ones are kept).
MAX_STRIP_POINTS = 1500
#: At most this many retry indexes get a panel; the rest are named in the figure title.
MAX_PANELS = 12

WINDOW_COLOUR = "#4c9be8"
POINT_COLOUR = "#1f3b57"
OUTSIDE_COLOUR = "#d62728"
MODEL_COLOUR = "#222222"
BAR_COLOUR = "#8fbce6"
DPI = 100


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _finite(values: list[float]) -> npt.NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    finite: npt.NDArray[np.float64] = arr[np.isfinite(arr)]
    return finite


def _panel_grid(count: int) -> tuple[Figure, list[Axes], int, int]:
    shown = min(count, MAX_PANELS)
    cols = min(shown, 4)
    rows = math.ceil(shown / cols)
    fig = Figure(figsize=(2.6 * cols + 0.8, 2.5 * rows + 0.7), layout="constrained")
    axes: list[Axes] = list(fig.subplots(rows, cols, squeeze=False).flat)
    for ax in axes[shown:]:
        ax.set_visible(False)
    return fig, axes, shown, cols


def _shared_legend(fig: Figure, axes: list[Axes]) -> None:
    """One legend under the panels, each label once."""
    seen: dict[str, Artist] = {}
    for ax in axes:
        handles, labels = ax.get_legend_handles_labels()
        for handle, label in zip(handles, labels, strict=True):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncols=len(seen))


def backoff_window_png(data: BackoffWindowData, epsilon_s: float) -> bytes:
    """Delays before each retry index as dots and a box, over the window [lo, hi] (±ε shaded)."""
    indexes = sorted(data.per_index)
    fig, axes, shown, cols = _panel_grid(len(indexes))
    rng = np.random.default_rng(0)  # only spreads the dots sideways; the picture is stable
    for i, (ax, k) in enumerate(zip(axes, indexes[:shown], strict=False)):
        block = data.per_index[k]
        delays = _finite(block.delays_s)
        lo, hi = block.lo_s, block.hi_s
        ax.axhspan(
            lo - epsilon_s,
            hi + epsilon_s,
            color=WINDOW_COLOUR,
            alpha=0.12,
            lw=0,
            label="window ± ε",
        )
        ax.axhspan(lo, hi, color=WINDOW_COLOUR, alpha=0.28, lw=0, label="window")
        if block.nominal_s is not None and math.isfinite(block.nominal_s):
            ax.axhline(block.nominal_s, color=MODEL_COLOUR, ls="--", lw=1, label="nominal")
        outside = (delays < lo - epsilon_s) | (delays > hi + epsilon_s)
        inside_pts = delays[~outside]
        if inside_pts.size > MAX_STRIP_POINTS:
            inside_pts = rng.choice(inside_pts, MAX_STRIP_POINTS, replace=False)
        strips = (
            (inside_pts, POINT_COLOUR, "delay", 0.45),
            (delays[outside], OUTSIDE_COLOUR, "outside window ± ε", 0.9),
        )
        for pts, colour, name, alpha in strips:
            if pts.size:
                xs = 1 + rng.uniform(-0.18, 0.18, pts.size)
                ax.scatter(xs, pts, s=6, color=colour, alpha=alpha, label=name)
        if delays.size:
            ax.boxplot(
                delays,
                positions=[1],
                widths=0.55,
                whis=(0, 100),
                showfliers=False,
                medianprops={"color": MODEL_COLOUR},
                boxprops={"color": MODEL_COLOUR},
                whiskerprops={"color": MODEL_COLOUR},
                capprops={"color": MODEL_COLOUR},
            )
        ax.set_xticks([])
        ax.set_xlim(0.4, 1.6)
        ax.set_title(f"retry {k}: n={delays.size}, {int(outside.sum())} outside", fontsize=9)
        if i % cols == 0:
            ax.set_ylabel("delay (s)")
    extra = len(indexes) - shown
    suffix = f" (first {shown} of {len(indexes)} indexes)" if extra else ""
    _shared_legend(fig, axes)
    fig.suptitle(f"Delay before each retry vs the policy window, ε={epsilon_s:g} s{suffix}")
    return _png(fig)


def attempt_distribution_png(data: AttemptDistributionData) -> bytes:
    """Traces per number of attempts, observed bars against the model's expected counts."""
    attempts = np.asarray(data.attempts)
    observed = np.asarray(data.observed, dtype=float)
    total = observed.sum()
    expected = np.asarray(data.expected, dtype=float) * total
    fig = Figure(figsize=(7.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(attempts, observed, width=0.6, color=BAR_COLOUR, edgecolor=POINT_COLOUR, label="seen")
    ax.plot(attempts, expected, "D--", color=MODEL_COLOUR, ms=6, lw=1, label="model (expected)")
    ax.set_xticks(attempts)
    ax.set_xlabel("attempts per trace")
    ax.set_ylabel("traces")
    ax.set_title(f"Attempts per trace: observed vs model ({int(total)} traces)")
    ax.legend()
    return _png(fig)


def success_rate_png(data: SuccessRateData) -> bytes:
    """The observed success rate with its interval, against the model's rate."""
    rate = data.successes / data.n
    lo, hi = data.ci
    fig = Figure(figsize=(7.0, 1.9), layout="constrained")
    ax = fig.add_subplot()
    ax.errorbar(
        [rate],
        [0],
        xerr=[[max(rate - lo, 0.0)], [max(hi - rate, 0.0)]],
        fmt="o",
        color=POINT_COLOUR,
        capsize=6,
        label=f"observed {rate:.4f} [{lo:.4f}, {hi:.4f}]",
    )
    ax.axvline(data.expected_p, color=OUTSIDE_COLOUR, ls="--", label=f"model {data.expected_p:.4f}")
    span = max(hi, data.expected_p, rate) - min(lo, data.expected_p, rate)
    pad = max(span * 0.6, 0.005)
    left = max(min(lo, data.expected_p, rate) - pad, 0.0)
    right = min(max(hi, data.expected_p, rate) + pad, 1.0)
    ax.set_xlim(left, right)
    ax.set_yticks([])
    ax.set_ylim(-1, 1.6)
    ax.set_xlabel("success rate")
    ax.set_title(f"Client success rate: {data.successes} of {data.n}")
    ax.legend(fontsize=8, loc="upper left", ncols=2)
    return _png(fig)


def jitter_png(data: JitterData) -> bytes:
    """Per retry index, a density histogram of delays with the model's density drawn over it."""
    from scipy import stats  # scipy is slow to import; only the jitter plot needs it

    indexes = sorted(data.per_index)
    fig, axes, shown, cols = _panel_grid(len(indexes))
    for i, (ax, k) in enumerate(zip(axes, indexes[:shown], strict=False)):
        block = data.per_index[k]
        delays = _finite(block.delays_s)
        if delays.size:
            ax.hist(delays, bins="auto", density=True, color=BAR_COLOUR, edgecolor=POINT_COLOUR)
        dist = getattr(stats, block.dist, None)
        label = f"{block.dist}(loc={block.loc:g}, scale={block.scale:g})"
        if isinstance(dist, stats.rv_continuous):
            model = dist(loc=block.loc, scale=block.scale)
            lo_q, hi_q = model.ppf([0.001, 0.999])
            lo_x = min(float(lo_q), float(delays.min()) if delays.size else float(lo_q))
            hi_x = max(float(hi_q), float(delays.max()) if delays.size else float(hi_q))
            pad = 0.05 * (hi_x - lo_x or 1.0)
            xs = np.linspace(lo_x - pad, hi_x + pad, 400)
            ax.plot(xs, model.pdf(xs), color=OUTSIDE_COLOUR, lw=1.5, label="model density")
        else:
            label += " (not a scipy density: not drawn)"
        ax.set_title(f"retry {k}: n={delays.size}\n{label}", fontsize=8)
        ax.set_xlabel("delay (s)", fontsize=8)
        if i % cols == 0:
            ax.set_ylabel("density")
    extra = len(indexes) - shown
    suffix = f" (first {shown} of {len(indexes)} indexes)" if extra else ""
    _shared_legend(fig, axes)
    fig.suptitle(f"Jitter: delays vs the model distribution{suffix}")
    return _png(fig)


def telemetry_png(data: TelemetryData) -> bytes:
    """One panel per counter: its increase over the run against the journal's running count."""
    fig, axes, shown, _ = _panel_grid(len(data.counters))
    for ax, course in zip(axes, data.counters[:shown], strict=False):
        ax.step(
            course.times_s,
            course.journal_running,
            where="post",
            color=MODEL_COLOUR,
            linestyle="--",
            label="journal",
        )
        ax.plot(course.times_s, course.counter, color=WINDOW_COLOUR, marker=".", label="counter")
        ax.set_title(f"{course.job}: {course.name}", fontsize=9)
        ax.set_xlabel("s since the run's start")
        if course.per_upstream:  # counter / journal at the end, per server or replica
            lines = [
                f"{u.upstream or '(none)'}→{u.replica or '(none)'}: {u.sut:g} / {u.journal}"
                + ("" if u.sut == u.journal else "  ≠")
                for u in course.per_upstream
            ]
            ax.text(
                0.02,
                0.98,
                "per upstream, counter / journal\n" + "\n".join(lines[:6]),
                transform=ax.transAxes,
                fontsize=7,
                va="top",
            )
    _shared_legend(fig, axes[:shown])
    return _png(fig)


def alerts_png(data: AlertsData) -> bytes:
    """The journal's retries per request each second, with each alert's firing spans shaded."""
    fig = Figure(figsize=(8, 3), layout="constrained")
    ax = fig.subplots()
    xs = [sec - data.start_s for sec, _, _ in data.retry_ratio]
    ax.plot(
        xs,
        [r for _, r, _ in data.retry_ratio],
        color=POINT_COLOUR,
        marker=".",
        label="journal: retries per request",
    )
    names = sorted({s.alert for s in data.spans})
    for i, name in enumerate(names):
        colour = OUTSIDE_COLOUR if i == 0 else BAR_COLOUR
        for j, span in enumerate(s for s in data.spans if s.alert == name):
            ax.axvspan(
                span.start_s - data.start_s,
                span.end_s - data.start_s + 1,
                alpha=0.25,
                color=colour,
                label=f"{name} firing" if j == 0 else None,
            )
    ax.set_xlabel("s since the run's start")
    ax.set_ylabel("retries per request")
    ax.legend(fontsize=8)
    return _png(fig)
