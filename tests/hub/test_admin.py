"""The admin's Hub job form: an ML admin publishes or registers; refusals are shown on the form; nobody else may."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from apps.common.roles import ANALYST, ML_ADMIN
from apps.registry.models import HubJob
from tests.hub.conftest import RecordingHub
from tests.registry.factories import (
    SnapshotFactory,
    UserFactory,
    make_version,
    train_tfidf_artifact,
)

pytestmark = pytest.mark.django_db
ADD = "/admin/registry/hubjob/add/"


@pytest.fixture(autouse=True)
def _static(static_files_as_in_development: None) -> None:
    return None


def _signed_in(role: str) -> Client:
    client = Client()
    client.force_login(UserFactory(username=role, roles=[role], is_staff=True))
    return client


def test_an_ml_admin_queues_a_publication_and_sees_each_refusal_on_the_form(
    recording_hub: RecordingHub, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    tfidf = make_version(train_tfidf_artifact(tmp_path), kind="tfidf")
    transformer = make_version(tmp_path, kind="transformer")
    admin = _signed_in(ML_ADMIN)

    form = admin.get(ADD)
    bad_repo = admin.post(ADD, {"action": "publish", "model_version": transformer.pk, "repo_id": "nope", "license": "mit"})
    no_version = admin.post(ADD, {"action": "register", "source": "acme/model", "license": "mit"})
    with django_capture_on_commit_callbacks(execute=False) as sent:
        queued = admin.post(
            ADD, {"action": "publish", "model_version": transformer.pk, "repo_id": "acme/sentiment", "private": "on",
                  "license": "mit"}, follow=True,
        )  # fmt: skip

    assert form.status_code == 200 and str(tfidf.pk) not in [
        option.split('"')[1] for option in form.content.decode().split('<option value=')[1:]
    ]
    assert "is not a Hub repository id" in bad_repo.content.decode()
    assert "Choose the snapshot whose test split scores the model." in no_version.content.decode()
    job = HubJob.objects.get()
    assert (job.action, job.model_version, job.repo_id, job.private, job.license) == ("publish", transformer, "acme/sentiment", True, "mit")
    assert f"Queued Hub publish {job.pk} on the default queue." in queued.content.decode() and len(sent) == 1


def test_without_a_token_the_form_says_how_to_give_one(recording_hub: RecordingHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN")
    transformer = make_version(tmp_path, kind="transformer")

    answer = _signed_in(ML_ADMIN).post(ADD, {"action": "publish", "model_version": transformer.pk, "repo_id": "acme/x", "license": "mit"})

    assert "No Hugging Face token: set HF_TOKEN" in answer.content.decode()
    assert HubJob.objects.count() == 0


def test_an_analyst_cannot_see_or_start_hub_jobs() -> None:
    SnapshotFactory()
    analyst = _signed_in(ANALYST)

    assert analyst.get(ADD).status_code == 403
    assert analyst.get("/admin/registry/hubjob/").status_code == 403


def test_a_job_s_page_shows_where_it_went_and_how_it_ended(recording_hub: RecordingHub, tmp_path: Path) -> None:
    from apps.registry.hub import hub_publish_submit
    from apps.registry.runners import HubRunner

    transformer = make_version(tmp_path, kind="transformer")
    job = hub_publish_submit(version=transformer, repo_id="acme/sentiment", private=True, enqueue=False)
    HubRunner.handle(job.pk)  # the folder holds no model, so the job fails, with its reason

    page = _signed_in(ML_ADMIN).get(f"/admin/registry/hubjob/{job.pk}/change/").content.decode()

    assert "acme/sentiment" in page and "Failed" in page
    assert "integrity check" in page
