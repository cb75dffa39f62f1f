"""Fuzz the input boundary: no account spec or CLI document escapes as anything but a LevguardError.

Issue 14 (found by fuzzing): ``evaluate_account`` raised OverflowError for ``10**400`` and
``levguard margin -`` printed tracebacks for it and for 3,000 nested brackets.  Here 10,000
mutated specs of every venue rule set go to ``evaluate_account`` (a report whose JSON contract
holds, or a one-line LevguardError) and 250 documents (JSON and YAML of mutated specs, binary,
garbage, the hand-made bad documents) to ``levguard margin -`` (status 0, or 2 with one line).

Cost (measured on a 2-core machine under load): 15-20 s for the 10,000 specs, 8-13 s for the 250
documents.  The example counts are explicit and CI draws a fixed sequence
(``LEVGUARD_HYPOTHESIS_PROFILE=ci``).
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from fuzz_inputs import BAD_DOCUMENTS, BASES, OTHER_DOCUMENTS, check_error, run_margin, specs
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import levguard
from levguard.errors import LevguardError

N_SPECS = 10_000
N_DOCUMENTS = 250


def test_every_base_spec_is_valid() -> None:
    """The unmutated specs evaluate, one or more per venue rule set, so the fuzz starts from real accounts."""
    from levguard.core.rules import venue_names

    assert {b["venue"] for b in BASES} == set(venue_names())
    for b in BASES:
        json.dumps(levguard.evaluate_account(b).to_dict(), allow_nan=False)


@settings(max_examples=N_SPECS, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs)
def test_evaluate_account_raises_only_levguard_errors(spec: Any) -> None:
    """10,000 mutated specs: a report whose JSON contract holds, or a one-line LevguardError."""
    try:
        report = levguard.evaluate_account(spec)
    except LevguardError as exc:
        check_error(exc)
    else:
        json.dumps(report.to_dict(), allow_nan=False)


def _json_text(spec: Any) -> bytes | None:
    try:
        return json.dumps(spec).encode()  # NaN and Infinity literals included
    except (TypeError, ValueError, RecursionError):  # bytes, dates, 3,000-deep values
        return None


def _yaml_text(spec: Any) -> bytes | None:
    try:
        return yaml.dump(spec, Dumper=yaml.CSafeDumper, allow_unicode=True).encode()  # libyaml: fast
    except (yaml.YAMLError, TypeError, ValueError, RecursionError):
        return None


MAX_DOCUMENT = 64 * 1024
"""Longest serialised spec fed to the CLI (parsing is pure-Python YAML; size limits have their own tests)."""


_HANDMADE = [*BAD_DOCUMENTS.values(), *OTHER_DOCUMENTS]


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """JSON or YAML text of a mutated spec, random bytes, random text, or a hand-made bad document."""
    choice = draw(st.integers(0, 5))
    if choice <= 1:
        text = (_json_text if choice == 0 else _yaml_text)(draw(specs))
        return text if text is not None and len(text) <= MAX_DOCUMENT else draw(st.sampled_from(_HANDMADE))
    if choice == 2:
        return draw(st.binary(max_size=300))
    if choice == 3:
        return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    return draw(st.sampled_from(_HANDMADE))


@settings(max_examples=N_DOCUMENTS, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents(), as_json=st.booleans())
@example(document=BAD_DOCUMENTS["huge int"], as_json=False)
@example(document=BAD_DOCUMENTS["3000 brackets"], as_json=True)
def test_margin_stdin_exits_0_or_2_with_one_line(document: bytes, as_json: bool) -> None:
    """250 documents through ``levguard margin -``: status 0 (a report; valid JSON with --json) or 2 (one line)."""
    res = run_margin(document, *(["--json"] if as_json else []))
    if res.exit_code == 0 and as_json:
        json.loads(res.stdout)
