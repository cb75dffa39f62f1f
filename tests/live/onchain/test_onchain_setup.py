"""On-chain accounts without a chain: the config, the CLI against a node that is down, the signing
key's secrecy, failure classification, the reserve configuration bitmap, the action's sizing and
the health-factor rules (the chain itself: tests/evm/test_onchain_guardian.py)."""

from __future__ import annotations

import io
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st
from typer.testing import CliRunner

pytest.importorskip("web3")

from levguard.cli.main import app
from levguard.config.guardian import parse_guardian_config
from levguard.errors import (
    ConfigError,
    InputError,
    VenueAuthError,
    VenuePermanentError,
    VenueRateLimitError,
    VenueRetryableError,
)
from levguard.live.onchain import AssetFigures, HealthRules, LendingAssessment, OnchainAccountSetup
from levguard.live.onchain_tx import plan
from levguard.venues.base import Venue
from levguard.venues.onchain import LocalSigner, OnchainVenue, classify, load_web3
from levguard.venues.onchain_read import decode_reserve_configuration

runner = CliRunner()
KEY = "0x" + "4c" * 32  # a test key: holds nothing anywhere
WALLET = "0x00000000000000000000000000000000000A11CE"
POOL = "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2"
MORPHO = "0xBBBBBbbBBb9cC5e90e3b3Af64bdAF62C37EEFFCb"
DOWN = "http://127.0.0.1:9"  # nothing listens: connection refused at once


def onchain_config(tmp_path: Path, **venue: Any) -> dict[str, Any]:
    v = {"type": "onchain", "protocol": "aave-v3", "rpc_url": DOWN, "pool": POOL, "wallet": WALLET, "read_timeout_s": 5}
    v.update(venue)
    account = {"name": "aave", "venue": v, "retries": 0, "backoff_s": 0}
    return {
        "database": f"sqlite:///{tmp_path / 'g.db'}",
        "interval_s": 0.05,
        "alerts": {"log": False},
        "accounts": [account],
    }


# --- config ----------------------------------------------------------------------------------------------


def test_the_config_accepts_on_chain_accounts(tmp_path: Path) -> None:
    cfg = onchain_config(tmp_path)
    cfg["accounts"].append(
        {
            "name": "morpho",
            "venue": {
                "type": "onchain",
                "protocol": "morpho-blue",
                "rpc_url_env": "ETH_RPC_URL",
                "morpho": MORPHO,
                "market_id": "0x" + "ab" * 32,
                "wallet": WALLET,
                "key_env": "GUARD_KEY",
            },
            "thresholds": {"health_factor": [1.6, 1.3, 1.2]},
            "actions": {"target_health_factor": 1.5, "prefer": "supply"},
        }
    )
    parsed = parse_guardian_config(cfg)
    aave, morpho = parsed.accounts
    assert aave.venue.type == "onchain"
    assert aave.venue.aave_version == "3.3"
    assert morpho.thresholds.health_factor == (1.6, 1.3, 1.2)
    assert morpho.actions.prefer == "supply"


@pytest.mark.parametrize(
    ("venue", "message"),
    [
        ({"pool": None}, "pool"),
        ({"rpc_url_env": "X"}, "exactly one of rpc_url and rpc_url_env"),
        ({"protocol": "morpho-blue"}, "morpho and market_id"),
        ({"protocol": "compound-iii"}, "protocol"),
        ({"key_env": "A", "key_file": "b"}, "key_env or key_file"),
        ({"fee_bump": 0.05}, "fee_bump"),
        ({"max_fee_per_gas_gwei": 0}, "max_fee_per_gas_gwei"),
        ({"max_fee_per_gas_gwei": 1e-12}, "max_fee_per_gas_gwei"),  # 0 wei once rounded
    ],
)
def test_a_malformed_on_chain_venue_is_one_line_exit_2(tmp_path: Path, venue: dict[str, Any], message: str) -> None:
    cfg = onchain_config(tmp_path, **venue)
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = runner.invoke(app, ["guard", str(path), "--max-cycles", "1"])
    assert res.exit_code == 2
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_the_replacement_policy_reaches_the_venue(tmp_path: Path) -> None:
    from levguard.cli.guard import _onchain

    cfg = onchain_config(tmp_path, replace_after_cycles=3, fee_bump=0.2, max_fee_per_gas_gwei=250.5)
    (acc,) = parse_guardian_config(cfg).accounts
    venue, _ = _onchain(acc, None)
    assert (venue.replace_after_cycles, venue.fee_bump, venue.max_fee_per_gas) == (3, 0.2, 250_500_000_000)
    (default,) = parse_guardian_config(onchain_config(tmp_path)).accounts
    venue, _ = _onchain(default, None)
    assert (venue.replace_after_cycles, venue.fee_bump, venue.max_fee_per_gas) == (2, 0.125, None)


def test_the_cli_runs_an_on_chain_account_whose_node_is_down(tmp_path: Path) -> None:
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump(onchain_config(tmp_path)))
    res = runner.invoke(app, ["guard", str(path), "--max-cycles", "1", "--json"])
    assert res.exit_code == 0, res.output
    (report,) = json.loads(res.stdout)
    assert report["status"] == "stale"
    assert "chain unavailable" in report["reason"]
    table = runner.invoke(app, ["guard", str(path), "--max-cycles", "1"])
    assert table.exit_code == 0
    assert "stale" in table.stdout


def test_the_cli_refuses_a_live_account_whose_key_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUARD_KEY", raising=False)
    path = tmp_path / "guard.yaml"
    path.write_text(yaml.safe_dump(onchain_config(tmp_path, key_env="GUARD_KEY")))
    res = runner.invoke(app, ["guard", str(path), "--max-cycles", "1"])
    assert res.exit_code == 2
    assert "GUARD_KEY" in res.stderr


def test_the_table_shows_the_health_factor() -> None:
    from rich.console import Console

    from levguard.cli.guard import _table

    view = {"symbol": "aave-v3 WETH/USDC", "qty": 10.0, "mark": 2_000.0, "liquidation_price": 1_875.0,
            "distance": 0.0625, "p_liq": math.nan, "state": "ACT", "health_factor": 1.0667, "target_hf": 1.35,
            "action": {"side": "repay", "qty": 3_246.5, "dry_run": True}}  # fmt: skip
    out = io.StringIO()
    Console(file=out, width=200).print(_table([{"account": "aave", "positions": [view]}], "t"))
    assert "HF 1.067 → 1.35" in out.getvalue()
    assert "would repay 3246" in out.getvalue()


# --- the key ---------------------------------------------------------------------------------------------


def test_the_key_never_shows(tmp_path: Path) -> None:
    signer = LocalSigner(KEY)
    assert KEY[2:] not in repr(signer)
    assert signer.address in repr(signer)
    venue = OnchainVenue("aave-v3", rpc_url="https://user:secret@rpc.example.com/k3y", wallet=WALLET, pool=POOL,
                         signer=signer)  # fmt: skip
    assert KEY[2:] not in repr(venue)
    assert "secret" not in repr(venue)
    assert "k3y" not in repr(venue)
    with pytest.raises(ConfigError) as bad:
        LocalSigner("0x" + "zz" * 32)
    assert "zz" not in str(bad.value)
    f = tmp_path / "key"
    f.write_text(KEY)
    os.chmod(f, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        LocalSigner.from_file(f)
    os.chmod(f, 0o600)
    assert LocalSigner.from_file(f).address == signer.address
    with pytest.raises(ConfigError, match="NO_SUCH_KEY"):
        LocalSigner.from_env("NO_SUCH_KEY", {})


def test_the_rpc_urls_key_never_reaches_an_error() -> None:
    import asyncio

    venue = OnchainVenue("aave-v3", rpc_url="http://user:s3cret@127.0.0.1:9/v3/k3yk3y?apikey=q4q4", wallet=WALLET,
                         pool=POOL, read_timeout_s=5)  # fmt: skip
    with pytest.raises(VenueRetryableError) as err:
        asyncio.run(venue.read())
    text = str(err.value)
    assert "127.0.0.1" in text
    assert not any(secret in text for secret in ("s3cret", "k3yk3y", "q4q4"))


def test_web3_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "web3", None)
    with pytest.raises(ConfigError, match=r"levguard\[onchain\]"):
        load_web3()


def test_the_venue_is_a_venue_and_refuses_orders() -> None:
    import asyncio

    from levguard.errors import VenueOrderRejectedError
    from levguard.venues.base import OrderRequest

    venue = OnchainVenue("aave-v3", rpc_url=DOWN, wallet=WALLET, pool=POOL)
    assert isinstance(venue, Venue)
    with pytest.raises(VenueOrderRejectedError, match="transactions, not orders"):
        asyncio.run(venue.create_order(OrderRequest("WETH", "sell", 1.0, "lgx")))
    with pytest.raises(InputError, match="market_id"):
        OnchainVenue("morpho-blue", rpc_url=DOWN, wallet=WALLET, morpho=MORPHO, market_id="0x12")


# --- failures, the configuration bitmap ------------------------------------------------------------------


class _Response:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


class _HTTPError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.response = _Response(status)


class ContractLogicError(Exception):
    """Named as web3's: a call that reverted."""


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (_HTTPError(429), VenueRateLimitError),
        (_HTTPError(401), VenueAuthError),
        (_HTTPError(503), VenueRetryableError),
        (ConnectionError("refused"), VenueRetryableError),
        (ContractLogicError("execution reverted: 45"), VenuePermanentError),
    ],
)
def test_failures_are_classified(exc: Exception, kind: type[Exception]) -> None:
    err = classify(exc, "read")
    assert type(err) is kind
    assert str(err).startswith("read: ")


def _pack(fields: dict[str, int]) -> int:
    # Aave's ReserveConfigurationMap, written independently of the decoder (bit positions as the
    # protocol's ReserveConfiguration.sol documents them).
    layout = {"ltv": (0, 16), "lt": (16, 16), "bonus": (32, 16), "decimals": (48, 8), "active": (56, 1),
              "frozen": (57, 1), "paused": (60, 1), "borrowable_in_isolation": (61, 1), "siloed": (62, 1),
              "reserve_factor": (64, 16), "borrow_cap": (80, 36), "supply_cap": (116, 36),
              "protocol_fee": (152, 16), "emode": (168, 8), "debt_ceiling": (212, 40)}  # fmt: skip
    data = 0
    for name, (lo, n) in layout.items():
        data |= (int(fields[name]) & ((1 << n) - 1)) << lo
    return data


_FIELDS = st.fixed_dictionaries(
    {
        "ltv": st.integers(0, 65_535),
        "lt": st.integers(0, 65_535),
        "bonus": st.integers(0, 65_535),
        "decimals": st.integers(0, 255),
        "active": st.booleans(),
        "frozen": st.booleans(),
        "paused": st.booleans(),
        "borrowable_in_isolation": st.booleans(),
        "siloed": st.booleans(),
        "reserve_factor": st.integers(0, 65_535),
        "borrow_cap": st.integers(0, 2**36 - 1),
        "supply_cap": st.integers(0, 2**36 - 1),
        "protocol_fee": st.integers(0, 65_535),
        "emode": st.integers(0, 255),
        "debt_ceiling": st.integers(0, 2**40 - 1),
    }
)


@given(_FIELDS, st.integers(0, 2**256 - 1))
def test_the_reserve_configuration_decodes_what_was_packed(fields: dict[str, Any], noise: int) -> None:
    # Bits the decoder does not read (borrowing, stable rate, flash loans, unbacked mint cap,
    # virtual accounting) carry random noise and must not leak into the fields.
    read_bits = _pack({k: (1 << 40) - 1 for k in fields})
    decoded = decode_reserve_configuration(_pack(fields) | (noise & ~read_bits))
    assert decoded == fields


def test_the_reserve_configuration_of_weth_on_aave_ethereum() -> None:
    # WETH on Aave v3 Ethereum at listing (aave-address-book / governance payload): LTV 80 %,
    # liquidation threshold 82.5 %, bonus 5 % (10500), 18 decimals, protocol fee 10 %.
    data = _pack({"ltv": 8000, "lt": 8250, "bonus": 10500, "decimals": 18, "active": 1, "frozen": 0, "paused": 0,
                  "borrowable_in_isolation": 0, "siloed": 0, "reserve_factor": 1000, "borrow_cap": 0, "supply_cap": 0,
                  "protocol_fee": 1000, "emode": 1, "debt_ceiling": 0})  # fmt: skip
    d = decode_reserve_configuration(data)
    assert (d["ltv"], d["lt"], d["bonus"], d["decimals"], d["protocol_fee"], d["emode"]) == (
        8000,
        8250,
        10500,
        18,
        1000,
        1,
    )


# --- rules and the action's size ----------------------------------------------------------------------------


def test_health_rules_map_to_the_guardians_thresholds() -> None:
    rules = HealthRules(health_factor=(1.5, 1.25, 1.15), target_hf=1.35)
    assert rules.thresholds().margin_ratio == pytest.approx((1 / 1.5, 0.8, 1 / 1.15))
    for bad, match in [({"health_factor": (1.1, 1.25, 1.15)}, "decreasing"), ({"health_factor": (1.5, 1.2, 1.0)}, "> 1"),
                       ({"target_hf": 1.1}, "above the ACT"), ({"p_hf_below_one": (0.5, 0.2, 0.1)}, "increasing")]:  # fmt: skip
        with pytest.raises(InputError, match=match):
            HealthRules(**bad)


def _setup(prefer: str = "repay", cap: float = 100_000.0) -> OnchainAccountSetup:
    from levguard.defi.onchain import assess

    venue = OnchainVenue("aave-v3", rpc_url=DOWN, wallet=WALLET, pool=POOL)
    return OnchainAccountSetup(name="a", venue=venue, assess=assess, rules=HealthRules(prefer=prefer),  # type: ignore[arg-type]
                               max_order_notional=cap)  # fmt: skip


class _Read:
    def __init__(self, balances: dict[str, int]) -> None:
        self.balances = balances


def _assessment(repay: int | None, supply: int | None) -> LendingAssessment:
    return LendingAssessment(
        int(1.1 * 10**18), 1.35, "USD", 30_000.0, 22_000.0,
        (AssetFigures("WETH", 3_000.0, 18, 10 * 10**18, 0, 2_700.0, None, supply),
         AssetFigures("USDC", 1.0, 6, 0, 22_000 * 10**6, None, repay, None)),
    )  # fmt: skip


@example(need=10, usdc=1, weth=10**20, cap=1e6, prefer="repay")  # 1 unit short of 10: the supply reaches the target
@given(
    need=st.integers(1, 10**12),
    usdc=st.integers(0, 10**12),
    weth=st.integers(0, 10**20),
    cap=st.floats(1.0, 1e6),
    prefer=st.sampled_from(["repay", "supply"]),
)
def test_the_action_never_exceeds_the_wallet_the_debt_or_the_cap(
    need: int, usdc: int, weth: int, cap: float, prefer: str
) -> None:
    setup = _setup(prefer, cap)
    a = _assessment(need, 10**18)
    chosen = plan(setup, _Read({"USDC": usdc, "WETH": weth}), a)  # type: ignore[arg-type]
    if chosen is None:
        assert usdc == 0 or math.floor(cap * 10**6) == 0
        assert weth == 0 or math.floor(cap / 3_000 * 10**18) == 0
        return
    kind, symbol, amount, _ = chosen
    price, dec, have = (1.0, 6, usdc) if symbol == "USDC" else (3_000.0, 18, weth)
    assert kind == ("repay" if symbol == "USDC" else "supply")
    assert 0 < amount <= have
    assert amount * price / 10**dec <= cap * (1 + 1e-12)
    assert amount <= (need if symbol == "USDC" else 10**18)
    # The preferred repayment goes unless the wallet or the cap cuts it short of the target (then an
    # action that reaches it, or the larger health factor rise, goes: the plan's rule).
    if prefer == "repay" and min(usdc, math.floor(cap * 10**6)) >= need:
        assert kind == "repay"


def test_a_wallet_without_the_tokens_cannot_act() -> None:
    assert plan(_setup(), _Read({"USDC": 0, "WETH": 0}), _assessment(10**9, 10**18)) is None  # type: ignore[arg-type]
    # The target out of reach by repaying (None): the whole debt, as far as the wallet covers it.
    kind, symbol, amount, reasons = plan(_setup(), _Read({"USDC": 5 * 10**9}), _assessment(None, None))  # type: ignore[arg-type,misc]
    assert (kind, symbol, amount) == ("repay", "USDC", 5 * 10**9)
    assert "out of reach" in reasons[-1]


def _odd_morpho_read(market: Any, position: Any) -> Any:
    # 1.1 USDC per 1e6 borrow shares, the collateral's feed at 0, 1e6 USDC in the wallet.
    from levguard.venues.onchain_read import MorphoRead

    return MorphoRead(
        wallet=WALLET, payer=WALLET, morpho="0x" + "22" * 20, market_id="0x" + "33" * 32,
        market_params=("0x" + "44" * 20, "0x" + "55" * 20, "0x" + "66" * 20, "0x" + "00" * 20, 86 * 10**16),
        block_number=1, block_timestamp=1_800_000_000, read_ns=0, market=market, market_stored=market,
        last_update=1_800_000_000, fee=0, position=position, supply_shares=0, oracle_price=0,
        lltv=86 * 10**16, loan_symbol="USDC", collateral_symbol="WETH", loan_decimals=6, collateral_decimals=18,
        oracles=(), balances={"USDC": 10**12, "WETH": 0}, allowances={"USDC": 2**256 - 1, "WETH": 0},
        assets={"USDC": "0x" + "44" * 20, "WETH": "0x" + "55" * 20},
    )  # fmt: skip


def test_a_morpho_repayment_is_one_the_contract_accepts_by_assets() -> None:
    """At 1.1 loan units per 1e6 borrow shares the debt itself, ``toAssetsUp(shares)``, burns more
    shares by assets than the position owes and ``Morpho.repay`` reverts (Morpho.sol ``repay``):
    with the collateral's feed at 0 the guardian sent it every cycle."""
    from levguard.core.defi.morpho import Market, Position
    from levguard.defi import morpho
    from levguard.defi.onchain import assess

    market = Market(2 * 10**12, 2 * 10**18, 11 * 10**11, 10**18)
    position = Position(borrow_shares=123_456_789_123, collateral=10**18)
    read = _odd_morpho_read(market, position)
    a = assess(read, 1.5)
    usdc = next(x for x in a.assets if x.symbol == "USDC")
    assert (usdc.debt, usdc.repay_to_target, usdc.repay_max) == (135_803, None, 135_802)
    assert "by shares, costs 135803" in usdc.note
    chosen = plan(_setup(), read, a)  # type: ignore[arg-type]
    assert chosen is not None
    kind, symbol, amount, _ = chosen
    assert (kind, symbol, amount) == ("repay", "USDC", 135_802)
    morpho.repay(market, position, assets=amount)  # accepted (135,803 reverts)


def test_a_morpho_rest_only_shares_can_repay_is_said_not_read_as_no_funds() -> None:
    """After that repayment 1 unit is owed and no repayment by assets is accepted (repay_max 0):
    the wallet still holds USDC, so the skip says a repayment by shares is needed, not no funds."""
    import asyncio
    from types import SimpleNamespace

    from levguard.core.defi.morpho import Market, Position
    from levguard.defi import morpho
    from levguard.defi.onchain import assess
    from levguard.live.onchain_tx import protect

    r = morpho.repay(
        Market(2 * 10**12, 2 * 10**18, 11 * 10**11, 10**18), Position(123_456_789_123, 10**18), assets=135_802
    )
    read = _odd_morpho_read(r.market, r.position)
    a = assess(read, 1.5)
    assert [(x.debt, x.repay_max) for x in a.assets if x.symbol == "USDC"] == [(1, 0)]
    alerts: list[tuple[Any, ...]] = []

    async def alert(*args: Any, **kw: Any) -> None:
        alerts.append(args)

    g = SimpleNamespace(_audit=lambda *args: None, _alert=alert)
    setup = _setup()
    decision = asyncio.run(protect(g, setup, None, None, read, a, {"symbol": "USDC"}, 0))  # type: ignore[arg-type]
    assert decision["skipped"] == "repay_by_shares_only"
    assert (decision["symbol"], decision["debt"]) == ("USDC", 1)
    assert "only by shares" in alerts[0][3]
