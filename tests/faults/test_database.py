"""PostgreSQL stops for 20 s: running jobs carry on and succeed; the web answers 503s and recovers by itself."""

from __future__ import annotations

import pytest

from tests.faults.client import Platform
from tests.faults.outcome import Outcome
from tests.faults.scenarios import database_outage_during_jobs
from tests.faults.traffic import database_down_during_traffic

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def outage_outcomes(platform: Platform) -> dict[str, Outcome]:
    """One outage for the three kinds of job, which run side by side on three workers."""
    training, batch, imported = database_outage_during_jobs(platform)
    return {"training": training, "batch": batch, "import": imported}


def test_a_training_run_succeeds_though_postgresql_stopped_for_20_seconds_while_it_trained(
    outage_outcomes: dict[str, Outcome],
) -> None:
    assert outage_outcomes["training"].held, outage_outcomes["training"].report()


def test_a_batch_prediction_job_predicts_every_review_once_though_postgresql_stopped_while_it_ran(
    outage_outcomes: dict[str, Outcome],
) -> None:
    assert outage_outcomes["batch"].held, outage_outcomes["batch"].report()


def test_an_import_imports_every_row_once_though_postgresql_stopped_while_it_ran(outage_outcomes: dict[str, Outcome]) -> None:
    assert outage_outcomes["import"].held, outage_outcomes["import"].report()


def test_while_postgresql_is_down_the_api_and_pages_answer_503_with_retry_after_and_recover_without_a_restart(
    platform: Platform,
) -> None:
    outcome = database_down_during_traffic(platform)

    assert outcome.held, outcome.report()
    assert outcome.unavailable > 0
    assert outcome.server_errors == outcome.unavailable, "every 5xx was a 503"
