"""The statistics' charts as SVG, rendered on the server with ``pygal``: served as image files
(``<img src="….svg">``), so they work without JavaScript and under the pages' Content-Security-Policy.
pygal's own scripts (tooltips, its configuration) are left out and its inline styles stay inside the SVG
document, which a browser shows as an image without running anything."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pygal
from pygal.style import Style

STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1d2433",
    foreground_strong="#1d2433",
    foreground_subtle="#5a6275",
    colors=("#8a1538", "#1f6f43", "#2b5797", "#b35900", "#6b4c9a", "#5a6275"),
    font_family="system-ui, sans-serif",
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=13,
    title_font_size=16,
)
_OPTIONS = {"style": STYLE, "js": [], "disable_xml_declaration": False, "width": 720, "height": 400,
            "legend_at_bottom": True, "print_values": False, "show_y_guides": True, "explicit_size": False}


_SCRIPT = re.compile(rb"<script\b.*?</script>", re.DOTALL)
# How the SVG is served: nothing in it runs, even when opened on its own.
SVG_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'", "Cache-Control": "no-store"}


def _svg(chart: pygal.graph.graph.Graph) -> bytes:
    """The chart without pygal's configuration script (nothing is left for it to configure)."""
    return _SCRIPT.sub(b"", bytes(chart.render()))


def bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[int]], *, stacked: bool = False) -> bytes:
    kind = pygal.StackedBar if stacked else pygal.Bar
    chart = kind(title=title, x_label_rotation=0 if len(labels) <= 6 else 30, **_OPTIONS)
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return _svg(chart)


def horizontal(title: str, values: Mapping[str, int]) -> bytes:
    chart = pygal.HorizontalBar(title=title, show_legend=False, **_OPTIONS)
    chart.x_labels = list(values)
    chart.add(title, list(values.values()))
    return _svg(chart)


def pie(title: str, values: Mapping[str, int]) -> bytes:
    chart = pygal.Pie(title=title, inner_radius=0.4, **_OPTIONS)
    for name, value in values.items():
        chart.add(name, value)
    return _svg(chart)
