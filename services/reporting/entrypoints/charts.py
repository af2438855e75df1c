"""Inline SVG charts rendered on the server: no JavaScript, no CDN, readable in any browser and in print.

Every chart also writes its numbers as text, so the figures are readable without the graphics.
"""

from __future__ import annotations

from html import escape

PALETTE = ("#1f5fa8", "#e07b24", "#2e9e5b", "#b8372f", "#7d4fb0", "#5b6770", "#c9a227", "#3aa6b9")
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'


def _svg(width: int, height: int, body: str, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
            f'role="img" aria-label="{escape(title)}" {FONT} font-size="13">'
            f"<title>{escape(title)}</title>{body}</svg>")


def hbars(rows: list[tuple[str, float, str]], title: str, *, width: int = 420, unit: str = "",
          colour: str = PALETTE[0]) -> str:
    """Horizontal bars: (label, value, data-kpi path) per row, value printed at the bar's end."""
    if not rows:
        return f'<p class="empty">No data yet for {escape(title.lower())}.</p>'
    label_w, bar_h, gap = 130, 22, 8
    top = max((v for _, v, _ in rows), default=0) or 1
    span = width - label_w - 70
    parts = []
    for i, (label, value, path) in enumerate(rows):
        y = i * (bar_h + gap)
        w = max(value / top * span, 1 if value else 0)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" fill="#1d2733">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="3" fill="{colour}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 16}" fill="#1d2733" font-weight="600" '
            f'data-kpi="{escape(path)}" data-value="{value}">{_fmt(value)}{unit}</text>'
        )
    return _svg(width, len(rows) * (bar_h + gap), "".join(parts), title)


def grouped_hbars(labels: list[str], series: list[tuple[str, dict[str, int], str]], title: str, width: int = 420) -> str:
    """Bars per label for several series (name, values by label, data-kpi prefix), with a legend."""
    if not labels:
        return f'<p class="empty">No data yet for {escape(title.lower())}.</p>'
    label_w, bar_h, inner, gap = 150, 14, 2, 10
    top = max((s.get(label, 0) for _, s, _ in series for label in labels), default=0) or 1
    span = width - label_w - 50
    group_h = len(series) * (bar_h + inner) + gap
    parts = []
    for i, label in enumerate(labels):
        y0 = 24 + i * group_h
        parts.append(f'<text x="{label_w - 8}" y="{y0 + len(series) * (bar_h + inner) / 2 + 4:.0f}" text-anchor="end" '
                     f'fill="#1d2733">{escape(label)}</text>')
        for j, (name, values, prefix) in enumerate(series):
            v = values.get(label, 0)
            y = y0 + j * (bar_h + inner)
            w = max(v / top * span, 1 if v else 0)
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="2" fill="{PALETTE[j]}"/>'
                f'<text x="{label_w + w + 5:.1f}" y="{y + 11}" font-size="12" fill="#1d2733" '
                f'data-kpi="{escape(prefix)}.{escape(label)}" data-value="{v}">{v}</text>'
            )
    legend = "".join(
        f'<rect x="{label_w + j * 150}" y="2" width="12" height="12" fill="{PALETTE[j]}"/>'
        f'<text x="{label_w + 18 + j * 150}" y="13">{escape(name)}</text>' for j, (name, _, _) in enumerate(series)
    )
    return _svg(width, 24 + len(labels) * group_h, legend + "".join(parts), title)


def progress_line(months: list[str], cumulative: list[int], targets: list[tuple[int, int, str]], title: str,
                  width: int = 1300, height: int = 330) -> str:
    """A running total per month (``cumulative`` may stop before the axis ends) as a line, and targets
    (month index, value, label) as diamonds; month labels on the x axis every quarter."""
    if not cumulative:
        return f'<p class="empty">No data yet for {escape(title.lower())}.</p>'
    left, right, top_pad, bottom = 48, 56, 16, 40
    n = len(months)
    every = 3 if n <= 36 else 6
    top = max(cumulative + [t for _, t, _ in targets] + [1])
    top = ((top + 9) // 10) * 10
    plot_w, plot_h = width - left - right, height - top_pad - bottom

    def x(i: float) -> float:
        return left + (i / max(n - 1, 1)) * plot_w

    def y(v: float) -> float:
        return top_pad + plot_h - v / top * plot_h

    parts = []
    for k in range(0, 5):
        v = top * k / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e3e7ec"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11" fill="#5b6770">{v:.0f}</text>')
    for i, label in enumerate(months):
        if i % every == 0:
            parts.append(f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="11" '
                         f'fill="#5b6770">{escape(label)}</text>')
    for month, value, label in targets:
        if month > n - 1:
            continue
        cx, cy = x(month), y(value)
        parts.append(
            f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{top_pad}" y2="{y(0):.1f}" stroke="{PALETTE[1]}" stroke-dasharray="4 4"/>'
            f'<path d="M{cx:.1f},{cy - 7:.1f} l7,7 l-7,7 l-7,-7 z" fill="{PALETTE[1]}"/>'
            f'<text x="{cx - 10:.1f}" y="{cy - 10:.1f}" text-anchor="end" font-size="12" font-weight="600" '
            f'fill="{PALETTE[1]}">{escape(label)}</text>'
        )
    path = " ".join(f"{'M' if i == 0 else 'L'}{x(i):.1f},{y(v):.1f}" for i, v in enumerate(cumulative))
    last = len(cumulative) - 1
    area = path + f" L{x(last):.1f},{y(0):.1f} L{x(0):.1f},{y(0):.1f} Z"
    parts.append(f'<path d="{area}" fill="{PALETTE[0]}" fill-opacity="0.12"/>'
                 f'<path d="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="2.5"/>'
                 f'<circle cx="{x(last):.1f}" cy="{y(cumulative[-1]):.1f}" r="4" fill="{PALETTE[0]}"/>'
                 f'<text x="{x(last) + 8:.1f}" y="{y(cumulative[-1]) + 4:.1f}" font-weight="700" fill="{PALETTE[0]}">'
                 f'{cumulative[-1]}</text>')
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#9aa5b1"/>')
    return _svg(width, height, "".join(parts), title)


def _fmt(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.2f}"
    return f"{int(value):,}".replace(",", "\u202f")
