"""The guardian SIGKILLed at random moments, mostly with an order in flight, against a paper venue
in another process whose orders land 0-3 s after they are sent (the guardian gives up after 1 s).

45 kill-and-restart trials over two server processes (about 1.5-2 minutes), at least 30 of them
while an order is in flight at the venue; the soak version with more trials is
``bench/soak_guardian_chaos.py``.  See ``chaos_harness`` for what is counted.
"""

from __future__ import annotations

from pathlib import Path

from chaos_harness import VIOLATIONS, ChaosConfig, run_chaos


def test_sigkilled_guardians_never_duplicate_stack_or_over_reduce(tmp_path: Path) -> None:
    # 45 trials planned; a loaded runner lands fewer kills on orders in flight, so up to 45 more
    # run until 30 have (the bar of issue 14 is on kills in flight, not on the trial count).
    result = run_chaos(ChaosConfig(trials=45, lanes=2, min_kills_in_flight=30, max_trials=90), tmp_path)
    print(result.summary())
    c = result.counts
    assert c.trials >= 45
    # The harness did what it claims: the guardian acted, and kills hit orders in flight.
    assert c.fills > 0, result.summary()
    assert c.kills_after_request > 0, result.summary()
    assert c.kills_in_flight >= 30, result.summary()  # issue 14: >= 30 kills with orders in flight
    assert c.server_errors == 0, result.summary()
    assert c.guardian_crashes == 0, result.summary()
    assert c.violations() == dict.fromkeys(VIOLATIONS, 0), result.summary()
