"""Figures embedded in the report pages (levguard.report.embed): a small figure's JSON is plain
text in the page, a large one is gzipped and base64-encoded and unpacks to the same JSON."""

from __future__ import annotations

import base64
import gzip
import json
import re

import numpy as np
import plotly.graph_objects as go

from levguard.report.embed import PACK_FIGURE_ABOVE, figures_html


def _figure(n: int) -> go.Figure:
    rng = np.random.default_rng(7)
    z = rng.normal(size=(n, n))
    text = np.array([[f"{v:.4g}, liquidatable </script>" for v in row] for row in z], dtype=object)
    return go.Figure(go.Contour(z=z, text=text, hovertemplate="%{text}<extra></extra>"))


def test_a_small_figure_is_plain_text_and_cannot_end_its_script() -> None:
    fig = _figure(5)
    assert len(fig.to_json()) < PACK_FIGURE_ABOVE
    first, second = figures_html([fig, fig])
    assert first.count("atob(") == 1  # plotly.js once, in the first
    assert "atob(" not in second
    assert "levguardUnpack('" not in second
    assert second.count("</script>") == 1  # the figure's own "</script>" strings cannot end it


def test_a_large_figure_is_packed_and_unpacks_to_its_json() -> None:
    fig = _figure(200)
    spec = fig.to_json()
    assert len(spec) > PACK_FIGURE_ABOVE
    (part,) = figures_html([fig])
    packed = re.findall(r"window\.levguardUnpack\('([A-Za-z0-9+/=]+)'\)", part)
    assert len(packed) == 1
    assert len(packed[0]) < len(spec) / 2
    unpacked = gzip.decompress(base64.b64decode(packed[0])).decode("utf-8")
    assert unpacked == spec
    assert json.loads(unpacked)["data"][0]["type"] == "contour"  # plain JSON: JSON.parse reads it
    assert part.count("Plotly.newPlot(") == 1
