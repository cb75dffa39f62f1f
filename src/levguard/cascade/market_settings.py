"""Settings and accounts of the market cascade simulator (v2): K assets on V venues.

* :class:`MarketVenue`: one venue's books (one v1 :class:`~levguard.cascade.settings.Market`
  per asset), liquidation rules (:class:`~levguard.cascade.settings.MarginRegime`), maintenance
  per asset, fund, liquidator and oracle (:class:`~levguard.cascade.settings.VenueSettings`) and
  ADL rule (a :data:`levguard.core.rules.adl.ADL_VENUES` name).
* :class:`Arbitrage`: the speed and capacity with which arbitrage pulls venue prices together.
* :class:`MarketSpec`: the assets, venues and arbitrage.
* :class:`MarketPopulation`: accounts, each on one venue with a cross-margin wallet and a signed
  position per asset, and an owner id (the same owner on two venues: a hedged account).

:func:`kernel_inputs` translates them into the records of :mod:`levguard.kernels.cascade_v2_records`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from levguard.cascade.market_collateral import Haircut, collateral_entry, haircut_rows, units_for_value
from levguard.cascade.population import Population
from levguard.cascade.settings import MarginRegime, Market, VenueSettings, _pos
from levguard.core.rules.adl import ADL_VENUES
from levguard.core.rules.base import STEP_MODES
from levguard.core.rules.collateral import CollateralTiers
from levguard.core.validate import no_bools_or_strings, show
from levguard.errors import InputError
from levguard.kernels import liquidation as kl
from levguard.kernels import readonly
from levguard.kernels.cascade_records import ImpactModel
from levguard.kernels.cascade_v2_records import (
    ADL_RULE_NAMES,
    BOOK_DTYPE,
    VENUE_DTYPE,
    BookTiers,
    MarketAccounts,
    MarketConfig,
)

__all__ = ["Arbitrage", "MarketPopulation", "MarketSpec", "MarketVenue", "kernel_inputs"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Arbitrage:
    """Arbitrage between the venues' books of one asset.

    Parameters
    ----------
    speed : float
        Fraction of each venue's gap to the depth-weighted mean log price deviation closed per
        step, in [0, 1] (0: venues never converge; 1: one step, capacity permitting).
    capacity : float
        Notional arbitrageurs can buy, and sell, per asset and step (quote, > 0; ``inf``: no cap).
    """

    speed: float = 0.0
    capacity: float = math.inf

    def __post_init__(self) -> None:
        _pos(self.speed, "arbitrage.speed", allow_zero=True, upper=1.0)
        if not (isinstance(self.capacity, int | float) and not isinstance(self.capacity, bool)) or not (
            self.capacity > 0.0
        ):
            raise InputError(f"arbitrage.capacity must be > 0 (inf: no cap), was {self.capacity!r}")


@dataclass(frozen=True)
class MarketVenue:
    """One venue of the market.

    Parameters
    ----------
    name : str
        The venue's name (reports).
    books : Market or sequence of Market
        The book of each asset (one :class:`Market` for every asset, or one per asset): depth,
        impact law, resilience, depth multiplier.
    regime : MarginRegime
        Liquidation rules (fee, partial rule, outcome, backstop, dynamic margin) and the
        maintenance of every asset without its own entry in ``maintenance``.
    maintenance : sequence of (MarginRegime or None), optional
        Per asset, a regime whose maintenance (``mmr`` or ``tiers``) that asset uses.
    settings : VenueSettings
        Insurance fund, ADL switch, liquidator latency, mark lag, oracle, rounds.
    adl_rule : str
        Whose ADL ranking and fill price: ``bitmex``, ``binance-usdm``, ``bybit-linear`` or
        ``hyperliquid`` (:mod:`levguard.core.rules.adl`).
    collateral : mapping of str to (float, str or CollateralTiers), optional
        Assets the venue takes as margin collateral, by name: a flat haircut in [0, 1), the
        progressive collateral ratios of a unified account
        (:class:`~levguard.core.rules.collateral.CollateralTiers`), or the name of a venue's
        published table (``"binance-pm"``, ``"bybit-uta"``, ``"okx-mcm"``,
        :mod:`levguard.cascade.market_collateral`); kept as ``((asset, haircut or CollateralTiers), ...)``.
        On this venue such an asset is a spot holding, not a contract: accounts hold it long
        (``qty >= 0``), its value counts in equity at the venue's mark and its haircut counts
        like a maintenance rate (an account is liquidated when ``equity - sum h q mark`` falls
        to the maintenance of its contracts), and a liquidation sells it into the venue's
        book of that asset, so the venue's price of the collateral falls with the selling.
        See :meth:`MarketPopulation.with_collateral` and docs/cascade.md, "Collateral assets
        and depegs".
    mark_source : str
        The price the venue's mark (its oracle) reads, before the mark lag and oracle sources:
        ``"book"`` (default) its own traded price; ``"exogenous"`` the exogenous path, an
        index outside the simulated books; or another venue's name, that venue's traded price
        (a lending pool whose Chainlink feed follows a centralised exchange, or a venue whose
        index is another venue's price).

    Notes
    -----
    The haircut as a maintenance rate is the collateral-ratio rule of unified margin: Binance
    Portfolio Margin values each asset at ``value x collateral ratio`` in the adjusted equity
    that uniMMR compares with the maintenance margin, and Bybit's UTA counts each coin at its
    value times its tiered collateral value ratio (docs/unified.md;
    :mod:`levguard.core.unified`).  The tiers become the book's tiered maintenance
    (:func:`~levguard.cascade.market_collateral.haircut_rows`).
    """

    name: str
    books: Market | Sequence[Market]
    regime: MarginRegime = field(default_factory=MarginRegime)
    maintenance: Sequence[MarginRegime | None] | None = None
    settings: VenueSettings = field(default_factory=VenueSettings)
    adl_rule: str = "bitmex"
    collateral: Mapping[str, float | str | CollateralTiers] | tuple[tuple[str, Haircut], ...] | None = None
    mark_source: str = "book"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"venue.name must be a non-empty string, was {self.name!r}")
        if not isinstance(self.books, Market | Iterable) or isinstance(self.books, str):  # None: raw TypeError
            raise InputError(f"venue {self.name!r}: books must be a Market or a list of them, was {self.books!r}")
        books = (self.books,) if isinstance(self.books, Market) else tuple(self.books)
        for j, b in enumerate(books):
            if not isinstance(b, Market):
                raise InputError(f"venue {self.name!r}: books[{j}] must be a levguard.cascade.Market, was {b!r}")
        if not books:
            raise InputError(f"venue {self.name!r}: books must not be empty")
        object.__setattr__(self, "books", books)
        if not isinstance(self.regime, MarginRegime):
            raise InputError(f"venue {self.name!r}: regime must be a MarginRegime, was {self.regime!r}")
        if self.regime.by_size and self.regime.tiers is not None:  # the market kernels read notional caps
            self.regime.tiers.notional_only(f"venue {self.name!r}: regime.tiers")
        if self.regime.max_leverage is not None or self.regime.oi_cap is not None:
            raise InputError(
                f"venue {self.name!r}: regime.max_leverage/oi_cap are population caps; apply them with "
                "MarketPopulation.from_population(population, regime=...) instead"
            )
        if self.maintenance is not None:
            if isinstance(self.maintenance, str) or not isinstance(self.maintenance, Sequence):
                raise InputError(
                    f"venue {self.name!r}: maintenance must be a sequence of MarginRegime or None per asset, "
                    f"was {self.maintenance!r}"
                )
            maint = tuple(self.maintenance)
            for j, m in enumerate(maint):
                if m is not None and not isinstance(m, MarginRegime):
                    raise InputError(f"venue {self.name!r}: maintenance[{j}] must be a MarginRegime or None, was {m!r}")
                if m is not None and m.by_size and m.tiers is not None:
                    m.tiers.notional_only(f"venue {self.name!r}: maintenance[{j}].tiers")
                if m is not None and m.kind == "dynamic":
                    raise InputError(
                        f"venue {self.name!r}: maintenance[{j}] is dynamic; dynamic margin is the venue's "
                        "regime (regime=MarginRegime(kind='dynamic', ...)), a per-asset entry gives tiers only"
                    )
            object.__setattr__(self, "maintenance", maint)
        if not isinstance(self.settings, VenueSettings):
            raise InputError(f"venue {self.name!r}: settings must be a VenueSettings, was {self.settings!r}")
        rule = self.adl_rule.strip().lower() if isinstance(self.adl_rule, str) else self.adl_rule
        if rule not in ADL_VENUES:
            raise InputError(
                f"venue {self.name!r}: adl_rule must be one of {', '.join(ADL_VENUES)}, was {self.adl_rule!r}"
            )
        object.__setattr__(self, "adl_rule", rule)
        object.__setattr__(self, "collateral", tuple(self._haircuts().items()))
        if not isinstance(self.mark_source, str) or not self.mark_source:
            raise InputError(
                f"venue {self.name!r}: mark_source must be 'book', 'exogenous' or a venue's name, "
                f"was {self.mark_source!r}"
            )

    def _haircuts(self) -> dict[str, Haircut]:
        raw = self.collateral
        if raw is None:
            return {}
        if isinstance(raw, tuple):  # validated pairs (dataclasses.replace)
            try:
                raw = dict(raw)
            except (TypeError, ValueError):
                raise InputError(
                    f"venue {self.name!r}: collateral must map asset names to haircuts, was {raw!r}"
                ) from None
        if not isinstance(raw, Mapping):
            raise InputError(f"venue {self.name!r}: collateral must map asset names to haircuts, was {raw!r}")
        out: dict[str, Haircut] = {}
        for a, h in raw.items():
            if not isinstance(a, str) or not a:
                raise InputError(f"venue {self.name!r}: collateral asset names must be strings, was {a!r}")
            out[a] = collateral_entry(self.name, a, h)
        if out and self.regime.kind == "dynamic":
            raise InputError(
                f"venue {self.name!r}: collateral needs a static maintenance regime; the dynamic regime "
                "would scale the haircuts with volatility"
            )
        return out

    @classmethod
    def from_v1(
        cls, market: Market, regime: MarginRegime | None = None, venue: VenueSettings | None = None, name: str = "venue"
    ) -> MarketVenue:
        """The venue of a v1 run (:func:`levguard.cascade.simulate_path`), BitMEX's ADL; caps dropped
        (apply them to the population with :meth:`MarketPopulation.from_population`)."""
        reg = regime if regime is not None else MarginRegime()
        if reg.max_leverage is not None or reg.oi_cap is not None:
            from dataclasses import replace

            reg = replace(reg, max_leverage=None, oi_cap=None)
        return cls(name, market, reg, None, venue if venue is not None else VenueSettings(), "bitmex")

    def book(self, a: int) -> Market:
        """The book of asset ``a``."""
        books: tuple[Market, ...] = self.books  # type: ignore[assignment]
        return books[0] if len(books) == 1 else books[a]

    def tier_rows(self, a: int) -> FloatArray:
        """The maintenance tier rows (cap, rate, amount) of asset ``a``."""
        maint = self.maintenance
        own = maint[a] if maint is not None and a < len(maint) else None
        return (own if own is not None else self.regime).tier_rows()

    def collateral_tiers(self, asset: str) -> Haircut | None:
        """The collateral entry of ``asset`` (a flat haircut or :class:`CollateralTiers`) when the
        venue takes it as collateral, else None."""
        for name, tiers in self.haircuts:
            if name == asset:
                return tiers
        return None

    def haircut(self, asset: str) -> float | None:
        """The haircut of the first tier of ``asset`` (the whole haircut when flat) when the venue
        takes it as collateral, else None."""
        tiers = self.collateral_tiers(asset)
        if tiers is None or isinstance(tiers, float):
            return tiers
        return 1.0 - tiers.ratios[0]

    @property
    def haircuts(self) -> tuple[tuple[str, Haircut], ...]:
        """The collateral assets and their entries, ``((asset, haircut or CollateralTiers), ...)``."""
        col: tuple[tuple[str, Haircut], ...] = self.collateral  # type: ignore[assignment]
        return col


@dataclass(frozen=True)
class MarketSpec:
    """The market: asset names (the columns of the paths), venues and arbitrage."""

    assets: Sequence[str]
    venues: Sequence[MarketVenue]
    arbitrage: Arbitrage = field(default_factory=Arbitrage)

    def __post_init__(self) -> None:
        if not isinstance(self.assets, Iterable):  # None: raw TypeError
            raise InputError(f"market.assets must be distinct non-empty names, was {self.assets!r}")
        assets = (self.assets,) if isinstance(self.assets, str) else tuple(self.assets)
        if not assets or not all(isinstance(a, str) and a for a in assets) or len(set(assets)) != len(assets):
            raise InputError(f"market.assets must be distinct non-empty names, was {self.assets!r}")
        if not isinstance(self.venues, Iterable) or isinstance(self.venues, str):
            raise InputError(f"market.venues must be a list of MarketVenue, was {self.venues!r}")
        venues = tuple(self.venues)
        if not venues:
            raise InputError("market.venues must hold at least one MarketVenue, was empty")
        for j, v in enumerate(venues):
            if not isinstance(v, MarketVenue):
                raise InputError(f"market.venues[{j}] must be a MarketVenue, was {v!r}")
            n_books = len(v.books)  # type: ignore[arg-type]
            if n_books not in (1, len(assets)):
                raise InputError(f"venue {v.name!r}: books must be 1 or {len(assets)} (one per asset), was {n_books}")
            if v.maintenance is not None and len(v.maintenance) != len(assets):
                n_maint = len(v.maintenance)
                raise InputError(
                    f"venue {v.name!r}: maintenance must have {len(assets)} entries (one per asset), had {n_maint}"
                )
        for v in venues:
            for a, _h in v.haircuts:
                if a not in assets:
                    raise InputError(
                        f"venue {v.name!r}: collateral asset {a!r} is not one of the assets {list(assets)}"
                    )
                if v.maintenance is not None and v.maintenance[assets.index(a)] is not None:
                    raise InputError(
                        f"venue {v.name!r}: {a!r} is collateral (its haircut is its rate); drop its maintenance entry"
                    )
        names = [v.name for v in venues]
        if len(set(names)) != len(names):
            raise InputError(f"market.venues must have distinct names, were {names}")
        for j, v in enumerate(venues):
            if v.mark_source not in ("book", "exogenous", *names):
                raise InputError(
                    f"venue {v.name!r}: mark_source must be 'book', 'exogenous' or one of the venues {names}, "
                    f"was {v.mark_source!r}"
                )
            if v.mark_source in names and names.index(v.mark_source) > j and v.settings.mark_lag_steps == 0:
                raise InputError(
                    f"venue {v.name!r}: mark_source {v.mark_source!r} must be listed before it (venues settle in "
                    "order within a step) or be read with mark_lag_steps >= 1"
                )
        if not isinstance(self.arbitrage, Arbitrage):
            raise InputError(f"market.arbitrage must be an Arbitrage, was {self.arbitrage!r}")
        object.__setattr__(self, "assets", assets)
        object.__setattr__(self, "venues", venues)

    @property
    def n_assets(self) -> int:
        """K."""
        return len(self.assets)

    @property
    def n_venues(self) -> int:
        """V."""
        return len(self.venues)

    def tier_rows(self, v: int, a: int, price: float | None = None) -> FloatArray:
        """Maintenance rows (cap, rate, amount) of the book of asset ``a`` on venue ``v``: the
        haircut tiers of a collateral asset (quantity tiers converted at ``price``, the asset's
        start price; :func:`~levguard.cascade.market_collateral.haircut_rows`), else the venue's
        tiers."""
        tiers = self.venues[v].collateral_tiers(self.assets[a])
        if tiers is not None:
            return haircut_rows(tiers, price)
        return self.venues[v].tier_rows(a)

    def mark_source_code(self, v: int) -> int:
        """The kernel's code of venue ``v``'s mark source: 0 its own book, 1 the exogenous price,
        ``2 + w`` venue ``w``'s book."""
        src = self.venues[v].mark_source
        names = [mv.name for mv in self.venues]
        if src == "book" or src == names[v]:
            return 0
        if src == "exogenous":
            return 1
        return 2 + names.index(src)

    def collateral_mask(self) -> npt.NDArray[np.bool_]:
        """``(V, K)``: True where venue ``v`` takes asset ``a`` as collateral."""
        return np.array(
            [[mv.haircut(a) is not None for a in self.assets] for mv in self.venues],
            dtype=bool,
        ).reshape(self.n_venues, self.n_assets)


def _float_array(value: object, name: str, ndim: int) -> FloatArray:
    no_bools_or_strings(value, name)  # NumPy read True as 1.0 and "1" as 1.0
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: an int beyond float64's range
        raise InputError(f"{name} must be an array of numbers: {exc}, was {show(value)}") from None
    if arr.ndim != ndim:
        raise InputError(f"{name} must be {ndim}-dimensional, had shape {arr.shape}")
    return arr


def _first_bad(name: str, arr: npt.NDArray[Any], bad: npt.NDArray[np.bool_], rule: str) -> None:
    if bad.any():
        idx = tuple(int(x) for x in np.argwhere(bad)[0])
        where = idx[0] if len(idx) == 1 else idx
        raise InputError(f"{name}[{where}] {rule}, was {arr[idx].item()!r}")


@dataclass(frozen=True, eq=False)
class MarketPopulation:
    """Accounts of the market, as arrays of ``N`` accounts and ``K`` assets.

    Attributes
    ----------
    venue : int array (N,)
        The venue each account is on (index into :attr:`MarketSpec.venues`).
    wallet : float array (N,)
        Cross-margin wallet (quote, >= 0).
    qty : float array (N, K)
        Signed position per asset (> 0 long, < 0 short, 0 none).
    entry : float array (N, K)
        Entry price per asset (> 0 where ``qty != 0``; ignored elsewhere).
    owner : int array (N,), optional
        Who owns the account (default: each account its own owner).  Accounts of one owner on
        several venues form a hedged account; results are also reported per owner.
    """

    venue: npt.ArrayLike
    wallet: npt.ArrayLike
    qty: npt.ArrayLike
    entry: npt.ArrayLike
    owner: npt.ArrayLike | None = None

    def __post_init__(self) -> None:
        qty = _float_array(self.qty, "qty", 2)
        n, k = qty.shape
        if k == 0:
            raise InputError("qty must have at least one asset column, had shape (N, 0)")
        entry = _float_array(self.entry, "entry", 2)
        if entry.shape != qty.shape:
            raise InputError(f"entry must have the shape of qty {qty.shape}, had {entry.shape}")
        wallet = _float_array(self.wallet, "wallet", 1)
        venue_f = _float_array(self.venue, "venue", 1)
        owner_f = np.arange(n, dtype=np.float64) if self.owner is None else _float_array(self.owner, "owner", 1)
        for name, arr in (("wallet", wallet), ("venue", venue_f), ("owner", owner_f)):
            if arr.shape[0] != n:
                raise InputError(f"{name} must have one entry per account ({n}), had {arr.shape[0]}")
        _first_bad("qty", qty, ~np.isfinite(qty), "must be finite")
        _first_bad("entry", entry, (qty != 0.0) & ~(np.isfinite(entry) & (entry > 0.0)), "must be finite and > 0")
        _first_bad("wallet", wallet, ~(np.isfinite(wallet) & (wallet >= 0.0)), "must be finite and >= 0")
        for name, arr in (("venue", venue_f), ("owner", owner_f)):
            _first_bad(
                name, arr, ~(np.isfinite(arr) & (arr >= 0.0) & (arr == np.round(arr))), "must be an integer >= 0"
            )
        entry = np.where(qty != 0.0, entry, 1.0)
        final: tuple[tuple[str, npt.NDArray[Any]], ...] = (
            ("venue", venue_f.astype(np.int64)),
            ("wallet", wallet),
            ("qty", qty),
            ("entry", entry),
            ("owner", owner_f.astype(np.int64)),
        )
        for name, arr in final:
            a = np.ascontiguousarray(arr)
            a.setflags(write=False)
            object.__setattr__(self, name, a)

    @property
    def n(self) -> int:
        """Number of accounts."""
        return int(np.shape(self.wallet)[0])

    @property
    def n_assets(self) -> int:
        """Number of asset columns."""
        return int(np.shape(self.qty)[1])

    def __len__(self) -> int:
        return self.n

    @classmethod
    def from_population(
        cls, population: Population, *, venue: int = 0, regime: MarginRegime | None = None, owner_offset: int = 0
    ) -> MarketPopulation:
        """One-asset accounts from a v1 :class:`~levguard.cascade.population.Population`: the
        signed size, entry and margin (the wallet), after ``regime``'s caps when given."""
        if not isinstance(population, Population):
            raise InputError(f"population must be a levguard.cascade.Population, was {type(population).__name__}")
        pop = regime.apply_caps(population) if regime is not None else population
        n = pop.n
        return cls(
            np.full(n, venue, dtype=np.int64),
            pop.margin,
            (pop.side * pop.qty)[:, None],
            pop.entry_price[:, None],
            np.arange(owner_offset, owner_offset + n, dtype=np.int64),
        )

    def with_collateral(
        self, asset: int, fraction: npt.ArrayLike, price: float, haircut: float | CollateralTiers = 0.0
    ) -> MarketPopulation:
        """The accounts with ``fraction`` of each one's margin held in collateral asset ``asset``.

        An account with wallet ``W`` holds the ``u`` units of the asset whose value after the
        haircut is ``fraction W`` (``u = fraction W / (price (1 - haircut))`` for a flat haircut;
        the inverse of the tiers' value for :class:`CollateralTiers`), entered at ``price``, and
        ``(1 - fraction) W`` in cash; the wallet becomes
        ``(1 - fraction) W + u price`` (the wallet counts collateral at its entry value, and
        the holding's ``u (mark - price)`` is its gain or loss).  The haircut-adjusted equity at
        ``price`` is then ``W`` again, so the margin an account had is unchanged and no account
        becomes liquidatable by the conversion.  ``haircut`` is the one the account's venue
        applies (:class:`MarketVenue` ``collateral``).

        Parameters
        ----------
        asset : int
            Column of the collateral asset; accounts with ``fraction > 0`` must hold no position
            in it.
        fraction : float or array (N,)
            Share of each account's margin held in the asset, in [0, 1].
        price : float
            The asset's price at the start (> 0).
        haircut : float or CollateralTiers
            The venue's haircut of the asset, in [0, 1), or its collateral tiers
            (:meth:`MarketVenue.collateral_tiers`).
        """
        k = self.n_assets
        if isinstance(asset, bool) or not isinstance(asset, int | np.integer) or not 0 <= int(asset) < k:
            raise InputError(f"asset must be a column index in [0, {k}), was {asset!r}")
        a = int(asset)
        p = _pos(price, "price")
        try:
            tiers = collateral_entry("population", str(asset), haircut)
        except InputError:
            raise InputError(f"haircut must be in [0, 1) or CollateralTiers, was {haircut!r}") from None
        f_raw = _float_array(fraction, "fraction", np.ndim(fraction))
        if f_raw.ndim > 1 or (f_raw.ndim == 1 and f_raw.shape[0] != self.n):
            raise InputError(f"fraction must be a number or one per account ({self.n}), had shape {f_raw.shape}")
        f = np.broadcast_to(f_raw, (self.n,)).astype(np.float64)
        _first_bad("fraction", f, ~(np.isfinite(f) & (f >= 0.0) & (f <= 1.0)), "must be in [0, 1]")
        qty = np.array(self.qty, dtype=np.float64)
        _first_bad("fraction", f, (f > 0.0) & (qty[:, a] != 0.0), f"must be 0 where the account holds asset {a}")
        wallet = np.asarray(self.wallet, dtype=np.float64)
        units = units_for_value(tiers, f * wallet, p)
        qty[:, a] = qty[:, a] + units
        entry = np.array(self.entry, dtype=np.float64)
        entry[:, a] = np.where(units > 0.0, p, entry[:, a])
        new_wallet = (1.0 - f) * wallet + units * p
        return type(self)(self.venue, new_wallet, qty, entry, self.owner)

    @classmethod
    def concat(cls, *parts: MarketPopulation) -> MarketPopulation:
        """The accounts of ``parts`` one after the other (same asset columns; owners kept)."""
        if not parts or not all(isinstance(p, MarketPopulation) for p in parts):
            raise InputError("concat needs MarketPopulation parts")
        ks = {p.n_assets for p in parts}
        if len(ks) != 1:
            raise InputError(f"concat needs the same number of assets in every part, had {sorted(ks)}")

        def joined(name: str) -> npt.NDArray[Any]:
            return np.concatenate([np.asarray(getattr(p, name)) for p in parts])

        return cls(joined("venue"), joined("wallet"), joined("qty"), joined("entry"), joined("owner"))


def _venue_record(rec: Any, v: MarketVenue) -> None:
    reg = v.regime
    vs = v.settings
    mode, fraction = reg.partial_code()
    rec["fund"] = float(vs.insurance_fund)
    rec["liq_fee"] = float(reg.liquidation_fee)
    rec["partial_mode"] = mode
    rec["partial"] = fraction
    rec["partial_min"] = float(reg.partial_min_notional)
    rec["step_from"] = int(reg.step_from)
    rec["step_to"] = int(reg.step_to)
    rec["step_mode"] = STEP_MODES.index(reg.step_mode)
    rec["latency"] = int(vs.latency_steps)
    rec["adl"] = bool(vs.adl)
    rec["max_rounds"] = int(vs.max_rounds)
    rec["mark_lag"] = int(vs.mark_lag_steps)
    rec["outcome"] = int(kl.TAKEOVER if reg.outcome == "takeover" else kl.BOOK)
    rec["backstop"] = float(reg.backstop)
    rec["adl_rule"] = ADL_RULE_NAMES.index(v.adl_rule)
    rec["dynamic"] = reg.kind == "dynamic"
    rec["dyn_base_vol"] = float(reg.base_vol)
    rec["dyn_window"] = int(reg.window_steps)
    rec["dyn_every"] = int(reg.every_steps)
    rec["dyn_min"] = float(reg.min_scale)
    rec["dyn_max"] = float(reg.max_scale)
    rec["vault_backstop"] = float(vs.vault_backstop)
    rec["vault_capital"] = float(vs.vault_capital)
    rec["dd_ratio"] = float(vs.adl_drawdown)
    rec["dd_stop"] = float(vs.adl_drawdown if vs.adl_drawdown_stop is None else vs.adl_drawdown_stop)
    rec["dd_window"] = int(vs.adl_drawdown_window_steps)
    rec["dd_min_fund"] = float(vs.adl_drawdown_min_fund)
    rec["fee_out"] = not vs.fee_to_fund


def kernel_inputs(
    population: MarketPopulation,
    spec: MarketSpec,
    n_steps: int,
    steps_per_year: float,
    naive: bool,
    start: FloatArray | None = None,
) -> tuple[MarketAccounts, BookTiers, FloatArray, FloatArray, npt.NDArray[np.void], npt.NDArray[np.void], MarketConfig]:
    """The kernel's records (``start``: the assets' start prices, which convert collateral tiers by
    quantity to value): accounts, tiers, depth multipliers (V, K, T + 1), oracle
    (V, T + 1, S; venues with fewer sources padded with missing ones), venues, books, config."""
    k = spec.n_assets
    n_v = spec.n_venues
    if population.n_assets != k:
        raise InputError(f"population has {population.n_assets} asset columns, the market {k} ({list(spec.assets)})")
    venue = np.asarray(population.venue)
    if venue.size and int(venue.max()) >= n_v:
        i = int(np.argmax(venue >= n_v))
        raise InputError(f"venue[{i}] must be < the number of venues ({n_v}), was {int(venue[i])}")
    acc = MarketAccounts(
        readonly(np.ascontiguousarray(venue, dtype=np.int64)),  # read-only: one compiled signature
        np.array(population.wallet, dtype=np.float64),
        np.array(population.qty, dtype=np.float64),
        np.array(population.entry, dtype=np.float64),
    )
    mask = spec.collateral_mask()
    if mask.any():
        qty = np.asarray(population.qty)
        short = (qty < 0.0) & mask[venue]
        if short.any():
            i, a = (int(x) for x in np.argwhere(short)[0])
            raise InputError(
                f"qty[{i}, {a}] must be >= 0: {spec.assets[a]} is collateral on venue "
                f"{spec.venues[int(venue[i])].name!r} (a holding, not a contract), was {float(qty[i, a])!r}"
            )
    rows = [spec.tier_rows(v, a, None if start is None else float(start[a])) for v in range(n_v) for a in range(k)]
    off = np.zeros(len(rows) + 1, dtype=np.int64)
    off[1:] = np.cumsum([r.shape[0] for r in rows])
    stacked = np.vstack(rows)
    tiers = BookTiers(
        np.ascontiguousarray(stacked[:, 0]),
        np.ascontiguousarray(stacked[:, 1]),
        np.ascontiguousarray(stacked[:, 2]),
        off,
        np.array([r[:, 1].min() for r in rows]),
        np.array([r[:, 1].max() for r in rows]),
        np.ascontiguousarray(mask.reshape(-1)),
    )
    depth_mult = np.empty((n_v, k, n_steps + 1))
    books = np.zeros((n_v, k), dtype=BOOK_DTYPE)
    venues = np.zeros(n_v, dtype=VENUE_DTYPE)
    oracles = []
    for v, mv in enumerate(spec.venues):
        _venue_record(venues[v], mv)
        venues[v]["mark_src"] = spec.mark_source_code(v)
        oracles.append(mv.settings.oracle_matrix(n_steps))
        for a in range(k):
            m = mv.book(a)
            depth_mult[v, a] = m.multiplier(n_steps)
            bk = books[v, a]
            bk["impact_model"] = int(ImpactModel.LINEAR if m.impact == "linear" else ImpactModel.SQRT)
            bk["depth"] = float(m.depth)
            bk["impact_coef"] = float(m.impact_coef)
            bk["sigma_daily"] = float(m.sigma_daily)
            bk["half_life"] = float(m.half_life_steps)
    n_src = max(o.shape[1] for o in oracles)
    oracle = np.full((n_v, n_steps + 1, n_src), np.nan)
    for v, o in enumerate(oracles):
        oracle[v, :, : o.shape[1]] = o
    cfg = MarketConfig(
        arb_speed=float(spec.arbitrage.speed),
        arb_capacity=float(spec.arbitrage.capacity),
        naive=bool(naive),
        steps_per_year=float(steps_per_year),
    )
    return acc, tiers, depth_mult, oracle, venues, books, cfg
