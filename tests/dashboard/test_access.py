"""Who may see and do what: everyone signs in; analysts read everything; only ML admins start, cancel, promote."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.common.choices import JobStatus
from apps.registry.models import Promotion
from apps.training.models import TrainingRun
from tests.dashboard.factories import make_run, make_snapshot

PAGES = ["/", "/runs/", "/compare/", "/models/", "/reviews/", "/predict/"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", [*PAGES, "/runs/new/", "/runs/1/", "/models/1/", "/reviews/1/"])
def test_every_page_sends_a_visitor_who_is_not_signed_in_to_the_login_page(client: Client, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("url", PAGES)
def test_every_page_links_every_section_and_the_prediction_form(analyst_client: Client, url: str) -> None:
    page = analyst_client.get(url).content.decode()

    for link in ('href="/"', 'href="/runs/"', 'href="/compare/"', 'href="/models/"', 'href="/reviews/"', 'href="/predict/"'):
        assert link in page, f"{url} lacks {link}"


def test_htmx_is_served_from_the_installed_package_not_a_cdn(analyst_client: Client) -> None:
    page = analyst_client.get("/").content.decode()

    assert "/static/django_htmx/htmx" in page
    assert "cdn" not in page.lower() and "unpkg" not in page


def test_an_analyst_sees_runs_but_no_button_to_start_cancel_or_promote(analyst_client: Client) -> None:
    snapshot = make_snapshot()
    running = make_run(snapshot, status=JobStatus.RUNNING)
    finished = make_run(snapshot)

    run_page = analyst_client.get(f"/runs/{running.pk}/").content.decode()
    runs_page = analyst_client.get("/runs/").content.decode()
    version_page = analyst_client.get(f"/models/{finished.model_version.pk}/").content.decode()

    assert f"Run {running.pk}" in run_page and "Cancel run" not in run_page
    assert "New training run" not in runs_page
    assert "Promote" not in version_page


@pytest.mark.parametrize(
    "action",
    ["start", "cancel", "retry", "promote", "rollback"],
)
def test_an_analyst_is_refused_every_change_with_a_message_saying_who_may(analyst_client: Client, action: str) -> None:
    snapshot = make_snapshot()
    run = make_run(snapshot, status=JobStatus.RUNNING if action == "cancel" else JobStatus.SUCCEEDED)
    url = {
        "start": "/runs/new/",
        "cancel": f"/runs/{run.pk}/cancel/",
        "retry": f"/runs/{run.pk}/retry/",
        "promote": f"/models/{run.model_version.pk if action == 'promote' else 0}/promote/",
        "rollback": "/models/rollback/",
    }[action]

    response = analyst_client.post(url, {"snapshot": snapshot.pk, "reason": "because"})

    assert response.status_code == 403
    assert "Only ML admins may" in response.content.decode()
    assert TrainingRun.objects.count() == 1
    assert TrainingRun.objects.get().status == run.status
    assert not Promotion.objects.exists()


def test_an_ml_admin_sees_the_buttons_to_start_cancel_and_retry(ml_admin_client: Client) -> None:
    snapshot = make_snapshot()
    running = make_run(snapshot, status=JobStatus.RUNNING)
    failed = make_run(snapshot, status=JobStatus.FAILED, error="out of memory")

    assert "New training run" in ml_admin_client.get("/runs/").content.decode()
    assert "Cancel run" in ml_admin_client.get(f"/runs/{running.pk}/").content.decode()
    assert "Retry" in ml_admin_client.get(f"/runs/{failed.pk}/").content.decode()


def test_a_signed_in_user_without_a_role_is_refused_every_page_with_a_message_saying_whom_to_ask(
    django_user_model: Any, client: Client
) -> None:
    client.force_login(django_user_model.objects.create_user("nobody", password="a-long-test-password"))

    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Ask an administrator to add your account to the analyst group" in response.content.decode()
    assert client.post("/runs/new/", {}).status_code == 403
