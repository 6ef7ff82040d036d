"""Workers die or get the same message twice: a killed import is failed and cleaned up, a run trains once."""

from __future__ import annotations

import pytest

from tests.faults.client import Platform
from tests.faults.scenarios import duplicate_delivery, import_cancelled, worker_killed_mid_import

pytestmark = pytest.mark.faults


def test_an_import_whose_worker_is_killed_fails_within_the_stale_window_and_leaves_no_reviews(platform: Platform) -> None:
    outcome = worker_killed_mid_import(platform)

    assert outcome.held, outcome.report()


def test_running_imports_are_cancelled_through_the_api_and_the_command_and_leave_no_reviews(platform: Platform) -> None:
    outcome = import_cancelled(platform)

    assert outcome.held, outcome.report()


def test_a_training_message_delivered_three_times_trains_the_run_once(platform: Platform) -> None:
    outcome = duplicate_delivery(platform)

    assert outcome.held, outcome.report()
