"""Ensembles built in this process: the method, the refusals, the API, the admin, the command, and serving one."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.common.choices import JobStatus
from apps.predictions.serving import predictor
from apps.registry.ensembles import EnsembleRequestError, ensemble_build_create
from apps.registry.models import EnsembleBuild, ModelVersion
from apps.registry.runners import ensemble_build_execute
from apps.registry.services import model_version_promote
from apps.reviews.models import DatasetSnapshot
from apps.reviews.snapshots import snapshot_create
from apps.training.models import EvaluationRun
from apps.training.runners import training_run_execute
from apps.training.services import training_run_create
from tests.registry.factories import SnapshotFactory, UserFactory
from tests.training.conftest import make_reviews
from workers.ml.artifacts import verify_artifacts
from workers.ml.ensemble import combine, fit_weights
from workers.ml.inference import load_model

pytestmark = pytest.mark.django_db
ENSEMBLES_API = "/api/models/ensembles/"


def test_stacking_on_log_odds_beats_two_members_that_are_each_wrong_on_a_different_half() -> None:
    # Member A is sure and right on the first half, unsure and wrong on the second; member B the reverse.
    rng = np.random.default_rng(0)
    labels = np.tile([0, 1], 200)
    half = np.arange(len(labels)) < len(labels) // 2
    sure_right = np.where(labels == 1, 0.97, 0.03)
    unsure_wrong = np.where(labels == 1, 0.42, 0.58)
    a = np.where(half, sure_right, unsure_wrong) + rng.normal(0, 0.005, len(labels))
    b = np.where(half, unsure_wrong, sure_right) + rng.normal(0, 0.005, len(labels))
    members = np.column_stack([a, b])

    weights, intercept = fit_weights(members, labels)
    ensemble = combine(members, weights, intercept).argmax(axis=1)

    assert ((a >= 0.5) == labels).mean() == pytest.approx(0.5)
    assert ((b >= 0.5) == labels).mean() == pytest.approx(0.5)
    assert (ensemble == labels).mean() == 1.0
    assert all(weight > 0 for weight in weights)


@pytest.fixture
def snapshot(db: None) -> DatasetSnapshot:
    make_reviews(60)
    return snapshot_create(name="sixty reviews", train_fraction=0.66, validation_fraction=0.17, test_fraction=0.17)


def trained_version(snapshot: DatasetSnapshot, **settings: Any) -> ModelVersion:
    run = training_run_create(snapshot=snapshot, kind="tfidf", enqueue=False, **settings)
    training_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    return run.model_version


@pytest.fixture
def members(snapshot: DatasetSnapshot) -> list[ModelVersion]:
    return [
        trained_version(snapshot),
        trained_version(snapshot, tfidf_ngram_max=1, tfidf_nb_weighting=False, tfidf_c=1.0),
    ]


@pytest.fixture
def ml_admin(db: None) -> Any:
    from apps.common.roles import ML_ADMIN

    return UserFactory(username="ensemble-admin", roles=[ML_ADMIN])


@pytest.fixture
def fresh_predictor() -> Iterator[None]:
    predictor.clear()
    yield
    predictor.clear()


def built(members: list[ModelVersion]) -> EnsembleBuild:
    build = ensemble_build_create(members=members, enqueue=False)
    ensemble_build_execute(build_id=build.pk)
    build.refresh_from_db()
    assert build.status == JobStatus.SUCCEEDED, f"{build.error}\n{build.log_tail}"
    return build


def test_a_build_registers_an_ensemble_version_with_its_members_weights_and_test_metrics(
    members: list[ModelVersion], snapshot: DatasetSnapshot, artifact_root: Path
) -> None:
    build = built(members)

    version = build.model_version
    assert (version.kind, version.snapshot, version.training_run) == ("ensemble", snapshot, None)
    assert [item.member_id for item in version.memberships.order_by("position")] == [m.pk for m in members]
    assert list(version.members.order_by("pk")) == members
    assert version.test_accuracy == build.accuracy and version.test_f1 == build.f1
    assert sum(map(sum, build.confusion_matrix)) == snapshot.test_count
    # Each member scored on the same test split as its own run: the same accuracy.
    assert [(row["model_version_id"], row["accuracy"]) for row in build.metrics["members"]] == [
        (member.pk, member.test_accuracy) for member in members
    ]
    ensemble = version.manifest["ensemble"]
    assert [item["model_version_id"] for item in ensemble["members"]] == [m.pk for m in members]
    assert [item["weight"] for item in ensemble["members"]] == [item.weight for item in version.memberships.all()]
    folder = artifact_root / version.artifact_path
    assert verify_artifacts(folder) == []
    assert "model version" in (folder / "README.md").read_text() and "log-odds" in (folder / "README.md").read_text()
    assert not list(folder.rglob("*.pkl")) and not list(folder.rglob("*.bin"))
    # Its test split is queued as an ordinary evaluation of the version.
    evaluation = EvaluationRun.objects.get(model_version=version)
    assert (evaluation.split, evaluation.snapshot, evaluation.status) == ("test", snapshot, JobStatus.QUEUED)
    assert f"Registered model version {version.pk}" in build.log_tail


def test_the_loaded_ensemble_reproduces_the_builds_test_accuracy_and_names_its_members(
    members: list[ModelVersion], snapshot: DatasetSnapshot, artifact_root: Path
) -> None:
    build = built(members)
    model = load_model(artifact_root / build.model_version.artifact_path)
    test = list(snapshot.items.filter(split="test").select_related("review"))

    answers = model.predict([item.review.text for item in test])

    accuracy = np.mean([answer["label"] == item.label for answer, item in zip(answers, test)])
    assert accuracy == pytest.approx(build.accuracy)
    assert [member["model_version_id"] for member in answers[0]["members"]] == [m.pk for m in members]
    assert all(0.0 <= member["prob_positive"] <= 1.0 for member in answers[0]["members"])


def test_a_changed_member_file_inside_the_ensemble_fails_its_integrity_check(
    members: list[ModelVersion], artifact_root: Path
) -> None:
    build = built(members)
    folder = artifact_root / build.model_version.artifact_path
    weights = next(folder.glob("members/1-*/weights.safetensors"))
    weights.unlink()  # a hard link to the member's own file: replace it rather than change both
    weights.write_bytes(b"not the weights")

    problems = verify_artifacts(folder)

    assert any("Checksum mismatch" in problem and "members/1-" in problem for problem in problems)


def test_fewer_than_two_members_are_refused(members: list[ModelVersion]) -> None:
    with pytest.raises(EnsembleRequestError, match="at least 2 model versions trained on the same snapshot; got 1"):
        ensemble_build_create(members=members[:1], enqueue=False)
    with pytest.raises(EnsembleRequestError, match="listed more than once"):
        ensemble_build_create(members=[members[0], members[0]], enqueue=False)
    assert not EnsembleBuild.objects.exists()


def test_members_of_different_snapshots_are_refused(members: list[ModelVersion]) -> None:
    other = SnapshotFactory(name="another snapshot")
    ModelVersion.objects.filter(pk=members[1].pk).update(snapshot=other)
    members[1].refresh_from_db()

    with pytest.raises(EnsembleRequestError, match="trained on different snapshots") as refused:
        ensemble_build_create(members=members, enqueue=False)

    assert "another snapshot" in str(refused.value) and "sixty reviews" in str(refused.value)
    assert not EnsembleBuild.objects.exists()


def test_an_ensemble_is_not_a_member_of_another(members: list[ModelVersion]) -> None:
    build = built(members)

    with pytest.raises(EnsembleRequestError, match="is itself an ensemble"):
        ensemble_build_create(members=[build.model_version, members[0]], enqueue=False)


def test_the_api_queues_a_build_for_an_ml_admin_and_refuses_bad_members(
    members: list[ModelVersion], ml_admin: Any
) -> None:
    client = APIClient()
    client.force_authenticate(ml_admin)

    queued = client.post(ENSEMBLES_API, {"members": [m.pk for m in members]}, format="json")
    one = client.post(ENSEMBLES_API, {"members": [members[0].pk]}, format="json")
    unknown = client.post(ENSEMBLES_API, {"members": [members[0].pk, 999_999]}, format="json")

    assert queued.status_code == 202, queued.json()
    body = queued.json()
    assert (body["status"], body["members"], body["model_version"]) == ("queued", sorted(m.pk for m in members), None)
    assert queued["Location"] == f"{ENSEMBLES_API}{body['id']}/"
    assert client.get(f"{ENSEMBLES_API}{body['id']}/").json()["id"] == body["id"]
    assert one.status_code == 400
    assert "at least 2 model versions" in one.json()["error"]["fields"]["members"]
    assert unknown.status_code == 400
    assert unknown.json()["error"]["fields"]["members"] == "There is no model version 999999."
    assert EnsembleBuild.objects.count() == 1


def test_only_ml_admins_build_ensembles_through_the_api(members: list[ModelVersion]) -> None:
    from apps.common.roles import ANALYST

    client = APIClient()
    client.force_authenticate(UserFactory(username="just-an-analyst", roles=[ANALYST]))

    response = client.post(ENSEMBLES_API, {"members": [m.pk for m in members]}, format="json")

    assert response.status_code == 403
    assert client.get(ENSEMBLES_API).status_code == 200
    assert not EnsembleBuild.objects.exists()


def test_the_admin_action_queues_a_build_of_the_selected_versions_and_explains_a_refusal(
    members: list[ModelVersion], admin_client: Client
) -> None:
    changelist = reverse("admin:registry_modelversion_changelist")

    refused = admin_client.post(
        changelist, {"action": "build_ensemble", ACTION_CHECKBOX_NAME: [members[0].pk]}, follow=True
    ).content.decode()
    queued = admin_client.post(
        changelist, {"action": "build_ensemble", ACTION_CHECKBOX_NAME: [m.pk for m in members]}, follow=True
    ).content.decode()

    assert "No ensemble was built: An ensemble needs at least 2 model versions" in refused
    build = EnsembleBuild.objects.get()
    assert f"ensemble build {build.pk}</a> of model versions {members[0].pk}, {members[1].pk}" in queued
    assert admin_client.get(reverse("admin:registry_ensemblebuild_changelist")).status_code == 200


def test_the_command_builds_an_ensemble_now_and_reports_each_members_test_metrics(
    members: list[ModelVersion],
) -> None:
    out = StringIO()

    call_command("build_ensemble", str(members[0].pk), str(members[1].pk), "--now", stdout=out)

    build = EnsembleBuild.objects.get()
    text = out.getvalue()
    assert f"Ensemble build {build.pk} succeeded: model version {build.model_version_id}, test accuracy" in text
    for member in members:
        assert f"member version {member.pk} (tfidf): test accuracy {member.test_accuracy:.4f}" in text
    with pytest.raises(CommandError, match="There is no model version 999999"):
        call_command("build_ensemble", str(members[0].pk), "999999", "--now")
    with pytest.raises(CommandError, match="The ensemble was not built: An ensemble needs at least 2"):
        call_command("build_ensemble", str(members[0].pk), "--now")


def test_a_promoted_ensemble_answers_predictions_with_each_members_probability(
    members: list[ModelVersion], ml_admin: Any, fresh_predictor: None, settings: Any, tmp_path: Path
) -> None:
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    version = built(members).model_version
    model_version_promote(version=version, by=ml_admin, reason="the ensemble", force=True)
    api = APIClient()
    api.force_authenticate(ml_admin)

    answer = api.post("/api/predict", {"text": "the acting was superb. the plot was wonderful."}, format="json")

    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["model_version"]["kind"] == "ensemble"
    [prediction] = body["predictions"]
    assert prediction["label"] == "positive" and prediction["model_version"] == version.pk
    assert [member["model_version"] for member in prediction["members"]] == [m.pk for m in members]
    assert all(member["prob_positive"] > 0.5 and member["kind"] == "tfidf" for member in prediction["members"])
    page = Client()
    page.force_login(ml_admin)
    html = page.post("/predict/", {"text": "the ending was dreadful. the cast was awful."}).content.decode()
    assert 'id="ensemble-members"' in html and "Negative" in html
    for member in members:
        assert f'<a href="/models/{member.pk}/">v{member.pk}</a>' in html
