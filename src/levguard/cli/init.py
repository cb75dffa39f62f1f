"""``levguard init [DIR]``: write every sample file the README and the docs use.

The account, book, policy, backtest, sweep, cascade, replay and guardian files are the commented
samples packaged in ``levguard/resources/samples`` (the replay config points at the real data in
``../shared/data/events``, which is not packaged: ``levguard replay`` says so in one line when it is
missing); the tier file is the packaged Binance bracket snapshot
in Binance's own API shape; the market data are two years of the embedded synthetic market
(seed 7) written in the layout of real exchange files (``ohlcv/BTCUSDT-PERP_1h.csv``,
``ohlcv/BTCUSDT-MARK_1h.csv``, ``funding/BTCUSDT_funding.csv``) so that ``levguard demo --data .``
and ``levguard validate liquidation`` run on them. Existing files are never overwritten unless
``--force`` is given.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer

from levguard.cli._errors import fail
from levguard.cli._paths import check_outputs
from levguard.errors import LevguardError
from levguard.files import replacing

#: Packaged samples copied as they are: file name -> what it is for.
SAMPLES: dict[str, str] = {
    "account.yaml": "a cross-margined Binance account (levguard margin / size / risk)",
    "binance_cross_faq.yaml": "Binance's own cross-margin worked example (levguard margin)",
    "unified_account.yaml": "a Binance Portfolio Margin account with BTC collateral (levguard margin)",
    "book.yaml": "two accounts with options and a volatility smile (levguard risk)",
    "policy.yaml": "a composite leverage policy (levguard size, backtests, the guardian)",
    "backtest.yaml": "a strategy under three leverage policies (levguard backtest)",
    "sweep.yaml": "a parameter sweep (levguard backtest)",
    "cascade.yaml": "a liquidation cascade and a venue calibration (levguard cascade / calibrate)",
    "guard.yaml": "the guardian on a paper account (levguard guard / serve)",
    "defi_aave.yaml": "an Aave v3 account: WETH and WBTC against USDC (levguard defi / defi loop)",
    "defi_morpho.yaml": "a Morpho Blue wstETH/WETH position (levguard defi / defi loop)",
    "replay-2025-10-10.yaml": "the 2025-10-10 crash replay; needs ../shared/data/events (levguard replay)",
    "contagion.yaml": "two assets on two venues, factor-jump paths (levguard contagion)",
}
#: Where a sample's packaged name differs from the name it is written under.
_PACKAGED_AS = {"account.yaml": "cross_account.yaml", "sweep.yaml": "backtest_sweep.yaml"}

_DATA_START = "2022-01-01"
_DATA_YEARS = 2.0


def _tiers_json() -> str:
    """The packaged BTCUSDT and ETHUSDT brackets in Binance's ``leverageBracket`` shape."""
    from levguard.core.rules import get_venue

    venue = get_venue("binance-usdm")
    out: dict[str, list[dict[str, Any]]] = {}
    for symbol in ("BTCUSDT", "ETHUSDT"):
        table = venue.builtin_tiers[symbol]
        rows = []
        for i, tier in enumerate(table.tiers):
            rows.append(
                {
                    "bracket": i + 1,
                    "initialLeverage": int(tier.max_leverage),
                    "notionalCap": tier.notional_cap,
                    "notionalFloor": tier.notional_floor,
                    "maintMarginRatio": tier.mmr,
                    "cum": tier.maint_amount,
                }
            )
        out[symbol] = rows
    return json.dumps(out, indent=2) + "\n"


def _text_writer(text: str) -> Callable[[Path], object]:
    return lambda path: path.write_text(text, encoding="utf-8")


def _market_files(root: Path) -> dict[Path, Callable[[Path], object]]:
    """Writers of the synthetic market in the layout of real exchange files."""
    from levguard.data.loaders import save_frame
    from levguard.data.synth import SynthConfig, synth_market

    cache: dict[str, Any] = {}

    def market() -> Any:
        if "m" not in cache:
            cache["m"] = synth_market(
                SynthConfig(symbol="BTCUSDT", years=_DATA_YEARS, interval="1h", seed=7, start=_DATA_START)
            )
        return cache["m"]

    def venue_copy(name: str, basis: float) -> Any:
        # One venue's hourly bars of the last two weeks: the same market seen with a small basis
        # difference; bybit has one bad print (for `levguard data index`).
        bars = market().ohlcv.iloc[-24 * 14 :]
        frame = bars.copy()
        for col in ("open", "high", "low", "close"):
            frame[col] = frame[col] * basis
        if name == "bybit":  # a 10 % bad print, kept a valid bar (high >= close)
            spike = float(frame["close"].iloc[100]) * 1.1
            frame.iloc[100, frame.columns.get_loc("close")] = spike
            frame.iloc[100, frame.columns.get_loc("high")] = max(spike, float(frame["high"].iloc[100]))
        frame.attrs = {**bars.attrs, "source": f"synthetic({name})"}
        return frame

    def writer(pick: Callable[[], Any]) -> Callable[[Path], object]:
        return lambda path: save_frame(pick(), path)

    files: dict[Path, Callable[[Path], object]] = {
        root / "ohlcv" / "BTCUSDT-PERP_1h.csv": writer(lambda: market().ohlcv),
        root / "ohlcv" / "BTCUSDT-MARK_1h.csv": writer(lambda: market().mark),
        root / "funding" / "BTCUSDT_funding.csv": writer(lambda: market().funding),
    }
    for name, basis in (("binance", 1.0), ("okx", 0.9998), ("bybit", 1.0003)):
        files[root / "venues" / f"{name}_1h.csv"] = writer(functools.partial(venue_copy, name, basis))
    return files


def init(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder to write into (created if missing).")] = Path(
        "."
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist.")] = False,
) -> None:
    """Write the sample files the README and the docs use (accounts, policies, configs, data)."""
    samples = resources.files("levguard.resources").joinpath("samples")
    writers: dict[Path, tuple[Callable[[Path], object], str]] = {}
    for name, what in SAMPLES.items():
        text = samples.joinpath(_PACKAGED_AS.get(name, name)).read_text(encoding="utf-8")
        writers[directory / name] = (_text_writer(text), what)
    writers[directory / "tiers.json"] = (
        _text_writer(_tiers_json()),
        "Binance BTCUSDT/ETHUSDT brackets in Binance's API shape (levguard margin --tiers)",
    )
    for path, write in _market_files(directory).items():
        writers[path] = (write, "synthetic market, 2022-2023, seed 7, in Binance's file layout")
    existing = [p for p in writers if p.exists()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        fail(f"{existing[0]} exists{more}; nothing was written; use --force to overwrite")
    try:
        check_outputs((str(path), path) for path in writers)  # a directory in a file's place, before writing
        with replacing(*writers) as temps:  # all the samples or none (a full disk keeps the old ones)
            for temp, (write, _) in zip(temps, writers.values(), strict=True):
                write(temp)
    except (OSError, LevguardError) as exc:
        fail(f"cannot write the samples into {directory}: {exc}")
    for path, (_, what) in writers.items():
        typer.echo(f"wrote {path}  ({what})")
