"""The margin engine's account of one watched account, kept across guardian cycles.

Every cycle the guardian describes what the venue reports as an account spec
(:func:`levguard.live._support.account_spec`) and evaluates it.  Parsing the spec
(:func:`levguard.core.spec.account_from_spec`: the venue's rules, each symbol's instrument and
tier table, every field checked) gives the same objects cycle after cycle except for the numbers
that move: marks, quantities, entry prices, the wallet balance.  :class:`AccountCache` parses a
spec once and, while its *shape* stays the same, only replaces the positions whose numbers
changed (a new :class:`~levguard.core.positions.Position` from the cached one, with the
position's own checks) and the account around them.

The shape is everything in the spec other than those numbers: the venue, the margin mode, the
symbols in their order with each row's margin mode, which rows carry an isolated margin, and the
tier tables by identity.
A change of any of it (a position opened or closed, a tier table refreshed) parses the spec again.
So does any number that is not a plain float inside the range :func:`~levguard.core.validate.as_amount`
accepts, and any position the checks refuse: the full parse then raises the error it always
raised, so reuse changes no result and no message (tests/live/guardian/test_guardian_reuse.py).

:meth:`AccountCache.report` is what the guardian calls: the margin report of the spec.  For a
cross account of the cached shape it makes no :class:`~levguard.core.positions.Position` at all:
the spec's numbers, checked as the constructors would check them, go straight to the account's
:class:`~levguard.core.margin_cross.CrossLayout` (one kernel call for every position's figures),
which gives ``evaluate``'s report bit for bit; anything else goes through :meth:`account` and
:func:`~levguard.core.margin.evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from levguard.core.margin import AccountReport, evaluate
from levguard.core.margin_cross import CrossLayout
from levguard.core.positions import Account, Position
from levguard.core.spec import account_from_spec
from levguard.core.tiers import TierTable
from levguard.core.unified import evaluate_unified, is_unified_spec, unified_account_from_spec
from levguard.core.validate import NUMBER_MAX, NUMBER_MIN
from levguard.errors import InputError

__all__ = ["AccountCache"]

_SPEC_KEYS = frozenset({"venue", "margin_mode", "wallet_balance", "positions", "tiers"})
_ROW_KEYS = frozenset({"symbol", "qty", "entry_price", "mark_price", "margin_mode", "isolated_margin", "contract_size"})
# The spec keys of what the guardian builds (account_spec); any other key (a fixed mmr, a
# leverage, ccxt's shape) may make the parsed objects depend on the numbers: parsed every time.


def _amount(x: object) -> bool:
    # A number the full parse keeps as it is: a float that ``as_amount`` returns unchanged
    # (finite, 0 or within [1e-30, 1e30] in magnitude).  NaN and inf fail both comparisons.
    return type(x) is float and (x == 0.0 or NUMBER_MIN <= abs(x) <= NUMBER_MAX)


def _shape(spec: Mapping[str, Any]) -> tuple[tuple[Any, ...], tuple[TierTable, ...]] | None:
    # (shape, tier tables) of a spec the cache can update in place, or None (parse every time).
    if not isinstance(spec, Mapping) or not _SPEC_KEYS.issuperset(spec):
        return None
    venue, mode, rows = spec.get("venue"), spec.get("margin_mode", "cross"), spec.get("positions")
    if type(venue) is not str or type(mode) is not str or type(rows) is not list:
        return None
    symbols = []
    for row in rows:
        if type(row) is not dict or not _ROW_KEYS.issuperset(row) or type(row.get("symbol")) is not str:
            return None
        row_mode = row.get("margin_mode")
        if row_mode is not None and type(row_mode) is not str:
            return None
        size = row.get("contract_size")
        if size is not None and type(size) is not float:
            return None
        # The contract size is part of the shape: a change of it parses again.
        symbols.append((row["symbol"], row_mode, "isolated_margin" in row, size))
    tiers = spec.get("tiers")
    if tiers is None:
        return (venue, mode, tuple(symbols), ()), ()
    if type(tiers) is not dict or not all(type(k) is str and isinstance(v, TierTable) for k, v in tiers.items()):
        return None
    return (venue, mode, tuple(symbols), tuple(tiers)), tuple(tiers.values())


class AccountCache:
    """One account's :class:`~levguard.core.positions.Account`, parsed once and updated in place.

    :meth:`account` returns what ``account_from_spec(spec)`` returns (equal objects, the same
    errors); ``parses`` counts the full parses (the first spec, and every change of shape).
    """

    def __init__(self) -> None:
        self._shape: tuple[Any, ...] | None = None
        self._tables: tuple[TierTable, ...] = ()
        self._account: Account | None = None
        # The cross layout of the cached shape (None: not built yet, or evaluate does the work).
        self._layout: CrossLayout | None = None
        self._layout_built = False
        self.parses = 0

    def report(self, spec: Mapping[str, Any]) -> AccountReport:
        """Return ``evaluate(account_from_spec(spec))``: the same report, the same errors.

        A cross account of the cached shape is evaluated in one kernel call from the spec's
        numbers (:class:`~levguard.core.margin_cross.CrossLayout`), without new positions.

        A unified account's spec (:func:`levguard.core.unified.is_unified_spec`) is parsed and
        evaluated by the unified engine every time (its collateral and prices move too).

        Raises
        ------
        InputError
            As :func:`levguard.core.spec.account_from_spec` and :func:`levguard.core.margin.evaluate`.
        """
        if is_unified_spec(spec):
            return evaluate_unified(unified_account_from_spec(spec))
        layout = self._layout
        if layout is not None and self._same_shape(_shape(spec)):
            numbers = _cross_numbers(spec)
            if numbers is not None:
                return layout.evaluate(*numbers)
        account = self.account(spec)
        if self._account is not account:  # a shape the cache does not keep
            return evaluate(account)
        if not self._layout_built:
            self._layout, self._layout_built = CrossLayout.of(account), True
        if self._layout is None:
            return evaluate(account)
        ps = account.positions
        return self._layout.evaluate(
            account.wallet_balance, [p.qty for p in ps], [p.entry_price for p in ps], [p.mark_price for p in ps]
        )

    def _same_shape(self, shaped: tuple[tuple[Any, ...], tuple[TierTable, ...]] | None) -> bool:
        # The spec has the cached shape, its tier tables the same objects.
        return (
            shaped is not None
            and self._account is not None
            and shaped[0] == self._shape
            and len(shaped[1]) == len(self._tables)
            and all(a is b for a, b in zip(shaped[1], self._tables, strict=True))
        )

    def account(self, spec: Mapping[str, Any]) -> Account:
        """Return the account of ``spec`` (an account spec, as :func:`account_from_spec` reads).

        Raises
        ------
        InputError
            As :func:`levguard.core.spec.account_from_spec` for the same spec.
        """
        shaped = _shape(spec)
        cached = self._account
        if cached is not None and self._same_shape(shaped):
            updated = _updated(cached, spec)
            if updated is not None:
                self._account = updated
                return updated
        self._account, self._shape = None, None
        self._layout, self._layout_built = None, False
        account = account_from_spec(spec)  # the full parse: its result, or its error
        self.parses += 1
        if shaped is not None:
            self._account, self._shape, self._tables = account, shaped[0], shaped[1]
        return account


def _updated(cached: Account, spec: Mapping[str, Any]) -> Account | None:
    # The cached account with the spec's numbers, or None when the full parse must decide.
    wallet = spec.get("wallet_balance", 0.0)
    if not _amount(wallet):
        return None
    rows: Sequence[dict[str, Any]] = spec["positions"]
    positions: list[Position] = []
    changed = wallet != cached.wallet_balance
    try:
        for p, row in zip(cached.positions, rows, strict=True):
            qty, entry, mark = row["qty"], row["entry_price"], row["mark_price"]
            margin = row.get("isolated_margin")
            if not (_amount(qty) and _amount(entry) and _amount(mark) and (margin is None or _amount(margin))):
                return None
            if qty == p.qty and entry == p.entry_price and mark == p.mark_price and margin == p.isolated_margin:
                positions.append(p)  # nothing moved: the same object
                continue
            changed = True
            # The same position with the new numbers (its checks run again).
            positions.append(replace(p, qty=qty, entry_price=entry, mark_price=mark, isolated_margin=margin))
        if not changed:
            return cached
        return Account(venue=cached.venue, wallet_balance=wallet, positions=tuple(positions))
    except InputError:  # a number the checks refuse: the full parse raises it with its field path
        return None


def _cross_numbers(spec: Mapping[str, Any]) -> tuple[float, list[float], list[float], list[float]] | None:
    # (wallet, quantities, entry prices, marks) of a spec of the cached cross shape when every
    # number passes the checks the full parse makes (Account: wallet >= 0; Position: qty != 0,
    # prices > 0; all plain floats ``as_amount`` keeps), else None: the full path decides.
    wallet = spec.get("wallet_balance", 0.0)
    if not (_amount(wallet) and wallet >= 0.0):
        return None
    qty: list[float] = []
    entry: list[float] = []
    mark: list[float] = []
    for row in spec["positions"]:
        q, e, m = row["qty"], row["entry_price"], row["mark_price"]
        if not (_amount(q) and q != 0.0 and _amount(e) and e > 0.0 and _amount(m) and m > 0.0):
            return None
        qty.append(q)
        entry.append(e)
        mark.append(m)
    return wallet, qty, entry, mark
