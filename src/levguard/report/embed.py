"""plotly figures embedded in a self-contained HTML page: plotly.js once, gzipped, and each figure's JSON.

plotly.js (4.8 MB) is embedded gzipped and base64-encoded (about 2.0 MB) and unpacked by the
browser's ``DecompressionStream``; a figure's JSON longer than :data:`PACK_FIGURE_ABOVE` is packed
the same way (a 401-point liquidation surface has a hover text at every grid point).  The page
fetches nothing from the network.
"""

from __future__ import annotations

import base64
import functools
import gzip
import uuid
from collections.abc import Sequence
from typing import Any

__all__ = ["PACK_FIGURE_ABOVE", "figures_html"]


@functools.lru_cache(maxsize=1)
def _plotly_gzip_b64() -> str:
    # plotly.min.js (4.8 MB) gzipped and base64-encoded: 2.0 MB in the file; the page inflates it
    # with the browser's DecompressionStream before drawing.
    from plotly.offline import get_plotlyjs

    raw = get_plotlyjs().encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii")


_LOADER = (
    "<script>(function(){{var q=window.levguardQ=window.levguardQ||[];"
    "window.levguardPlot=function(f){{if(window.Plotly){{f()}}else{{q.push(f)}}}};"
    "function fail(e){{var n=document.getElementById('lg-noplot');if(n){{n.hidden=false}};"
    "if(window.console){{console.error(e)}}}}"
    "window.levguardFail=fail;"
    "function unpack(b64){{var s=atob(b64),b=new Uint8Array(s.length);"
    "for(var i=0;i<s.length;i++){{b[i]=s.charCodeAt(i)}}"
    "return new Response(new Blob([b]).stream().pipeThrough(new DecompressionStream('gzip'))).text()}}"
    "window.levguardUnpack=unpack;"
    "try{{unpack('{js}')"
    ".then(function(code){{(0,eval)(code);while(q.length){{q.shift()()}}}}).catch(fail)}}catch(e){{fail(e)}}"
    "}})();</script><p id='lg-noplot' class='note' hidden>This browser cannot unpack the embedded "
    "plotly.js (it needs DecompressionStream: Chrome 80, Firefox 113, Safari 16.4 or later).</p>"
)

PACK_FIGURE_ABOVE = 256 * 1024
"""A figure's JSON longer than this (characters) is embedded gzipped and base64-encoded, like plotly.js."""


def _figure_html(fig: Any) -> str:
    # One figure as a div and the script that draws it once plotly.js is unpacked.  The figure's
    # JSON is plain text in the page ("</" escaped so that no string ends the script), or, when it
    # is longer than PACK_FIGURE_ABOVE, gzipped and base64-encoded and unpacked by the loader's
    # levguardUnpack (DecompressionStream) before it is drawn.
    spec = fig.to_json()
    height = fig.layout.height or 450
    div = f"lg-{uuid.uuid4().hex[:12]}"
    draw = f'function(s){{s.config={{responsive:true,displaylogo:false}};Plotly.newPlot("{div}",s)}}'
    if len(spec) > PACK_FIGURE_ABOVE:
        packed = base64.b64encode(gzip.compress(spec.encode("utf-8"), compresslevel=6, mtime=0)).decode("ascii")
        then = f"function(t){{({draw})(JSON.parse(t))}}"
        body = f"window.levguardUnpack('{packed}').then({then}).catch(window.levguardFail)"
    else:
        escaped = spec.replace("</", "<\\/")
        body = f"({draw})({escaped})"
    return (
        f'<div id="{div}" class="fig" style="min-height:{int(height)}px"></div><script>'
        "(window.levguardPlot||function(f){(window.levguardQ=window.levguardQ||[]).push(f)})(function(){"
        f"{body}}});</script>"
    )


def figures_html(figures: Sequence[Any]) -> list[str]:
    """HTML fragments of plotly figures; plotly.js is embedded once, in the first.

    plotly.js is embedded gzipped (base64, about 2.0 MB instead of 4.8 MB) and unpacked by the
    browser (``DecompressionStream``); the figures are drawn once it is loaded.  The page fetches
    nothing from the network.
    """
    parts = [_figure_html(fig) for fig in figures]
    if parts:
        parts[0] = _LOADER.format(js=_plotly_gzip_b64()) + parts[0]
    return parts
