"""Differential tests: levguard's Morpho Blue engine against the Morpho Blue contract, to the wei.

The real ``Morpho`` (npm ``@morpho-org/morpho-blue@1.0.0``, compiled by the npm ``solc@0.8.19``
with the repository's foundry settings, see build.py) runs in an in-process EVM with the
package's own mocks: ``ERC20Mock`` tokens, an ``OracleMock`` and the ``IrmMock`` (a borrow rate
of the utilisation per year).  16 markets: 8 LLTVs (38.5 % to 98 %) x 2 of 4 (loan, collateral)
decimal pairs, priced at ``1e36 * 10**(loan decimals - collateral decimals)`` per whole-token
unit, fees from 0 to 25 %, liquidity over many orders of magnitude.  Borrowers open positions at
random loan-to-values; interest accrues over random intervals (so a share is no longer 1e-6 of an
asset); then every live borrower is liquidated once per round at a price that makes it healthy,
puts it on the health boundary (to the wei of price), unhealthy, or under water (bad debt), with
seized assets or repaid shares given, plus inputs that must revert; a last round closes every
market out, and a market without an IRM lending a few wei takes the roundings to their floor.

A test driver (contracts/MorphoProbe.sol) runs one market's round in one transaction and logs
the market and position Morpho stores after each call; Morpho's own ``Liquidate`` and
``AccrueInterest`` events give the repaid shares, the bad debt, the interest and the fee shares.
For every case, levguard, given the state before, must reproduce the health verdict, the return
values, the event's amounts and the state after (or the revert reason), and each interest
accrual -- to the wei.  One more test liquidates without the driver, through Morpho's own entry
point and getters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import event_abi_to_log_topic, function_abi_to_4byte_selector, to_checksum_address
from eth_utils.abi import collapse_if_tuple
from web3.logs import DISCARD

from levguard.core.defi.morpho import (
    HEALTHY_POSITION,
    INCONSISTENT_INPUT,
    MAX_UINT128_EXCEEDED,
    ORACLE_PRICE_SCALE,
    PANIC_ARITHMETIC,
    PANIC_DIVISION_BY_ZERO,
    UINT256_MAX,
    WAD,
    AccrueInterestResult,
    LiquidateResult,
    Market,
    MorphoError,
    Position,
    accrue_interest,
    is_healthy,
    liquidate,
    liquidation_incentive_factor,
    mul_div_down,
    to_assets_down,
    to_assets_up,
    w_div_down,
    w_mul_down,
)

SEED = 20_250_619
LLTVS = tuple(x * 10**15 for x in (385, 625, 770, 860, 915, 945, 965, 980))
DECIMALS = ((6, 18), (18, 8), (18, 18), (8, 6))  # (loan, collateral) token decimals
MARKETS_PER_LLTV = 2  # of the DECIMALS pairs, in rotation
BORROWERS = 9  # live borrowers per market at the start of each round
ROUNDS = 6  # then a round that closes every market out
YEAR = 365 * 86_400
KINDS = {  # liquidation case -> weight
    "healthy": 8,
    "boundary": 12,
    "seize": 22,
    "repay": 20,
    "bad_debt_seize": 7,
    "bad_debt_repay": 6,
    "close": 3,
    "overshoot": 6,
    "inconsistent": 2,
    "extreme": 7,
}
PANICS = {0x11: PANIC_ARITHMETIC, 0x12: PANIC_DIVISION_BY_ZERO}
ADDRESSES = ("borrower", "caller")  # event fields decoded to checksum addresses
ZERO_ADDRESS = "0x" + "00" * 20


def _event(name: str, *fields: tuple[str, str, bool]) -> dict[str, Any]:
    inputs = [{"name": n, "type": t, "indexed": i} for n, t, i in fields]
    return {"type": "event", "name": name, "anonymous": False, "inputs": inputs}


# Morpho's events live in src/libraries/EventsLib.sol; solc 0.8.19 leaves library events out of
# the contract's ABI, so the two read here are declared from that file.
MORPHO_EVENTS = [
    _event(
        "Liquidate",
        ("id", "bytes32", True),
        ("caller", "address", True),
        ("borrower", "address", True),
        ("repaidAssets", "uint256", False),
        ("repaidShares", "uint256", False),
        ("seizedAssets", "uint256", False),
        ("badDebtAssets", "uint256", False),
        ("badDebtShares", "uint256", False),
    ),
    _event(
        "AccrueInterest",
        ("id", "bytes32", True),
        ("prevBorrowRate", "uint256", False),
        ("interest", "uint256", False),
        ("feeShares", "uint256", False),
    ),
]


# --- random draws (seeded numpy generator; big integers from its raw bytes) ----------------------


class Draw:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def below(self, n: int) -> int:
        """Uniform in [0, n)."""
        return int.from_bytes(self.rng.bytes(40), "big") % n if n > 1 else 0

    def between(self, lo: int, hi: int) -> int:
        """Uniform in [lo, hi]."""
        return lo + self.below(hi - lo + 1)

    def log_int(self, lo: int, hi: int) -> int:
        """Log-uniform in [lo, hi] (uniform bit length, random low bits), lo >= 1."""
        if hi <= lo:
            return lo
        bits = int(self.rng.integers(lo.bit_length(), hi.bit_length() + 1))
        value = (1 << (bits - 1)) | self.below(1 << (bits - 1))
        return min(max(value, lo), hi)

    def pick(self, weights: dict[str, int]) -> str:
        names = list(weights)
        p = np.array([weights[n] for n in names], dtype=float)
        return names[int(self.rng.choice(len(names), p=p / p.sum()))]


def _ceil_div(x: int, y: int) -> int:
    return -(-x // y)


def irm_mock_rate(market: Market) -> int:
    """The borrow rate per second of IrmMock (src/mocks/IrmMock.sol ``borrowRateView``)."""
    if market.total_supply_assets == 0:
        return 0
    return w_div_down(market.total_borrow_assets, market.total_supply_assets) // YEAR


# --- what the chain did ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LiquidationCase:
    kind: str
    market: int  # index into Campaign.markets
    lltv: int
    price: int
    seized_in: int
    shares_in: int
    market_before: tuple[int, ...]  # tsa, tss, tba, tbs, lastUpdate, fee
    position_before: Position
    ok: bool
    seized: int  # return values (0 when reverted)
    repaid: int
    reason: str | None  # revert reason, ErrorsLib string or panic description
    event: dict[str, int] | None  # Morpho's Liquidate event
    market_after: tuple[int, ...]
    position_after: Position

    def levguard(self) -> LiquidateResult | MorphoError:
        try:
            return liquidate(
                Market(*self.market_before[:4]),
                self.position_before,
                self.lltv,
                self.price,
                self.seized_in,
                self.shares_in,
            )
        except MorphoError as exc:
            return exc


@dataclass(frozen=True)
class AccrualCase:
    market: int
    before: tuple[int, ...]
    after: tuple[int, ...]
    event: dict[str, int] | None  # Morpho's AccrueInterest event (none when no time elapsed)


@dataclass
class MarketState:
    params: tuple[str, str, str, str, int]
    lltv: int
    lif: int
    decimals: tuple[int, int]
    price0: int  # the opening price (scaled 1e36)
    state: tuple[int, ...] = ()  # as Morpho stores it: tsa, tss, tba, tbs, lastUpdate, fee
    positions: dict[str, Position] = field(default_factory=dict)

    @property
    def market(self) -> Market:
        return Market(*self.state[:4])

    def rate(self, market: Market) -> int:
        """The borrow rate per second its IRM returns (a market without one accrues nothing)."""
        return 0 if self.params[3] == ZERO_ADDRESS else irm_mock_rate(market)

    def collateral_for(self, borrowed: int, per_mille: int) -> int:
        """Collateral that borrows ``borrowed`` (+2 for rounding) at per_mille / 1000 of the LLTV
        at the opening price."""
        value = _ceil_div((borrowed + 2) * WAD * 1000, self.lltv * per_mille)
        return _ceil_div(value * ORACLE_PRICE_SCALE, self.price0) + 1


def _unpack(words: list[bytes]) -> tuple[tuple[int, ...], Position]:
    # The probe's `state`: three market slots and the position slot, two uint128 per slot (the
    # first member in the low half): the market as (tsa, tss, tba, tbs, lastUpdate, fee).
    halves = [(int.from_bytes(w, "big") & (2**128 - 1), int.from_bytes(w, "big") >> 128) for w in words]
    return tuple(x for pair in halves[:3] for x in pair), Position(*halves[3])


def _revert_reason(data: bytes) -> str:
    # Error(string) carries an ErrorsLib string; Panic(uint256) a Solidity panic code.
    if data[:4] == bytes.fromhex("08c379a0"):
        return str(abi_decode(["string"], data[4:])[0])
    if data[:4] == bytes.fromhex("4e487b71"):
        code = int(abi_decode(["uint256"], data[4:])[0])
        return PANICS.get(code, f"panic {code:#x}")
    return f"raw revert 0x{data.hex()}"


# --- the campaign ----------------------------------------------------------------------------------


class Campaign:
    """Deploy Morpho and its mocks, open markets and borrowers, and run the liquidation rounds."""

    def __init__(self, chain: Any, artifacts: dict[str, Any], seed: int) -> None:
        self.chain = chain
        self.artifacts = artifacts
        self.draw = Draw(seed)
        self.liquidations: list[LiquidationCase] = []
        self.accruals: list[AccrualCase] = []
        self.markets: list[MarketState] = []
        self.opened = 0
        self._setup()

    # -- plumbing --

    def _send(self, calls: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
        # One transaction through the probe; the decoded Morpho and probe events in log order
        # (decoded with eth_abi from the ABI: web3's per-log decoding is the slower path).
        receipt = self.chain.send(self.probe.functions.multicall(calls))
        events = []
        for log in receipt["logs"]:
            key = (log["address"], bytes(log["topics"][0]))
            if key in self._events:
                name, indexed, data = self._events[key]
                args = dict(zip(indexed[0], abi_decode(indexed[1], b"".join(log["topics"][1:])), strict=True))
                args.update(zip(data[0], abi_decode(data[1], bytes(log["data"])), strict=True))
                events.append((name, {k: to_checksum_address(v) if k in ADDRESSES else v for k, v in args.items()}))
        return events

    def _call(self, name: str, *args: Any) -> bytes:
        selector, types = self._functions[name]
        return selector + abi_encode(types, args)

    def _id(self, params: tuple[str, str, str, str, int]) -> bytes:
        # MarketParamsLib.id: keccak256 of the ABI-encoded market parameters.
        return bytes(self.chain.w3.keccak(abi_encode(["address", "address", "address", "address", "uint256"], params)))

    # -- setup --

    def _setup(self) -> None:
        chain, art, draw = self.chain, self.artifacts, self.draw
        morpho = chain.deploy(art["Morpho"], chain.owner)
        self.morpho = chain.at({"abi": art["Morpho"]["abi"] + MORPHO_EVENTS}, morpho.address)
        self.irm = chain.deploy(art["IrmMock"])
        self.oracle = chain.deploy(art["OracleMock"])  # every price-reading call sets it first
        self.probe = chain.deploy(art["MorphoProbe"], self.morpho.address)
        tokens = {
            (role, dec): chain.deploy(art["ERC20Mock"]).address
            for role in ("loan", "collateral")
            for dec in sorted({d for pair in DECIMALS for d in pair})
        }
        self._events: dict[tuple[str, bytes], tuple[str, Any, Any]] = {}
        for contract in (self.morpho, self.probe):
            for abi in (e for e in contract.abi if e.get("type") == "event"):
                fields = [
                    [(x["name"], collapse_if_tuple(x)) for x in abi["inputs"] if x["indexed"] is flag]
                    for flag in (True, False)
                ]
                indexed, data = ([list(t) for t in zip(*f, strict=True)] if f else [[], []] for f in fields)
                self._events[(contract.address, event_abi_to_log_topic(abi))] = (abi["name"], indexed, data)
        self._functions = {
            f["name"]: (function_abi_to_4byte_selector(f), [collapse_if_tuple(x) for x in f["inputs"]])
            for f in self.probe.abi
            if f.get("type") == "function"
        }
        # Borrower accounts (contracts the probe drives), each with a position in every market.
        self.borrowers = [args["borrower"] for _, args in self._send([self._call("newBorrowers", BORROWERS + 2)])]

        m = self.morpho.functions
        chain.send(m.enableIrm(self.irm.address))
        chain.send(m.setFeeRecipient(chain.accounts[9]))
        for lltv in LLTVS:
            chain.send(m.enableLltv(lltv))
        supply_calls = []
        for i, lltv in enumerate(LLTVS):
            for j in range(MARKETS_PER_LLTV):
                loan_dec, coll_dec = DECIMALS[(i + j) % len(DECIMALS)]
                params = (
                    tokens["loan", loan_dec],
                    tokens["collateral", coll_dec],
                    self.oracle.address,
                    self.irm.address,
                    lltv,
                )
                # One whole collateral token is worth 1e-4 to 1e5 loan tokens.
                scale = 10 ** (36 + loan_dec - coll_dec)
                price0 = draw.log_int(max(scale // 10**4, 1), scale * 10**5)
                mk = MarketState(params, lltv, liquidation_incentive_factor(lltv), (loan_dec, coll_dec), price0)
                mk.positions = dict.fromkeys(self.borrowers, Position(0, 0))
                self.markets.append(mk)
                chain.send(m.createMarket(params))
                fee = (0, 25 * 10**16, 5 * 10**16, draw.between(1, 25 * 10**16))[len(self.markets) % 4]
                if fee:
                    chain.send(m.setFee(params, fee))
                supply = draw.log_int(10**4, 10 ** min(32, loan_dec + 14))
                supply_calls.append(self._call("supply", params, supply))
        self._send(supply_calls)
        for mk in self.markets:
            mk.state = tuple(m.market(self._id(mk.params)).call())

    # -- rounds --

    def run(self, rounds: int) -> None:
        """Run ``rounds`` rounds (open, let time pass, accrue and liquidate), then close every
        market out."""
        for _ in range(rounds):
            self._open_borrowers()
            self._pass_time()
            for index in range(len(self.markets)):
                self._liquidation_round(index)
        self._pass_time()
        for index in range(len(self.markets)):
            self._liquidation_round(index, close_out=True)
        self._dust()

    def _dust(self) -> None:
        # A market without an IRM (no interest) lending a few wei: 1-share repayments at price 1
        # each round the repaid assets up to 1 (seizing nothing) and drain the total borrow
        # assets to 0 and past it (zeroFloorSub); then bad debt meets no borrow assets left (the
        # min of the bad-debt branch takes 0): the dust end of every rounding.
        chain, m, base = self.chain, self.morpho.functions, self.markets[0]
        params = (*base.params[:3], ZERO_ADDRESS, LLTVS[3])
        chain.send(m.enableIrm(ZERO_ADDRESS))
        chain.send(m.createMarket(params))
        mk = MarketState(params, LLTVS[3], liquidation_incentive_factor(LLTVS[3]), base.decimals, base.price0)
        mk.positions = dict.fromkeys(self.borrowers, Position(0, 0))
        self.markets.append(mk)
        index, (a, b) = len(self.markets) - 1, self.borrowers[:2]
        self._send([self._call("supply", params, 1_000)])
        mk.state = tuple(m.market(self._id(params)).call())
        opens = [self._call("open", params, x, mk.collateral_for(n, 500), n) for x, n in ((a, 3), (b, 2))]
        self._record(self._send([self._call("setPrice", params, mk.price0), *opens]), [])
        cases = [("dust", index, a, 1, 0, 1)] * 7
        cases += [("dust_bad_debt", index, x, 0, mk.positions[x].collateral, 0) for x in (b, a)]
        calls = [self._call("fund", params[0]), self._call("accrue", params)]
        self._record(self._send(calls + [self._call("liquidate", params, *case[2:]) for case in cases]), cases)

    def _open_borrowers(self) -> None:
        # Top each market up to BORROWERS live positions, each healthy at the market's opening
        # price, at 30 % to 98 % of the LLTV, sized log-uniformly (a quarter of them large).
        draw, calls = self.draw, []
        for mk in self.markets:
            idle = [b for b, p in mk.positions.items() if not (p.borrow_shares and p.collateral)]
            budget = (mk.state[0] - mk.state[2]) * 9 // 10  # free liquidity, less a margin
            opens = []
            for borrower in idle[: len(idle) - 2]:
                borrowed = (
                    budget * draw.between(20, 80) // 100 if draw.below(4) == 0 else draw.log_int(1, max(budget, 1))
                )
                collateral = 0
                while 1 <= borrowed <= budget:
                    collateral = mk.collateral_for(borrowed, draw.between(300, 980))
                    if collateral < 2**126:
                        break
                    borrowed >>= 12
                if not 1 <= borrowed <= budget:
                    continue
                budget -= borrowed
                opens.append(self._call("open", mk.params, borrower, collateral, borrowed))
            if opens:
                calls += [self._call("setPrice", mk.params, mk.price0), *opens]
        if calls:
            self._record(self._send(calls), [])

    def _pass_time(self) -> None:
        # 1 minute to half a year; each market's next transaction accrues it first.
        self.chain.time_travel(self.draw.log_int(60, YEAR // 2))

    def _record(self, events: list[tuple[str, Any]], cases: list[tuple[str, int, str, int, int, int]]) -> None:
        # Pair each probe log with the Morpho event logged just before it (same call).  A case's
        # state before is the state the chain reported after the previous call on that market.
        by_id = {self._id(mk.params): i for i, mk in enumerate(self.markets)}
        pending: dict[str, int] | None = None
        todo = iter(cases)
        for name, args in events:
            if name in ("Liquidate", "AccrueInterest"):
                assert pending is None, f"two Morpho events in one call: {name}"
                pending = {k: int(v) for k, v in args.items() if isinstance(v, int)}
                continue
            mk = self.markets[i := by_id[bytes(args["id"])]]
            if name == "Opened":
                mk.state, mk.positions[args["borrower"]] = _unpack(args["state"])
                self.opened += 1
            elif name == "Accrued":
                (before, _), (after, _) = _unpack(args["before"]), _unpack(args["afterwards"])
                assert before == mk.state, "the market changed outside the probe's calls"
                self.accruals.append(AccrualCase(i, before, after, pending))
                mk.state = after
            elif name == "Liquidated":
                kind, _, borrower, price, seized_in, shares_in = next(todo)
                assert args["borrower"] == borrower
                ok = bool(args["ok"])
                assert ok == (pending is not None), "a liquidation without its event, or the reverse"
                market_after, position_after = _unpack(args["state"])
                self.liquidations.append(
                    LiquidationCase(
                        kind=kind,
                        market=i,
                        lltv=mk.lltv,
                        price=price,
                        seized_in=seized_in,
                        shares_in=shares_in,
                        market_before=mk.state,
                        position_before=mk.positions[borrower],
                        ok=ok,
                        seized=int(args["seizedAssets"]),
                        repaid=int(args["repaidAssets"]),
                        reason=None if ok else _revert_reason(bytes(args["revertData"])),
                        event=pending,
                        market_after=market_after,
                        position_after=position_after,
                    )
                )
                mk.state, mk.positions[borrower] = market_after, position_after
            pending = None
        assert pending is None, "a Morpho event without the probe's log"
        assert next(todo, None) is None, "a liquidation left no log"

    def _liquidation_round(self, i: int, close_out: bool = False) -> None:
        # One transaction per market: accrue, then one case per borrower.  The cases are designed
        # on levguard's prediction of the state each will meet (the chain's state is what counts).
        # Closing out repays every position, the last one in full or as bad debt: the market's
        # last repayment can exceed its total borrow assets (zeroFloorSub), the last bad debt its
        # remaining assets (the min in the bad-debt branch).
        mk = self.markets[i]
        elapsed = self.chain.pending_timestamp() - mk.state[4]
        market = accrue_interest(mk.market, mk.rate(mk.market), max(elapsed, 0), mk.state[5]).market
        positions = dict(mk.positions)
        calls, cases = [self._call("fund", mk.params[0]), self._call("accrue", mk.params)], []
        live = [b for b, p in positions.items() if p.borrow_shares and p.collateral]
        idle = [b for b in positions if b not in live]
        for n, borrower in enumerate(live + idle[:1]):
            if close_out and borrower in live:
                last = n == len(live) - 1 and self.draw.below(2) == 1
                kind, price, seized, shares = self._design(
                    mk, market, positions[borrower], "bad_debt_seize" if last else "close"
                )
            elif borrower in live:
                kind, price, seized, shares = self._design(mk, market, positions[borrower])
            else:  # a position without debt: healthy at any price
                kind, price, seized, shares = "no_debt", self.draw.log_int(1, mk.price0 * 2), 1, 0
            calls.append(self._call("liquidate", mk.params, borrower, price, seized, shares))
            cases.append((kind, i, borrower, price, seized, shares))
            try:
                result = liquidate(market, positions[borrower], mk.lltv, price, seized, shares)
            except MorphoError:
                continue
            market, positions[borrower] = result.market, result.position
        self._record(self._send(calls), cases)

    def _design(self, mk: MarketState, market: Market, pos: Position, kind: str = "") -> tuple[str, int, int, int]:
        """Return (kind, price, seized_assets, repaid_shares) of a case for this position (of a
        random kind unless given)."""
        draw, lif = self.draw, mk.lif
        s, c = pos.borrow_shares, pos.collateral
        tba, tbs = market.total_borrow_assets, market.total_borrow_shares
        borrowed = to_assets_up(s, tba, tbs)
        # The least healthy price: maxBorrow >= borrowed <=> collateral * price >= q * 1e36.
        p_healthy = _ceil_div(_ceil_div(borrowed * WAD, mk.lltv) * ORACLE_PRICE_SCALE, c)
        # Below p_bad, seizing all the collateral repays less than the debt (collateral * price
        # / LIF < debt): bad debt.  p_bad < p_healthy, as LIF * LLTV < 1.
        p_bad = borrowed * lif * ORACLE_PRICE_SCALE // (WAD * c)

        def unhealthy() -> int:  # p_healthy - 1 down to ~0, log-uniform in the distance
            return max(p_healthy - 1 - (p_healthy - 1) * draw.log_int(1, 10**9 - 1) // 10**9, 1)

        def seized_for(shares: int, price: int) -> int:  # Morpho.liquidate, repaid shares given
            return mul_div_down(w_mul_down(to_assets_down(shares, tba, tbs), lif), ORACLE_PRICE_SCALE, price)

        def small() -> tuple[int, int]:  # a small amount in a random mode
            if draw.below(2):
                return draw.log_int(1, max(c // 1000, 1)), 0
            return 0, draw.log_int(1, max(s // 1000, 1))

        kind = kind or draw.pick(KINDS)
        if kind == "healthy":
            return (kind, p_healthy + draw.below(p_healthy // 2 + 1), *small())
        if kind == "boundary":
            return (kind, max(p_healthy + draw.between(-2, 1), 0), *small())
        if kind == "seize":
            price = unhealthy()
            return kind, price, draw.log_int(1, max(min(c, seized_for(s, price)), 1)), 0
        if kind == "repay":
            price = unhealthy()
            full = seized_for(s, price)
            return kind, price, 0, draw.log_int(1, max(s if full <= c else s * c // full, 1))
        if kind in ("bad_debt_seize", "bad_debt_repay"):
            price = p_bad - p_bad * draw.between(1_000, 990_000) // 10**6
            if kind == "bad_debt_seize" or price == 0:
                return "bad_debt_seize", price, c, 0
            lo, hi = 1, s  # the fewest shares whose seizure takes all the collateral
            while lo < hi:
                mid = (lo + hi) // 2
                lo, hi = (mid + 1, hi) if seized_for(mid, price) < c else (lo, mid)
            return kind, price, 0, lo if seized_for(lo, price) <= c else max(lo - 1, 1)
        if kind == "close":  # repay every share, some collateral left
            return kind, p_bad + 1 + draw.below(max(p_healthy - p_bad - 1, 1)), 0, s
        if kind == "overshoot":  # more than the position has: a panic
            if draw.below(2):
                return kind, unhealthy(), c + draw.log_int(1, c), 0
            return kind, unhealthy(), 0, s + draw.log_int(1, s)
        if kind == "inconsistent":  # checked before health: at healthy and unhealthy prices
            price = unhealthy() if draw.below(2) else p_healthy + draw.below(p_healthy + 1)
            return (kind, price, 0, 0) if draw.below(2) else (kind, price, draw.log_int(1, c), draw.log_int(1, s))
        sub = ("price0_seize", "price0_repay", "overflow_price", "uint128_seize", "uint128_repay")[draw.below(5)]
        if sub == "price0_seize":  # at price 0 the collateral is free: bad debt
            return sub, 0, draw.log_int(1, c), 0
        if sub == "price0_repay":  # division by the price 0
            return sub, 0, 0, draw.log_int(1, s)
        if sub == "overflow_price" and c >= 2:  # collateral * price overflows in _isHealthy
            return sub, draw.between(UINT256_MAX // c + 1, UINT256_MAX), *small()
        if sub == "uint128_seize":  # seizedAssets.toUint128()
            return sub, 0, 2**128 + draw.below(2**100), 0
        return "uint128_repay", unhealthy(), 0, 2**128 + draw.below(2**120)


# --- fixtures --------------------------------------------------------------------------------------


def _campaign(chain: Any, artifacts: dict[str, Any]) -> Campaign:
    run = Campaign(chain, artifacts, SEED)
    run.run(ROUNDS)
    return run


@pytest.fixture(scope="module")
def campaign(chain: Any, evm_build: Any, fresh_stack: Any) -> Campaign:
    return fresh_stack(_campaign, chain, evm_build("morpho-blue")["contracts"])  # type: ignore[no-any-return]


def _first(mismatches: list[str], total: int) -> str:
    return f"{len(mismatches)} of {total} cases differ; first: " + " | ".join(mismatches[:3])


# --- tests -----------------------------------------------------------------------------------------


def test_liquidations_match_the_contract_to_the_wei(campaign: Campaign) -> None:
    done = [c for c in campaign.liquidations if c.ok]
    bad = []
    for case in done:
        mine = case.levguard()
        if not isinstance(mine, LiquidateResult):
            bad.append(f"{case}: levguard raised {mine!r}")
            continue
        assert case.event is not None
        got = (
            mine.seized_assets,
            mine.repaid_assets,
            mine.repaid_shares,
            mine.bad_debt_assets,
            mine.bad_debt_shares,
            *mine.market.to_dict().values(),
            mine.position.borrow_shares,
            mine.position.collateral,
        )
        want = (
            case.seized,
            case.repaid,
            case.event["repaidShares"],
            case.event["badDebtAssets"],
            case.event["badDebtShares"],
            *case.market_after[:4],
            case.position_after.borrow_shares,
            case.position_after.collateral,
        )
        events = (case.event["seizedAssets"], case.event["repaidAssets"])
        if got != want or events != (case.seized, case.repaid) or case.market_after[4:] != case.market_before[4:]:
            bad.append(f"{case}: levguard {got}")
    assert not bad, _first(bad, len(done))


def test_reverts_match_the_contract(campaign: Campaign) -> None:
    reverted = [c for c in campaign.liquidations if not c.ok]
    bad = []
    for case in reverted:
        mine = case.levguard()
        unchanged = (case.market_after, case.position_after) == (case.market_before, case.position_before)
        if not (isinstance(mine, MorphoError) and mine.reason == case.reason and unchanged):
            bad.append(f"{case}: levguard {mine!r}")
    assert not bad, _first(bad, len(reverted))


def test_health_matches_the_contract(campaign: Campaign) -> None:
    # Morpho.liquidate reverts "position is healthy" exactly when _isHealthy holds; any other
    # outcome after the input check means the position was unhealthy (or the check panicked).
    cases = [c for c in campaign.liquidations if c.reason != INCONSISTENT_INPUT]
    bad = []
    for case in cases:
        args = (Market(*case.market_before[:4]), case.position_before, case.lltv, case.price)
        try:
            healthy: bool | str = is_healthy(*args)
        except MorphoError as exc:
            healthy = exc.reason
        chain_says: bool | str = case.reason == HEALTHY_POSITION
        if isinstance(healthy, str):  # the health check itself reverted
            chain_says = case.reason or "no revert"
        if healthy != chain_says:
            bad.append(f"{case}: levguard is_healthy {healthy!r}")
    assert not bad, _first(bad, len(cases))


def test_accrue_interest_matches_the_contract(campaign: Campaign) -> None:
    bad = []
    for case in campaign.accruals:
        before = Market(*case.before[:4])
        elapsed, fee = case.after[4] - case.before[4], case.before[5]
        rate = campaign.markets[case.market].rate(before)
        mine: AccrueInterestResult = accrue_interest(before, rate, elapsed, fee)
        event = case.event or {"prevBorrowRate": rate, "interest": 0, "feeShares": 0}
        if (
            (rate, mine.interest, mine.fee_shares) != (event["prevBorrowRate"], event["interest"], event["feeShares"])
            or mine.market != Market(*case.after[:4])
            or case.after[5] != fee
        ):
            bad.append(f"{case}: levguard rate {rate}, {mine}")
    assert not bad, _first(bad, len(campaign.accruals))


def test_direct_liquidations_agree_with_levguard(campaign: Campaign) -> None:
    # Without the probe's logs: a fresh position in every third market, liquidated by an
    # externally owned account through Morpho's own entry point, the state read from Morpho's
    # own getters; eth_call in the block of the last accrual (no interest), then the transaction
    # a day later (interest accrued inside liquidate).  The chain is put back afterwards.
    chain, morpho = campaign.chain, campaign.morpho
    liquidator, borrower = chain.accounts[1], campaign.borrowers[-1]
    checked = 0
    with chain.isolated():
        for mk in campaign.markets[:16:3]:
            market_id = campaign._id(mk.params)
            free = mk.state[0] - mk.state[2]
            opened = campaign._call("open", mk.params, borrower, mk.collateral_for(free // 3, 900), free // 3)
            campaign._send([campaign._call("setPrice", mk.params, mk.price0), opened])
            pos = Position(*morpho.functions.position(market_id, borrower).call()[1:])
            loan = chain.at(campaign.artifacts["ERC20Mock"], mk.params[0])
            chain.send(loan.functions.setBalance(liquidator, 2**128))
            chain.send(loan.functions.approve(morpho.address, 2**256 - 1), sender=liquidator)
            chain.send(campaign.oracle.functions.setPrice(mk.price0 // 2))  # at 90 % of the LLTV: unhealthy
            chain.send(morpho.functions.accrueInterest(mk.params))
            *totals, last_update, fee = morpho.functions.market(market_id).call()
            market = Market(*totals)
            shares = max(pos.borrow_shares // 3, 1)
            call = morpho.functions.liquidate(mk.params, borrower, 0, shares, b"")
            now = liquidate(market, pos, mk.lltv, mk.price0 // 2, 0, shares)
            assert tuple(call.call({"from": liquidator})) == (now.seized_assets, now.repaid_assets)

            elapsed = chain.time_travel(86_400) - last_update
            accrued = accrue_interest(market, mk.rate(market), elapsed, fee)
            mine = liquidate(accrued.market, pos, mk.lltv, mk.price0 // 2, 0, shares)
            receipt = chain.send(call, sender=liquidator)
            (event,) = morpho.events.Liquidate().process_receipt(receipt, errors=DISCARD)
            (interest,) = morpho.events.AccrueInterest().process_receipt(receipt, errors=DISCARD)
            assert (interest["args"]["interest"], interest["args"]["feeShares"]) == (
                accrued.interest,
                accrued.fee_shares,
            )
            assert accrued.interest > 0
            assert (event["args"]["repaidShares"], event["args"]["seizedAssets"], event["args"]["repaidAssets"]) == (
                mine.repaid_shares,
                mine.seized_assets,
                mine.repaid_assets,
            )
            assert Market(*morpho.functions.market(market_id).call()[:4]) == mine.market
            assert Position(*morpho.functions.position(market_id, borrower).call()[1:]) == mine.position
            checked += 1
    assert checked == 6


def test_the_cases_cover_what_they_claim(campaign: Campaign) -> None:
    # The agreement above means something only if the cases reach every branch: both modes,
    # bad debt in both, every revert, both sides of the health boundary (and equality on it),
    # the zeroFloorSub and the min of the bad-debt branch, shares off the 1e6 ratio, fees.
    cases = campaign.liquidations
    reasons = Counter(c.reason for c in cases if not c.ok)
    done = [c for c in cases if c.ok]
    assert len(cases) >= 1_000
    by_mode = Counter("seize" if c.seized_in else "repay" for c in done)
    assert by_mode["seize"] >= 200
    assert by_mode["repay"] >= 200
    bad_debt = [c for c in done if c.event and c.event["badDebtShares"]]
    assert Counter("seize" if c.seized_in else "repay" for c in bad_debt) >= Counter(seize=50, repay=20)
    assert reasons >= Counter({HEALTHY_POSITION: 100, PANIC_ARITHMETIC: 50})
    assert reasons >= Counter({INCONSISTENT_INPUT: 5, MAX_UINT128_EXCEEDED: 5, PANIC_DIVISION_BY_ZERO: 5})

    boundary = [c for c in cases if c.kind == "boundary"]
    verdicts = Counter(c.reason == HEALTHY_POSITION for c in boundary)
    assert verdicts[True] >= 20
    assert verdicts[False] >= 20
    on_the_line = 0
    for c in boundary:
        tba, tbs = c.market_before[2:4]
        borrowed = to_assets_up(c.position_before.borrow_shares, tba, tbs)
        on_the_line += (
            w_mul_down(mul_div_down(c.position_before.collateral, c.price, ORACLE_PRICE_SCALE), c.lltv) == borrowed
        )
    assert on_the_line >= 5

    assert sum(c.repaid > c.market_before[2] for c in done) >= 2  # zeroFloorSub floors at 0
    binding = 0
    for c in bad_debt:
        assert c.event is not None
        tba = max(c.market_before[2] - c.repaid, 0)
        tbs = c.market_before[3] - c.event["repaidShares"]
        binding += to_assets_up(c.event["badDebtShares"], tba, tbs) > tba
    assert binding >= 2  # the bad debt capped at the market's remaining borrow assets

    for index, mk in enumerate(campaign.markets):
        if mk.params[3] == ZERO_ADDRESS:
            continue  # the dust market: no interest
        states = [c.market_before for c in cases if c.market == index]
        assert any(tbs != tba * 10**6 for _, _, tba, tbs, _, _ in states)
        assert any(tss != tsa * 10**6 for tsa, tss, _, _, _, _ in states)
    assert {mk.decimals for mk in campaign.markets} == set(DECIMALS)
    assert {mk.lltv for mk in campaign.markets} == set(LLTVS)
    accrued = [a.event for a in campaign.accruals if a.event]
    assert sum(1 for e in accrued if e["interest"]) >= 80
    assert sum(1 for e in accrued if e["feeShares"]) >= 25
