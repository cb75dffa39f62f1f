"""Guardian configuration (``levguard guard CONFIG.yaml``), validated by pydantic.

Example::

    database: sqlite:///levguard-guard.db      # beside this file; or postgresql+psycopg://user@host/db
    interval_s: 5
    fast_interval_s: 1
    alerts:
      log: true
      webhook: {url: https://hooks.example.com/levguard}
      email: {host: smtp.example.com, port: 587, sender: guard@example.com, to: [risk@example.com],
              username_env: SMTP_USER, password_env: SMTP_PASSWORD, starttls: true}
    accounts:
      - name: main
        live: false                            # per-account opt-in (also needs --live)
        venue: {type: ccxt, exchange: binanceusdm, api_key_env: BINANCE_KEY, secret_env: BINANCE_SECRET}
        policy: {policy: {type: vol_target, target_vol: 0.5, max_leverage: 5}}   # a policy file's content
        thresholds: {margin_ratio: [0.5, 0.7, 0.85], distance: [0.15, 0.08, 0.04], p_liq: [0.05, 0.2, 0.5]}
        horizon_days: 1                        # of P(liq), at most 30
        history: {BTCUSDT: btcusdt-mark-1h.csv}  # hourly (mark) bars for the liquidation forecaster
        actions: {act_level: ACT, max_order_notional: 50000, step_fraction: 0.5, cooldown_s: 30}
        max_age_s: 15
      - name: aave                             # an on-chain lending position (docs/guardian.md)
        venue: {type: onchain, protocol: aave-v3, rpc_url_env: ETH_RPC_URL, wallet: "0x…", key_env: GUARD_KEY,
                pool: "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2"}   # Aave v3 Ethereum (aave-address-book)
        thresholds: {health_factor: [1.5, 1.25, 1.15], p_liq: [0.05, 0.2, 0.5]}   # p_liq: P(HF < 1)
        history: {WETH: eth-usd-1h.csv}          # per asset: P(HF < 1) over horizon_days
        actions: {target_health_factor: 1.35, prefer: repay, max_order_notional: 50000}
        # a loop with an empty wallet: prefer: unwind, venue.swapper: "0x…" (a swap contract),
        # unwind_min_health_factor: 1.05, unwind_rounds: 4, max_slippage_bps: 100

Secrets: API keys come only from environment variables (``*_env``) or a secrets file (YAML or
JSON with ``api_key``, ``secret``, ``password``) readable by its owner only (mode 0600); they
are held as :class:`pydantic.SecretStr` (redacted in every repr and error), never logged and
never stored in the database.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

from levguard.config._base import AsTuple, NonNeg, Pos, _Model, _read_file
from levguard.config.policies import _validated
from levguard.core.validate import VOL_RANGE
from levguard.errors import ConfigError, InputError
from levguard.kernels.margin import AMOUNT_MAX, AMOUNT_MIN

__all__ = [
    "AccountConfig",
    "GuardianFile",
    "Secrets",
    "load_guardian_file",
    "load_secrets",
    "parse_guardian_config",
    "sqlite_beside",
]


class Secrets(_Model):
    """API credentials (redacted in reprs)."""

    api_key: SecretStr | None = None
    secret: SecretStr | None = None
    password: SecretStr | None = None


class CcxtVenueConfig(_Model):
    type: Literal["ccxt"]
    exchange: str
    rule_set: str | None = None
    api_key_env: str | None = None
    secret_env: str | None = None
    password_env: str | None = None
    secrets_file: str | None = None
    sandbox: bool = False
    timeout_ms: Annotated[int, Field(ge=100, le=120_000)] = 10_000
    # The margin wallet's currency (default per exchange: CcxtVenue's SETTLE_CURRENCIES; Deribit USDC),
    # one the rule set models: checked when the venue is built.
    settle: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{2,12}$")] | None = None
    # Unified accounts (binance-pm, bybit-uta): maintenance rate of margin loans (docs/guardian.md).
    loan_mmr: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None


# A paper account's amounts and prices: the margin engine's range (1e-30 to 1e30), so a number it
# would refuse in every cycle is refused here, once, with the config's field named.
def _in_range(v: float) -> float:
    if not AMOUNT_MIN <= abs(v) <= AMOUNT_MAX:
        raise ValueError(f"must be {'a size' if v < 0 else 'a number'} of magnitude {AMOUNT_MIN:g} to {AMOUNT_MAX:g}")
    return v


Amount = Annotated[float, Field(gt=0, allow_inf_nan=False), AfterValidator(_in_range)]


class PaperPosition(_Model):
    symbol: str
    qty: Annotated[float, Field(allow_inf_nan=False), AfterValidator(_in_range)]
    entry_price: Amount
    margin_mode: Literal["isolated", "cross"] = "cross"
    isolated_margin: Amount | None = None


class PaperVenueConfig(_Model):
    type: Literal["paper"]
    rule_set: str = "binance-usdm"
    wallet_balance: Amount = 10_000.0
    positions: list[PaperPosition] = Field(default_factory=list)
    crash: dict[str, Any] = Field(default_factory=lambda: {"start": 60_000.0, "drop": 0.3, "ticks": 120})


class OnchainVenueConfig(_Model):
    """An Aave v3 account or a Morpho Blue position read over JSON-RPC (docs/guardian.md)."""

    type: Literal["onchain"]
    protocol: Literal["aave-v3", "morpho-blue"]
    rpc_url: str | None = None
    rpc_url_env: str | None = None  # the URL from an environment variable (it may hold a provider key)
    wallet: str
    pool: str | None = None  # aave-v3: the Pool
    morpho: str | None = None  # morpho-blue: the Morpho contract ...
    market_id: str | None = None  # ... and the market id
    key_env: str | None = None  # the signing key (hex) from an environment variable ...
    key_file: str | None = None  # ... or from a file readable by its owner only
    swapper: str | None = None  # prefer: unwind: a swap contract (levguard.venues.onchain_swap.ContractSwapper)
    # core.defi.aave AAVE_VERSIONS (a v3.4 pool computes as "3.3")
    aave_version: Literal["3.0", "3.1", "3.2", "3.3", "3.5", "3.6"] = "3.3"
    heartbeats: dict[str, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)
    default_heartbeat_s: Annotated[int, Field(gt=0)] = 86_400
    timeout_s: Annotated[float, Field(gt=0, lt=3600)] = 10.0
    read_timeout_s: Annotated[float, Field(gt=0, lt=3600)] = 30.0
    # A transaction pending this many cycles and priced below the market is replaced at its nonce,
    # both fees raised by fee_bump at least (geth's least: 0.10), never above max_fee_per_gas_gwei.
    replace_after_cycles: Annotated[int, Field(ge=1, le=1000)] = 2
    fee_bump: Annotated[float, Field(ge=0.10, le=10)] = 0.125
    # at least 1 wei (1e-9 gwei): a smaller cap rounds to 0 wei
    max_fee_per_gas_gwei: Annotated[float, Field(ge=1e-9, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _complete(self) -> OnchainVenueConfig:
        if (self.rpc_url is None) == (self.rpc_url_env is None):
            raise ValueError("give exactly one of rpc_url and rpc_url_env")
        if self.protocol == "aave-v3" and not self.pool:
            raise ValueError("pool (the Aave v3 Pool's address) is required for protocol aave-v3")
        if self.protocol == "morpho-blue" and not (self.morpho and self.market_id):
            raise ValueError("morpho and market_id are required for protocol morpho-blue")
        if self.key_env and self.key_file:
            raise ValueError("give key_env or key_file, not both")
        return self


# Rates are fractions (docs: ARCHITECTURE.md, convention 3): ``vol: 60`` or ``p_liq: [5, 20, 50]``
# (percent) was accepted, and a p_liq threshold of 5 is never reached (a vol of 60 is 6,000 %).
def _fraction(upper: float, what: str) -> AfterValidator:
    def check(v: float) -> float:
        if not 0 < v <= upper:
            hint = f"; if {v:g} is a percentage, write {v / 100:g}" if v > upper else ""
            raise ValueError(f"must be {what} as a fraction in (0, {upper:g}] (0.60 for 60 %){hint}")
        return v

    return AfterValidator(check)


_MAX_VOL = VOL_RANGE[1]  # the one bound on an annualised volatility (levguard risk --vol's too)
Prob = Annotated[float, Field(allow_inf_nan=False), _fraction(1.0, "a probability")]
Ratio = Annotated[float, Field(allow_inf_nan=False), _fraction(1.0, "a margin ratio")]
Distance = Annotated[float, Field(allow_inf_nan=False), _fraction(1.0, "a distance to liquidation")]
Vol = Annotated[float, Field(allow_inf_nan=False), _fraction(_MAX_VOL, "an annualised volatility")]


class Thresholds(_Model):
    margin_ratio: Annotated[tuple[Ratio, Ratio, Ratio], AsTuple] = (0.5, 0.7, 0.85)
    distance: Annotated[tuple[Distance, Distance, Distance], AsTuple] = (0.15, 0.08, 0.04)
    p_liq: Annotated[tuple[Prob, Prob, Prob], AsTuple] = (0.05, 0.2, 0.5)  # on-chain accounts: P(HF < 1)
    hysteresis: Annotated[float, Field(ge=0, lt=1)] = 0.1
    health_factor: Annotated[tuple[Pos, Pos, Pos], AsTuple] = (1.5, 1.25, 1.15)  # on-chain accounts: warn, danger, act


class Actions(_Model):
    act_level: Literal["WARN", "DANGER", "ACT"] = "ACT"
    target_leverage: Pos = 3.0
    max_order_notional: Pos = 100_000.0
    step_fraction: Annotated[float, Field(gt=0, le=1)] = 0.5
    cooldown_s: NonNeg = 30.0
    target_health_factor: Pos = 1.35  # on-chain accounts: what a repayment or supply restores
    prefer: Literal["repay", "supply", "unwind"] = "repay"  # on-chain accounts: the action tried first
    # on-chain unwind: the least HF a withdrawal leaves, rounds per action, the sale's slippage bound
    unwind_min_health_factor: Annotated[float, Field(gt=1, lt=100, allow_inf_nan=False)] = 1.05
    unwind_rounds: Annotated[int, Field(ge=1, le=20)] = 4
    max_slippage_bps: Annotated[float, Field(ge=0, lt=5_000, allow_inf_nan=False)] = 100.0


#: Longest account name (characters): the store's ``accounts.name`` column (``String(200)``).
ACCOUNT_NAME_MAX = 200


def _account_name(v: str) -> str:
    # The name is a path segment of the API (/api/accounts/{name}) and a key in logs and alerts.
    ok = 0 < len(v) <= ACCOUNT_NAME_MAX and v.isprintable() and v.strip() == v
    if not ok or v in (".", "..") or "/" in v or "\\" in v:
        raise ValueError(
            f"an account name must be 1 to {ACCOUNT_NAME_MAX} printable characters, without / or \\ or "
            "surrounding spaces, and not . or .. (it is a path segment of the API's account routes)"
        )
    return v


class AccountConfig(_Model):
    name: Annotated[str, AfterValidator(_account_name)]
    live: bool = False
    venue: Annotated[CcxtVenueConfig | PaperVenueConfig | OnchainVenueConfig, Field(discriminator="type")]
    policy: dict[str, Any] | str | None = None
    thresholds: Thresholds = Thresholds()
    actions: Actions = Actions()
    max_age_s: Pos = 15.0
    drift_threshold: Pos = 0.01
    horizon_days: Annotated[float, Field(gt=0, le=30, allow_inf_nan=False)] = 1.0
    history: str | dict[str, str] | None = None
    forecast_model: Literal["default", "excursion", "naive"] = "default"
    vol: Vol | None = None  # annualised, a fraction (0.6 for 60 %)
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    # Unified accounts: relative gap to the venue's own ratio beyond which ratio_mismatch is alerted.
    ratio_tolerance: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.05
    backoff_s: NonNeg = 0.5
    assume_order_expiry_s: Pos = 120.0


class WebhookConfig(_Model):
    url: str
    timeout_s: Pos = 5.0

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v


class EmailConfig(_Model):
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    sender: str
    to: list[str]
    username_env: str | None = None
    password_env: str | None = None
    starttls: bool = True
    min_level: Literal["info", "warning", "critical"] = "warning"


class AlertsConfig(_Model):
    log: bool = True
    webhook: WebhookConfig | None = None
    email: EmailConfig | None = None


class GuardianFile(_Model):
    """The whole guardian file."""

    database: str = "sqlite:///levguard-guard.db"
    interval_s: Pos = 5.0
    fast_interval_s: Pos = 1.0
    id: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    owner: str | None = None  # the former name of ``id`` (still accepted)
    lease_ttl_s: Pos = 30.0
    unwatched_alert_s: NonNeg = 60.0
    alert_repeat_s: NonNeg = 300.0
    escalate_after: Annotated[int, Field(ge=1, le=1000)] = 3
    order_expiry_margin_s: NonNeg = 10.0
    cycle_budget_s: Pos = 5.0
    cycle_audit_every_s: NonNeg = 60.0
    snapshot_retention_days: NonNeg = 30.0
    alerts: AlertsConfig = AlertsConfig()
    accounts: Annotated[list[AccountConfig], Field(min_length=1)]

    @field_validator("database")
    @classmethod
    def _kept(cls, v: str) -> str:
        # The guardian's write-ahead log must outlive it: an in-memory SQLite store vanishes with
        # the process, and a restart after a crash would not know its orders.
        from sqlalchemy.engine import make_url

        try:
            url = make_url(v)
        except Exception:  # the store reports a malformed URL itself, without echoing a password
            return v
        memory = url.get_backend_name() == "sqlite" and (
            url.database in (None, "", ":memory:") or str(url.query.get("mode", "")) == "memory"
        )
        if memory:
            raise ValueError(
                "an in-memory SQLite store is lost when the guardian stops (its write-ahead log with it); "
                "give a file (sqlite:///levguard-guard.db) or a PostgreSQL URL"
            )
        return v

    @field_validator("accounts")
    @classmethod
    def _unique(cls, v: list[AccountConfig]) -> list[AccountConfig]:
        names = [a.name for a in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"account names must be unique; repeated: {dup}")
        return v


def parse_guardian_config(raw: Any, source: str = "config") -> GuardianFile:
    """Validate a guardian config mapping; errors name the key path and the value."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: must be an object, was {type(raw).__name__}")
    cfg = _validated(GuardianFile, raw, source)
    _lease_held(cfg, source)
    return cfg


def _lease_held(cfg: GuardianFile, source: str) -> None:
    # A pass renews a lease once half of it has passed, and the next pass starts one interval
    # after the last one ended, that is up to cycle_budget_s after it started: the lease lapses
    # between passes unless the longest interval plus the budget is under half a lease.
    # interval_s 60 with lease_ttl_s 30 was accepted, and a standby took the account at every pause.
    name, longest = max(("interval_s", cfg.interval_s), ("fast_interval_s", cfg.fast_interval_s), key=lambda x: x[1])
    if longest + cfg.cycle_budget_s >= cfg.lease_ttl_s / 2:
        raise ConfigError(
            f"{source}: lease_ttl_s must be over twice {name} plus cycle_budget_s "
            f"(2 x ({longest:g} + {cfg.cycle_budget_s:g}) = {2 * (longest + cfg.cycle_budget_s):g} s: a lease is "
            f"renewed at half its life, once a pass, and would lapse between passes), was {cfg.lease_ttl_s:g}"
        )


def load_guardian_file(path: str | Path) -> GuardianFile:
    """Read and validate a YAML/JSON guardian file.

    A relative SQLite ``database`` (the default ``sqlite:///levguard-guard.db`` too) is the
    file's path relative to the config file's directory, not to the working directory: the same
    config started from another directory (a service manager's, a shell elsewhere) found another,
    empty, store and started without its write-ahead journal. Absolute paths and other URLs are
    kept as given. A relative ``secrets_file`` or ``key_file`` moves the same way (the account's
    credentials were "No such file" from any other directory).
    """
    cfg = parse_guardian_config(_read_file(path), str(path))
    folder = Path(path).absolute().parent
    accounts = [_files_beside(a, folder) for a in cfg.accounts]
    update: dict[str, Any] = {"database": sqlite_beside(cfg.database, folder)}
    if any(a is not b for a, b in zip(accounts, cfg.accounts, strict=True)):
        update["accounts"] = accounts
    return cfg.model_copy(update=update)


def _files_beside(account: AccountConfig, folder: Path) -> AccountConfig:
    # The venue's secrets_file (ccxt) or key_file (on-chain), relative to the config's folder.
    field = "secrets_file" if isinstance(account.venue, CcxtVenueConfig) else "key_file"
    file = getattr(account.venue, field, None)
    if not file or os.path.isabs(file):
        return account
    venue = account.venue.model_copy(update={field: os.path.normpath(os.path.join(folder, file))})
    return account.model_copy(update={"venue": venue})


def sqlite_beside(url: str, folder: Path) -> str:
    """``url`` with a relative SQLite file path made absolute against ``folder`` (also SQLite's URI
    form ``sqlite:///file:a.db?uri=true``, and a plain name in URI mode, ``sqlite:///a.db?uri=true``);
    any other URL, an absolute path or an in-memory database unchanged."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # the store reports a malformed URL itself
        return url
    file = parsed.database
    if parsed.get_backend_name() != "sqlite" or not file or file == ":memory:":
        return url
    prefix = ""
    # URI mode reads a name starting with "file:" as a URI, any other as a plain file name.
    if str(parsed.query.get("uri", "")).lower() in ("true", "1") and file.startswith("file:"):
        if file.startswith("file://"):
            return url  # file://host/path is already absolute
        prefix, file = "file:", file.removeprefix("file:")
        if not file or file == ":memory:":
            return url
    if os.path.isabs(file):
        return url
    return parsed.set(database=prefix + os.path.normpath(os.path.join(folder, file))).render_as_string(
        hide_password=False
    )


def load_secrets(venue: CcxtVenueConfig, environ: Any = None) -> Secrets:
    """The account's credentials from its environment variables or its secrets file.

    Raises
    ------
    ConfigError
        A named variable is unset, the secrets file is missing, unreadable, malformed or readable
        by others than its owner (mode must be 0600 or stricter).  Messages never contain a key.
    """
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    if venue.secrets_file:
        path = Path(venue.secrets_file)
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise ConfigError(f"secrets_file {path}: {exc.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"secrets_file {path}: permissions {oct(mode & 0o777)} are too open; chmod 600 it")
        from levguard.documents import load_spec

        try:
            raw = load_spec(path)
        except InputError:
            raise ConfigError(f"secrets_file {path}: not valid YAML/JSON") from None
        if not isinstance(raw, dict) or not set(raw) <= {"api_key", "secret", "password"}:
            raise ConfigError(f"secrets_file {path}: must be an object with api_key, secret and optionally password")
        for key, v in raw.items():
            # A value YAML read as a number (2024e06, 0123, 0x1F; 12:30 stays a string) would be sent as its float or
            # int, not as written: quoting it is the only way to keep it (never named, a secret).
            if v is not None and not isinstance(v, str):
                raise ConfigError(f"secrets_file {path}: {key} must be a string (quote it), was a {type(v).__name__}")
        values.update({k: v for k, v in raw.items() if v is not None})
    for field, var in (("api_key", venue.api_key_env), ("secret", venue.secret_env), ("password", venue.password_env)):
        if var:
            if var not in env or not env[var]:
                raise ConfigError(f"environment variable {var} (the {field} of {venue.exchange}) is not set")
            values[field] = env[var]
    return Secrets(**{k: SecretStr(v) for k, v in values.items()})
