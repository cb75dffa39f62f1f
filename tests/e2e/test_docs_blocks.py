"""Every fenced Python block in README.md and docs/*.md runs in the test suite (issue 16).

A block opened with ```` ```python ```` is runnable: the blocks of one document run in order in
one shared namespace (like a notebook), in a folder prepared once per session by ``levguard init``
(so a block may read ``account.yaml``, ``ohlcv/BTCUSDT-PERP_1h.csv``, ... by relative path), with
stdout captured. A block whose first line starts with ``>>>`` runs as a doctest (its outputs are
compared, ``ELLIPSIS`` and ``NORMALIZE_WHITESPACE`` on). ```` ```python signature ```` marks an
API signature or fragment that is shown, not run; ```` ```python network ```` needs the internet
and runs only under ``-m network``. No other tag is allowed.

Numbers the docs show are checked where cheap: :data:`EXPECTED` holds values per block (found by
a snippet of its code, so line moves do not matter); a runnable block that prints and is followed
directly (or after one line ending in a colon) by a plain ```` ``` ```` or ```` ```text ```` block
must print that block's text (numbers to a relative 1e-6); docs/backtest.md's result table must
match what its config produces, docs/margin.md's worked example (1.7) the JSON `levguard margin`
prints and its hand checks that JSON, docs/risk.md's `levguard risk book.yaml --vol 0.6` the
table the command prints on the sample book, docs/backtest.md's demo tables what `levguard demo`
prints, and (on ../shared) docs/risk.md's VaR backtest table what `var_backtest` gives.
"""

from __future__ import annotations

import contextlib
import difflib
import doctest
import io
import math
import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TAGS = ("", "signature", "network")

_FENCE = re.compile(r"^```python(?P<tag>[^\n]*)\n(?P<code>.*?)^```[ \t]*$", re.S | re.M)
_OUTPUT = re.compile(r"\s*(?:^[^\n`][^\n]*:\n\s*)?^```(?:text)?[ \t]*\n(?P<out>.*?)^```[ \t]*$", re.S | re.M)
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|\bnan\b|\binf\b")


@dataclass(frozen=True)
class Block:
    doc: str  # path relative to the repository, e.g. "docs/risk.md"
    line: int  # line of the opening fence
    tag: str
    code: str
    output: str | None  # text of a plain fence directly after the block

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def collect(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    doc = path.relative_to(ROOT).as_posix()
    blocks = []
    for m in _FENCE.finditer(text):
        after = _OUTPUT.match(text, m.end())
        blocks.append(
            Block(
                doc=doc,
                line=text.count("\n", 0, m.start()) + 1,
                tag=m.group("tag").strip(),
                code=m.group("code"),
                output=after.group("out") if after else None,
            )
        )
    return blocks


@dataclass(frozen=True)
class Tol:
    """An expected number (or list of numbers) with its relative tolerance."""

    value: Any
    rel: float


ALL = {path.relative_to(ROOT).as_posix(): collect(path) for path in DOCS}

# Values the docs state, checked right after the block holding the snippet runs:
# {document: [(snippet of the block's code, {expression: expected value})]}. Floats compare to a
# relative 1e-6 unless given as ``Tol(value, rel_tol)``.
EXPECTED: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "README.md": [
        ("report = levguard.evaluate_account(", {"report.positions[0].liquidation_price": Tol(26316.89, 1e-6)}),
        ("risk.kupiec_pof(exceptions", {"risk.kupiec_pof(exceptions, level=0.99).pvalue": Tol(0.0054, 0.02)}),
    ],
    "docs/data.md": [
        (
            "r = aggregate_index(quotes, now)\n",
            {
                "r.price": Tol(60005.71428571429, 1e-12),
                "r.status": "ok",
                "r.used": ("binance", "coinbase", "okx"),
                "dict(r.dropped)": {
                    "kraken": "deviation 6.1% > 5.0% from median 60,015.00",
                    "bitstamp": "stale: age 42.0 s > 30.0 s",
                    "gemini": "non-finite price: nan",
                },
                "(r.median, r.deviating)": (60015.0, ("kraken",)),
                "r.detail": "weighted mean of 3 source(s); kraken zero-weighted "
                "(deviation 6.1% > 5.0% from median 60,015.00)",
                'aggregate_index(quotes, now, OracleConfig(method="weighted_median")).price': 60000.0,
            },
        ),
        (
            'SourceQuote("okx", 0.0, 2.0, now)], now)',
            {
                "(r.price, r.status, r.used)": (math.nan, "halted", ()),
                "dict(r.dropped)": {
                    "binance": "circuit breaker: 2 fresh valid source(s) < min_sources 3",
                    "coinbase": "circuit breaker: 2 fresh valid source(s) < min_sources 3",
                    "okx": "non-positive price: 0.0",
                },
            },
        ),
        (
            "m = mark_price(index=60_000.0",
            {
                "(m.price, m.price1, m.price2, m.chosen, m.status)": (
                    60012.0,
                    60003.00000000001,
                    60012.0,
                    "price2",
                    "ok",
                ),
                "m.detail": "median(price1 60,003.00, price2 60,012.00, contract_price 60,020.00) = price2",
                "mark_price(60_000.0, 12.0, 0.0001, 4 * HOUR, 60_008.0).chosen": "contract_price",
                "mark_price(60_000.0, 12.0, 0.0001, 4 * HOUR, 59_990.0).chosen": "price1",
                'mark_price(float("nan"), 12.0, 0.0001, 4 * HOUR, 60_020.0).detail': "index is not finite (nan)",
                "delivery_mark(60_000.0, 150.25).price": 60150.25,
                "moving_average_basis([60_010.0, 60_020.0, 60_030.0, 60_000.0, 60_060.0], [60_000.0] * 5, window=3)": [
                    math.nan,
                    math.nan,
                    20.0,
                    16.66666667,
                    30.0,
                ],
            },
        ),
        (
            "idx = build_index_frame(venues",
            {
                'idx["index_price"].tolist()': [60000.0, 60012.0, 60013.998, 60001.9992, 60023.997, 60041.0],
                'idx["n_used"].tolist()': [3, 3, 2, 2, 2, 3],
                'idx["bybit_reason"].astype(str).tolist()': [
                    "used",
                    "used",
                    "stale",
                    "deviation",
                    "non_positive_price",
                    "used",
                ],
            },
        ),
        (
            "mk = build_mark_frame(idx, perp, funding, mid_price=mid)",
            {
                'mk["mark_price"].tolist()': [60010.0, 60022.0, 60023.998, 60026.0, 60047.956579, 60064.916332],
                'mk["chosen"].astype(str).tolist()': ["price2"] * 3 + ["price1"] * 3,
            },
        ),
    ],
    "docs/policies.md": [
        (
            "decision = policy.decide(state)",
            {
                "decision.target_leverage": Tol(0.833, 1e-3),
                "decision.binding_constraint": "vol_target",
                "decision.reasons": (
                    "vol_target: target vol 0.5 / forecast vol 0.6 = 0.833x",
                    "tier_cap would allow 75x (tier_cap)",
                    "gap_cap would allow 3.17x (gap_cap)",
                    "liquidation_budget would allow 5.04x (liquidation_budget)",
                ),
            },
        ),
        (
            "t = TierTable.from_max_leverage",
            {"TierCap().decide(SizingState(equity=1e5, context=MarketContext(tiers=t))).target_leverage": 20.0},
        ),
    ],
    "docs/risk.md": [
        (
            'fit = fit_garch(daily, model="gjr")',
            {
                "fit.persistence": Tol(0.737, 5e-3),
                "fit.half_life": Tol(2.3, 0.03),
                "fit.nu": Tol(3.55, 5e-3),
                "fit.unconditional_vol": Tol(0.769, 5e-3),
                "fit.conditional_vol.iloc[-1]": Tol(0.579, 5e-3),
                "fc.annualised_vol[[0, 6, 29]]": Tol([0.545, 0.738, 0.769], 5e-3),
                "fc.cumulative_vol[[6, 29]]": Tol([0.0929, 0.2135], 5e-3),
            },
        ),
        (
            "last30 = btc.iloc[-720:]",
            {
                "{m: round(realized_vol(last30, m), 3) for m in METHODS}": {
                    "close_to_close": 0.336,
                    "ewma": 0.403,
                    "parkinson": 0.356,
                    "garman_klass": 0.363,
                    "rogers_satchell": 0.359,
                    "yang_zhang": 0.356,
                },
                'realized_vol(btc, "yang_zhang", window=720).median()': Tol(0.580, 2e-3),
                'realized_vol(btc, "yang_zhang", window=720).max()': Tol(1.318, 2e-3),
            },
        ),
        ("var = portfolio_var(spec", {"(var.var, var.es)": Tol([8647.3, 11908.5], 1e-4)}),
        (
            "p = liquidation_forecasts(bars",
            {"p": Tol([0.363, 0.120, 0.018], 0.02), "np.array_equal(f.prob(np.ones(3), distance, hours), p)": True},
        ),
    ],
    "docs/validation.md": [
        (
            "result = validate_liquidation(bars",
            {"result.acceptance.passed": False, "result.scored[0].brier_ratio": Tol(0.777, 1e-3)},
        ),
    ],
}


def _close(actual: Any, expected: Any, rel: float) -> bool:
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(_close(actual[k], expected[k], rel) for k in expected)
        )
    if isinstance(expected, (list, tuple)):
        items = list(np.asarray(actual).tolist()) if isinstance(actual, np.ndarray) else actual
        if not isinstance(items, (list, tuple)) or len(items) != len(expected):
            return False
        return all(_close(a, e, rel) for a, e in zip(items, expected, strict=True))
    if isinstance(expected, (bool, str)) or expected is None:
        return bool(actual == expected)
    if isinstance(expected, (int, float)):
        try:
            a = float(actual)
        except (TypeError, ValueError):
            return False
        if math.isnan(expected):
            return math.isnan(a)
        return math.isclose(a, expected, rel_tol=rel, abs_tol=1e-12)
    return bool(actual == expected)


# The tables as rich prints them to a file, whatever the test's own terminal asks for.
_PLAIN_TERMINAL: dict[str, str | None] = {"FORCE_COLOR": None, "COLUMNS": None, "LINES": None, "TTY_COMPATIBLE": None}


def _same_text(printed: str, shown: str) -> bool:
    """Equal text once whitespace is normalised, numbers equal to a relative 1e-6."""

    def split(text: str) -> tuple[list[str], list[str]]:
        lines = "\n".join(" ".join(line.split()) for line in text.strip().splitlines())
        return _NUMBER.split(lines), _NUMBER.findall(lines)

    (skel_a, nums_a), (skel_b, nums_b) = split(printed), split(shown)
    return skel_a == skel_b and all(
        a == b or math.isclose(float(a), float(b), rel_tol=1e-6) for a, b in zip(nums_a, nums_b, strict=True)
    )


def _fail(block: Block, message: str) -> None:
    pytest.fail(f"{block.where} ({'python ' + block.tag if block.tag else 'python'}): {message}", pytrace=False)


def _run_doctest(block: Block, ns: dict[str, Any]) -> None:
    test = doctest.DocTestParser().get_doctest(block.code, ns, block.where, block.doc, block.line)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    runner.run(test, out=report.append, clear_globs=False)
    ns.update(test.globs)
    if runner.failures:
        _fail(block, "doctest output differs:\n" + "".join(report))


def run_block(block: Block, ns: dict[str, Any]) -> None:
    """Run one block in ``ns``; fail naming file:line on an error or a differing output."""
    if block.code.lstrip().startswith(">>>"):
        _run_doctest(block, ns)
        return
    stdout = io.StringIO()
    try:
        # Leading newlines make traceback line numbers those of the markdown file.
        code = compile("\n" * block.line + block.code, block.doc, "exec")
        with contextlib.redirect_stdout(stdout):
            exec(code, ns)
    except Exception as exc:
        tb = "".join(traceback.format_exception(exc)[-6:])
        _fail(block, f"{type(exc).__name__}: {exc}\n{tb}")
    printed = stdout.getvalue()
    if printed and block.output is not None and not _same_text(printed, block.output):
        diff = difflib.unified_diff(
            block.output.strip().splitlines(), printed.strip().splitlines(), "doc", "printed", lineterm=""
        )
        _fail(block, "printed output differs from the block shown after it:\n" + "\n".join(diff))
    for snippet, checks in EXPECTED.get(block.doc, []):
        if snippet not in block.code:
            continue
        for expression, expected in checks.items():
            value, rel = (expected.value, expected.rel) if isinstance(expected, Tol) else (expected, 1e-6)
            actual = eval(expression, ns)
            if not _close(actual, value, rel):
                _fail(block, f"{expression} is {actual!r}, the doc shows {value!r}")


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding every file ``levguard init`` writes, prepared once per session."""
    from typer.testing import CliRunner

    from levguard.cli.main import app

    folder = tmp_path_factory.mktemp("docs-samples")
    done = CliRunner().invoke(app, ["init", str(folder)])
    assert done.exit_code == 0, done.output
    return folder


def _run_document(doc: str, tags: tuple[str, ...], folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder)
    ns: dict[str, Any] = {"__name__": "__docs__"}
    for block in ALL[doc]:
        if block.tag in tags:
            run_block(block, ns)


def _documents(tag: str) -> Iterator[str]:
    return (doc for doc, blocks in ALL.items() if any(b.tag == tag for b in blocks))


@pytest.mark.parametrize("doc", list(_documents("")))
def test_runnable_blocks_run(doc: str, sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _run_document(doc, ("",), sample_dir, monkeypatch)


@pytest.mark.network
@pytest.mark.parametrize("doc", list(_documents("network")))
def test_network_blocks_run(doc: str, sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _run_document(doc, ("", "network"), sample_dir, monkeypatch)


def test_every_python_block_has_a_known_tag() -> None:
    bad = [f"{b.where}: ```python {b.tag}" for blocks in ALL.values() for b in blocks if b.tag not in TAGS]
    assert not bad, f"unknown tags (allowed: {', '.join(repr(t) for t in TAGS)}):\n" + "\n".join(bad)


def test_readme_and_every_doc_are_collected() -> None:
    docs = set(ALL)
    assert "README.md" in docs
    assert {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")} <= docs
    for doc in docs:
        text = (ROOT / doc).read_text(encoding="utf-8")
        opened = len(re.findall(r"^```python", text, re.M))
        assert opened == len(ALL[doc]), (
            f"{doc}: {opened} ```python fences, {len(ALL[doc])} parsed (indented or unclosed?)"
        )
        other = re.findall(r"^\s*```(?:py|python3|pycon|ipython)\b.*$", text, re.M)
        assert not other, f"{doc}: use ```python (optionally `signature` or `network`), not {other}"
    assert sum(len(blocks) for blocks in ALL.values()) >= 30


def test_every_expected_value_names_one_block() -> None:
    for doc, entries in EXPECTED.items():
        for snippet, _ in entries:
            hits = [b.where for b in ALL[doc] if snippet in b.code and b.tag == ""]
            assert len(hits) == 1, f"{doc}: snippet {snippet!r} matches {hits or 'no runnable block'}"


_ROW = re.compile(
    r"^(?P<policy>\S.*?)\s+(?P<ret>-?[\d.]+)%\s+(?P<cagr>-?[\d.]+)%\s+(?P<dd>[\d.]+)%\s+(?P<sharpe>-?[\d.]+)\s+"
    r"(?P<sortino>-?[\d.]+)\s+(?P<liq>\d+)\s+(?P<lev>[\d.]+)x$",
    re.M,
)


def test_backtest_doc_table_matches_its_config(tmp_path: Path) -> None:
    """docs/backtest.md's result table is what its `levguard backtest` config produces."""
    import json

    from typer.testing import CliRunner

    from levguard.cli.main import app

    text = (ROOT / "docs/backtest.md").read_text(encoding="utf-8")
    head, _, tail = text.partition("On the default market with the config above")
    config = re.findall(r"^```yaml\n(.*?)^```", head, re.S | re.M)[-1]
    config = re.sub(r"^output:.*$", "", config, flags=re.M)
    (tmp_path / "bt.yaml").write_text(config, encoding="utf-8")
    table = re.search(r"^```\n(.*?)^```", tail, re.S | re.M)
    assert table is not None, "docs/backtest.md: no result table after its config"
    rows = {m["policy"]: m for m in _ROW.finditer(table.group(1))}
    assert rows, f"docs/backtest.md: cannot read the table:\n{table.group(1)}"
    done = CliRunner().invoke(app, ["backtest", str(tmp_path / "bt.yaml"), "--json"])
    assert done.exit_code == 0, done.output
    metrics = json.loads(done.stdout)
    metrics = metrics.get("metrics", metrics)
    assert set(rows) == set(metrics), (sorted(rows), sorted(metrics))
    for name, row in rows.items():
        got = metrics[name]
        shown = {
            "total_return": float(row["ret"]) / 100,
            "cagr": float(row["cagr"]) / 100,
            "max_drawdown": float(row["dd"]) / 100,
            "sharpe": float(row["sharpe"]),
            "sortino": float(row["sortino"]),
            "n_liquidations": float(row["liq"]),
            "avg_leverage": float(row["lev"]),
        }
        for key, value in shown.items():
            tol = 0.0005 if key in ("total_return", "cagr", "max_drawdown") else 0.005
            assert abs(got[key] - value) <= tol + 1e-12, (
                f"docs/backtest.md table, {name} {key}: doc {value}, run {got[key]}"
            )


# --- Command outputs the docs show (prose and non-Python blocks drift otherwise) ---------------

_BOX = re.compile(r"[\u2500-\u257f]+")  # rich's table borders: their widths follow the column widths


def _section(doc: str, start: str, end: str) -> str:
    text = (ROOT / doc).read_text(encoding="utf-8")
    assert start in text, f"{doc}: {start!r} not found"
    begin = text.index(start)
    stop = text.find(end, begin + len(start))
    return text[begin : stop if stop >= 0 else len(text)]


def _fence(text: str, lang: str, after: str = "") -> str:
    found = re.search(rf"{re.escape(after)}.*?^```{lang}\n(.*?)^```", text, re.S | re.M)
    assert found is not None, f"no ```{lang} block after {after!r}"
    return found.group(1)


def _plain(expr: str) -> float:
    """Evaluate the docs' arithmetic: 12,000 + 600·150, (2·0.005 − 2), ..."""
    code = re.sub(r"(?<=\d),(?=\d{3})", "", expr).replace("·", "*").replace("−", "-")
    assert re.fullmatch(r"[\d.+\-*/() ]+", code), expr
    return float(eval(code))


def _shown(number: str) -> tuple[float, float]:
    """A number as the docs print it and half a unit of its last digit."""
    plain = number.replace(",", "").replace("−", "-")
    decimals = len(plain.partition(".")[2])
    return float(plain), 0.5 * 10.0**-decimals + 1e-12


def test_margin_worked_example_is_what_the_cli_prints(tmp_path: Path) -> None:
    """docs/margin.md 1.7: the JSON is `levguard margin FILE --json` and the hand checks add up to it."""
    import json

    from typer.testing import CliRunner

    from levguard.cli.main import app

    section = _section("docs/margin.md", "### 1.7 Worked example", "## 2. Concepts")
    (tmp_path / "account.yaml").write_text(_fence(section, "yaml"), encoding="utf-8")
    done = CliRunner().invoke(app, ["margin", str(tmp_path / "account.yaml"), "--json"])
    assert done.exit_code == 0, done.output
    printed = json.loads(done.stdout)
    assert _close(printed, json.loads(_fence(section, "json")), 1e-9), done.stdout
    by_symbol = {p["symbol"].split("/")[0].removesuffix("USDT"): p for p in printed["positions"]}

    checks = section.partition("Checks by hand")[2]
    bullets = {
        m["name"]: " ".join(m["text"].split())
        for m in re.finditer(r"^- \*\*(?P<name>\w+)\*\*(?P<text>.*?)(?=^- |\Z)", checks, re.S | re.M)
    }
    assert set(bullets) == {"BTC", "SOL", "Equity"}, sorted(bullets)
    lp = re.compile(r"LP = (?P<num>\(.*?\)) / (?P<den>\(.*?\)) = (?P<a>[\d,]+)/(?P<b>[\d.]+) = (?P<lp>[\d,.]+\d)")
    bp = re.compile(r"bankruptcy price[^:]*: (?P<num>\(.*?\))/(?P<den>\(.*?\)|[\d,]+) = (?P<bp>[\d,.]+\d)")
    for name in ("BTC", "SOL"):
        position, text = by_symbol[name], bullets[name]
        m = lp.search(text)
        assert m is not None, f"{name}: no 'LP = (...) / (...) = a/b = LP' in {text!r}"
        value, tol = _shown(m["lp"])
        assert math.isclose(_plain(m["num"]) / _plain(m["den"]), _plain(m["a"]) / _plain(m["b"]), rel_tol=1e-12)
        assert abs(_plain(m["a"]) / _plain(m["b"]) - value) <= tol, (name, m.group(0))
        assert abs(position["liquidation_price"] - value) <= tol, (name, position["liquidation_price"], value)
        m = bp.search(text)
        assert m is not None, f"{name}: no bankruptcy price in {text!r}"
        value, tol = _shown(m["bp"])
        assert abs(_plain(m["num"]) / _plain(m["den"]) - value) <= tol, (name, m.group(0))
        assert abs(position["bankruptcy_price"] - value) <= tol, (name, position["bankruptcy_price"], value)
    wb = re.search(r"WB = (?P<expr>[\d,]+ [+−] [\d,]+) = (?P<wb>[\d,]+)", bullets["SOL"])
    assert wb is not None, bullets["SOL"]
    assert _plain(wb["expr"]) == _plain(wb["wb"]), wb.group(0)
    sol = by_symbol["SOL"]
    assert math.isclose(_plain(wb["wb"]), sol["margin_balance"] - sol["unrealized_pnl"], rel_tol=1e-12)
    eq = re.search(r"\*\*: (?P<expr>[^;=]+) = (?P<eq>[\d,]+);", "- **Equity**" + bullets["Equity"])
    assert eq is not None, bullets["Equity"]
    assert _plain(eq["expr"]) == _plain(eq["eq"]) == printed["equity"], bullets["Equity"]


def test_risk_example_is_what_the_cli_prints(tmp_path: Path) -> None:
    """docs/risk.md §6: `levguard risk book.yaml --vol 0.6` on the sample book prints the block shown."""
    import yaml
    from typer.testing import CliRunner

    from levguard.cli.main import app

    section = _section("docs/risk.md", "## 6. The risk report and CLI", "\n## ")
    command = "$ levguard risk book.yaml --vol 0.6\n"
    shown = _fence(section, "", "### Example")
    assert shown.startswith(command), shown[:80]
    runner = CliRunner(env=_PLAIN_TERMINAL)
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 0
    book = (tmp_path / "book.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(_fence(section, "yaml", "with `book.yaml`")) == yaml.safe_load(book)
    done = runner.invoke(app, ["risk", str(tmp_path / "book.yaml"), "--vol", "0.6"])
    assert done.exit_code == 0, done.output
    printed, expected = _BOX.sub(" ", done.stdout), _BOX.sub(" ", shown.removeprefix(command))
    if not _same_text(printed, expected):
        lines = [[line.rstrip() for line in text.strip().splitlines()] for text in (shown, command + done.stdout)]
        diff = difflib.unified_diff(*lines, "doc", "printed", lineterm="")
        pytest.fail("docs/risk.md §6 example differs from what the command prints:\n" + "\n".join(diff))


_VB_ROW = re.compile(
    r"^\| (?P<method>\w+)(?: \([^)]*\))? \| (?P<x>\d+) \| (?P<kupiec>.*?) \| (?P<ind>.*?) \| (?P<cc>.*?) \| "
    r"(?P<light>\w+) \| (?P<z2>.*?) \|$",
    re.M,
)
_STAT_P = re.compile(r"^(?P<stat>-?[\d.]+) \((?P<p>[\d.]+)\)$")


@pytest.mark.shared_data
def test_risk_var_backtest_table_is_what_the_shared_history_gives(shared_dir: Path) -> None:
    """docs/risk.md 2.4: the BTC daily backtest table, `b.summary()` and the 97.5 % Z2 sentence."""
    from levguard.data.loaders import load_ohlcv
    from levguard.data.resample import resample_ohlcv
    from levguard.risk import var_backtest

    path = shared_dir / "data" / "ohlcv" / "BTCUSDT-PERP_1h.csv"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    section = _section("docs/risk.md", "### 2.4 Backtests", "### 2.5")
    daily = resample_ohlcv(load_ohlcv(path), "1d")
    r = np.diff(np.log(daily["close"].to_numpy()))

    def near(shown: str, value: float, what: str, n_sims: float = 0.0) -> None:
        number, tol = _shown(shown)
        if n_sims:
            # A p-value simulated from the forecasts (Z2): FHS's forecasts come from a GARCH fit whose
            # last digits differ between CPUs, and a few of the 2,000 draws fall on the other side
            # (0.183 on one machine, 0.185 on another); within one Monte Carlo standard error.
            tol = max(tol, math.sqrt(number * (1.0 - number) / n_sims))
        assert abs(value - number) <= tol, f"docs/risk.md 2.4 {what}: doc {shown}, run {value:.6g}"

    rows = list(_VB_ROW.finditer(section))
    assert [m["method"] for m in rows] == ["historical", "normal", "t", "cornish_fisher", "fhs"], section[:400]
    for m in rows:
        b = var_backtest(r, method=m["method"], level=0.99, window=500, seed=1)
        n = re.search(r"([\d,]+) forecasts \(expected exceptions ([\d.]+)\)", section)
        assert n is not None
        assert int(n[1].replace(",", "")) == b.kupiec.n, (n[0], b.kupiec.n)
        near(n[2], b.kupiec.n * 0.01, "expected exceptions")
        assert int(m["x"]) == b.kupiec.exceptions, (m["method"], b.kupiec.exceptions)
        assert m["light"] == b.traffic_light.zone, (m["method"], b.traffic_light.zone)
        for key, result in (
            ("kupiec", b.kupiec),
            ("ind", b.christoffersen.independence),
            ("cc", b.christoffersen.conditional_coverage),
            ("z2", b.z2),
        ):
            cell = _STAT_P.match(m[key])
            assert cell is not None, m[key]
            near(cell["stat"], result.statistic, f"{m['method']} {key}")
            n_sims = result.details.get("n_sims", 0.0) if key == "z2" else 0.0
            near(cell["p"], result.pvalue, f"{m['method']} {key} p-value", n_sims)
        if m["method"] == "historical":
            shown = _fence(section, "", "### 2.4").partition(">>> b.summary()\n")[2]
            assert shown, "no `>>> b.summary()` block"
            assert _same_text(b.summary().to_string(), shown), b.summary().to_string()

    sentence = " ".join(section.partition("At 97.5%")[2].split())
    found = dict(
        (name.lower(), (stat, p))
        for name, stat, p in re.findall(r"(historical|normal|t|FHS) (-?[\d.]+) \(p ([\d.]+)", sentence)
    )
    assert set(found) == {"historical", "normal", "t", "fhs"}, sentence
    for method, (stat, p) in found.items():
        z2 = var_backtest(r, method=method, level=0.975, window=500, seed=1).z2
        near(stat, z2.statistic, f"97.5% {method} Z2")
        near(p, z2.pvalue, f"97.5% {method} Z2 p-value", z2.details.get("n_sims", 0.0))


def _demo_table_matches(anchor: str, args: list[str]) -> None:
    """The docs/backtest.md table after ``anchor`` is the policy table ``levguard demo ARGS`` prints."""
    from typer.testing import CliRunner

    from levguard.cli.main import app

    shown = _fence((ROOT / "docs/backtest.md").read_text(encoding="utf-8"), "", anchor)
    done = CliRunner(env=_PLAIN_TERMINAL).invoke(app, ["demo", "--out", "", *args])
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    head = max(i for i, line in enumerate(lines) if line.startswith("policy "))
    end = next((i for i in range(head, len(lines)) if not lines[i].strip()), len(lines))
    printed = "\n".join(lines[head:end])  # the whole table: a row the doc lacks is a difference
    if not _same_text(_BOX.sub(" ", printed), _BOX.sub(" ", shown)):
        diff = difflib.unified_diff(shown.strip().splitlines(), printed.strip().splitlines(), "doc", "printed")
        pytest.fail(f"docs/backtest.md table after {anchor!r} differs:\n" + "\n".join(diff))


def test_demo_table_is_what_the_demo_prints() -> None:
    """docs/backtest.md "The demo": the policy table of `levguard demo` on the default market."""
    _demo_table_matches("change, `--out ''` for none):", [])


@pytest.mark.shared_data
def test_real_demo_table_is_what_the_demo_prints_on_the_shared_data(shared_dir: Path) -> None:
    """docs/backtest.md "Running the demo on real data": `levguard demo --data shared/data`."""
    if not (shared_dir / "data" / "ohlcv" / "BTCUSDT-PERP_1h.csv").is_file():
        pytest.skip("the shared BTCUSDT history is not present")
    _demo_table_matches("BTC went from 7,554 to 78,072):", ["--data", str(shared_dir / "data")])
