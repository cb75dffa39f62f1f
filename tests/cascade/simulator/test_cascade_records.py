"""The cascade kernel's records: enums, record dtypes and the deprecated enum constants."""

from __future__ import annotations

import numpy as np
import pytest

from levguard.cascade.simulator import _EVENT_KINDS, _STATUSES, _SUMMARY_NAMES
from levguard.kernels import cascade as kc


def test_integers_stay_integers() -> None:
    for name in ("step", "account", "kind", "counterparty"):
        assert kc.EVENT_DTYPE[name] == np.int64
    for name in ("accounts_liquidated", "adl_events"):
        assert kc.SUMMARY_DTYPE[name] == np.int64
    out = kc.new_outputs(3, 5, 2)
    assert out.steps.n_liq.dtype == out.steps.rounds.dtype == out.accounts.status.dtype == np.int64
    assert isinstance(kc.CascadeConfig().max_rounds, int)


def test_labels_are_derived_from_the_enums() -> None:
    assert list(_EVENT_KINDS) == ["liquidation", "adl_liquidated", "adl_victim"]
    assert list(_STATUSES) == ["ok", "liquidated", "deleveraged"]
    assert kc.SUMMARY_DTYPE.names == _SUMMARY_NAMES


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("KIND_LIQUIDATION", kc.EventKind.LIQUIDATION),
        ("KIND_ADL_LIQUIDATED", kc.EventKind.ADL_LIQUIDATED),
        ("KIND_ADL_VICTIM", kc.EventKind.ADL_VICTIM),
        ("IMPACT_LINEAR", kc.ImpactModel.LINEAR),
        ("IMPACT_SQRT", kc.ImpactModel.SQRT),
    ],
)
def test_old_enum_constants_are_deprecated_aliases(old: str, new: int) -> None:
    with pytest.warns(DeprecationWarning, match=old):
        assert getattr(kc, old) == new


def test_column_numbers_are_gone() -> None:
    with pytest.raises(AttributeError):
        _ = kc.CFG_FUND
