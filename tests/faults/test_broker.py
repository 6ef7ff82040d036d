"""Redis goes away: a job submitted meanwhile is refused and leaves nothing; jobs whose messages it lost still run, once."""

from __future__ import annotations

import pytest

from tests.faults.client import Platform
from tests.faults.scenarios import broker_down_at_submit, broker_restarted_empty

pytestmark = pytest.mark.faults


def test_jobs_submitted_while_redis_is_down_are_refused_with_503_and_leave_no_row_and_their_retry_runs(
    platform: Platform,
) -> None:
    outcome = broker_down_at_submit(platform)

    assert outcome.held, outcome.report()
    assert outcome.unavailable == 3


def test_jobs_whose_messages_a_restarted_redis_lost_are_sent_again_and_each_runs_exactly_once(platform: Platform) -> None:
    outcome = broker_restarted_empty(platform)

    assert outcome.held, outcome.report()
