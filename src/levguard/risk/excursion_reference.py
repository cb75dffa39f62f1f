"""Build the reference excursion tables of the ``excursion`` model from hourly mark bars.

The ``excursion`` liquidation forecaster reads the distribution of standardised excursions from
an asset's own history; where that history is too short (a new listing, a short file) it uses
reference tables instead (:func:`levguard.core.risk.excursion.reference_distribution`).  The
shipped tables, :mod:`levguard.core.risk.excursion_reference`, were written by this module from
the BTCUSDT and ETHUSDT marks of ``../shared/data`` (Binance USD-M, 1h), every window closed by
the last refit before 2023-01-01: the data the model was chosen on (docs/validation.md)::

    python -m levguard.risk.excursion_reference ../shared/data/ohlcv

writes them again (``--out`` elsewhere); a test rebuilds them and compares.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from levguard.core.risk.excursion import (
    HORIZON_GRID_HOURS,
    REFERENCE_FIELDS,
    REFERENCE_QUANTILES,
    ExcursionParams,
    reference_table,
)
from levguard.core.risk.forecast import refit_time_ns, standardised_pools
from levguard.data.frames import hourly_bars
from levguard.errors import InputError

__all__ = [
    "REFERENCE_ASSETS",
    "REFERENCE_UNTIL",
    "ReferenceTables",
    "build_reference",
    "load_marks",
    "reference_cutoff_ns",
    "reference_params",
    "render_module",
]

REFERENCE_ASSETS: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
"""The assets the shipped tables pool."""

REFERENCE_UNTIL = "2023-01-01"
"""The shipped tables use windows closed by the last refit at or before this time (UTC)."""

ReferenceTables = tuple[tuple[tuple[float, ...], ...], tuple[tuple[float, float, float, float], ...]]
"""Per grid horizon, the kept quantiles and ``(threshold, tail_mass, xi, beta)``."""


def build_reference(
    frames: Sequence[pd.DataFrame], until: str = REFERENCE_UNTIL, params: ExcursionParams | None = None
) -> ReferenceTables:
    """Return the reference tables of hourly bar frames pooled (one frame per asset).

    Parameters
    ----------
    frames : sequence of DataFrame
        Hourly bars as :func:`levguard.risk.liquidation_forecasts` takes them (the ``mark_*``
        columns are used when present).
    until : str or timestamp
        Only excursion windows closed by the last refit at or before this time are pooled.
    params : ExcursionParams, optional
        The model's parameters (its defaults when omitted).

    Returns
    -------
    ReferenceTables
        :func:`~levguard.core.risk.excursion.reference_table` of each grid horizon's pool.
    """
    if not frames:
        raise InputError("build_reference needs at least one frame of bars")
    p = params or ExcursionParams()
    per_asset = [standardised_pools(hourly_bars(f), _utc_ns(until), p) for f in frames]
    tables = [
        reference_table(np.concatenate([pools[k] for pools in per_asset]), p.tail_quantile, REFERENCE_QUANTILES)
        for k in range(len(HORIZON_GRID_HOURS))
    ]
    return tuple(q for q, _ in tables), tuple(tail for _, tail in tables)


def _utc_ns(when: str) -> int:
    t = pd.Timestamp(when)
    return int((t.tz_localize("UTC") if t.tz is None else t.tz_convert("UTC")).value)


def reference_cutoff_ns(until: str = REFERENCE_UNTIL, params: ExcursionParams | None = None) -> int:
    """Return the refit time (UTC ns) at or before ``until`` whose closed windows the tables pool."""
    return int(refit_time_ns(np.array([_utc_ns(until)]), params or ExcursionParams())[0])


def reference_params(params: ExcursionParams | None = None) -> dict[str, float | str]:
    """Return the ``ExcursionParams`` fields that shape standardised excursions (the tables hold for these)."""
    p = params or ExcursionParams()
    return {f: getattr(p, f) for f in REFERENCE_FIELDS}


def load_marks(directory: str | Path, assets: Sequence[str] = REFERENCE_ASSETS) -> list[pd.DataFrame]:
    """Load ``{asset}-PERP_1h.csv`` with ``{asset}-MARK_1h.csv`` as the mark, per asset, from a directory."""
    from levguard.data.loaders import load_ohlcv
    from levguard.data.perp import perp_frame

    d = Path(directory)
    out = []
    for a in assets:
        last, mark = d / f"{a}-PERP_1h.csv", d / f"{a}-MARK_1h.csv"
        if not (last.is_file() and mark.is_file()):
            raise InputError(f"{a}: {last.name} and {mark.name} must both be in {d}")
        out.append(perp_frame(load_ohlcv(last), load_ohlcv(mark, kind="mark")))
    return out


def _floats(values: Sequence[float]) -> list[str]:
    return [repr(float(v)) for v in values]


def render_module(
    tables: ReferenceTables,
    assets: Sequence[str] = REFERENCE_ASSETS,
    until: str = REFERENCE_UNTIL,
    params: ExcursionParams | None = None,
) -> str:
    """Return the source text of :mod:`levguard.core.risk.excursion_reference` for ``tables``."""
    quantiles, tails = tables
    cutoff = reference_cutoff_ns(until, params)
    when = pd.Timestamp(cutoff, tz="UTC").isoformat()
    out = [
        '"""Reference standardised excursions of the ``excursion`` liquidation forecaster (generated).',
        "",
        f"Written by ``python -m levguard.risk.excursion_reference`` from the {' and '.join(assets)} marks",
        f"(Binance USD-M, 1h), every window closed by the last refit before {until} (UTC); one entry",
        "per ``HORIZON_GRID_HOURS`` horizon.  Read by",
        ":func:`levguard.core.risk.excursion.reference_distribution`.  Do not edit by hand.",
        '"""',
        "",
        "ASSETS: tuple[str, ...] = (" + "".join(f'"{a}", ' for a in assets).rstrip(", ") + ")",
        f'UNTIL = "{until}"',
        f"CUTOFF_NS = {cutoff}",
        f'"""Every pooled window closed by this refit time ({when}); the tables are not used for',
        'a forecast known before it (no look-ahead)."""',
        "PARAMS: dict[str, float | str] = {",
        *(f'    "{k}": {json.dumps(v)},' for k, v in reference_params(params).items()),
        "}",
        '"""The ``ExcursionParams`` fields the tables were built with; other values do not use them."""',
        f"HORIZON_GRID_HOURS: tuple[int, ...] = {tuple(HORIZON_GRID_HOURS)!r}",
        "",
        "# fmt: off",
        "QUANTILES: tuple[tuple[float, ...], ...] = (",
    ]
    for q in quantiles:  # one line per horizon (long lines: E501 is off for the generated module)
        out.append("    (" + ", ".join(_floats(q)) + "),")
    out.append(")")
    out.append('"""Per horizon, the quantiles at levels ``(i + 1/2) / n`` of the pooled standardised excursions."""')
    out.append("")
    out.append("TAILS: tuple[tuple[float, float, float, float], ...] = (")
    for tail in tails:
        out.append("    (" + ", ".join(_floats(tail)) + "),")
    out.append(")")
    out.append("# fmt: on")
    out.append('"""Per horizon, ``(threshold, tail_mass, xi, beta)`` of the generalised Pareto tail."""')
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the reference module from a directory of ``*-PERP_1h.csv`` and ``*-MARK_1h.csv`` files."""
    from levguard.core.risk import excursion

    ap = argparse.ArgumentParser(prog="python -m levguard.risk.excursion_reference", description=__doc__.split("\n")[0])
    ap.add_argument("directory", help="directory of {ASSET}-PERP_1h.csv and {ASSET}-MARK_1h.csv")
    ap.add_argument("--until", default=REFERENCE_UNTIL)
    ap.add_argument("--out", default=str(Path(excursion.__file__).with_name("excursion_reference.py")))
    args = ap.parse_args(argv)
    try:
        text = render_module(build_reference(load_marks(args.directory), args.until), until=args.until)
    except (InputError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
