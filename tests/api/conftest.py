"""A small world for the REST API tests: users of every role, a snapshot, model versions, runs and jobs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.automation.models import RetrainingCycle, TrainingPolicy
from apps.automation.services import cycle_start, policy_create
from apps.common.models import ApiToken
from apps.common.roles import ANALYST, INTEGRATION, ML_ADMIN
from apps.common.services import api_token_create
from apps.labelling.models import LabellingQueue, NoiseDetection
from apps.labelling.noise import noise_detection_start
from apps.labelling.services import annotation_create, assignment_next, queue_create
from apps.predictions.batch import batch_prediction_job_create
from apps.predictions.models import BatchPredictionJob, Prediction
from apps.predictions.serving import predictor
from apps.registry.ensembles import ensemble_build_create
from apps.registry.models import EnsembleBuild, ModelVersion
from apps.registry.services import model_version_promote
from apps.reviews.models import DatasetSnapshot, ImportJob, Review
from apps.reviews.snapshots import snapshot_create
from apps.training.models import EvaluationRun, TrainingRun
from apps.training.services import evaluation_run_create, training_run_create
from apps.webhooks.models import WebhookSubscription
from tests.registry.factories import UserFactory, make_reviews, make_version, train_tfidf_artifact

PASSWORD = "a-long-test-password"
# Column order of the authorization matrix: the least powerful first, so an allowed change (a delete,
# a cancellation) happens after every refusal has been checked.
ROLE_ORDER = ("anonymous", "no_role", "integration", "analyst", "ml_admin")


@dataclass
class World:
    users: dict[str, User]
    keys: dict[str, str]
    tokens: dict[str, ApiToken]
    snapshot: DatasetSnapshot
    review: Review
    loose_review: Review
    version: ModelVersion
    other_version: ModelVersion
    run: TrainingRun
    evaluation: EvaluationRun
    import_job: ImportJob
    batch_job: BatchPredictionJob
    prediction: Prediction
    webhook: WebhookSubscription
    queue: LabellingQueue
    # The review each labelling role holds in the queue (each has labelled one before it).
    held: dict[str, int]
    # A retraining policy with a queued cycle, and one that has never run.
    policy: TrainingPolicy
    idle_policy: TrainingPolicy
    cycle: RetrainingCycle
    # A label-noise detection of the snapshot's validation split, still queued.
    noise: NoiseDetection
    # An ensemble build of version and other_version, still queued.
    ensemble: EnsembleBuild

    def client(self, role: str) -> APIClient:
        """A client that presents ``role``'s API token (none for the anonymous)."""
        client = APIClient()
        if role != "anonymous":
            client.credentials(HTTP_AUTHORIZATION=f"Token {self.keys[role]}")
        return client


@pytest.fixture(scope="session")
def tfidf_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tfidf_artifact(tmp_path_factory.mktemp("api-tfidf"))


@pytest.fixture(autouse=True)
def _api_settings(settings: Any, tmp_path: Path, static_files_as_in_development: None) -> Iterator[None]:
    """Static files as in development (no collectstatic manifest in tests), uploads in a temporary folder,
    fresh throttle counts and a predictor with nothing loaded, as in a new web process."""
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    # Hashing a password properly takes a third of a second; the world signs in five users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    predictor.clear()
    yield
    predictor.clear()
    cache.clear()


def user_with(role: str, **fields: Any) -> User:
    roles = [role] if role in (ANALYST, ML_ADMIN, INTEGRATION) else []
    return UserFactory(username=role, roles=roles, **fields)


@pytest.fixture
def world(db: None, tfidf_artifact: Path) -> World:
    users = {role: user_with(role) for role in ROLE_ORDER if role != "anonymous"}
    made = {role: api_token_create(user=user, name=f"{role} token") for role, user in users.items()}
    make_reviews(40, labelled=True, seed=5)
    loose_review = make_reviews(1, labelled=False, seed=6, source="loose")[0]
    snapshot = snapshot_create(name="world", created_by=users["ml_admin"])
    review = Review.objects.filter(snapshot_items__snapshot=snapshot).order_by("pk").first()
    assert review is not None
    version = make_version(tfidf_artifact, accuracy=0.8, snapshot=snapshot)
    other_version = make_version(tfidf_artifact, accuracy=0.9, snapshot=snapshot)
    earlier = make_version(tfidf_artifact, accuracy=0.7, snapshot=snapshot)
    # A history to roll back through: earlier, then version, which stays current.
    model_version_promote(version=earlier, by=None)
    model_version_promote(version=version, by=None)
    run = training_run_create(snapshot=snapshot, kind="tfidf", created_by=users["ml_admin"], enqueue=False)
    evaluation = evaluation_run_create(model_version=version, created_by=users["ml_admin"], enqueue=False)
    import_job = ImportJob.objects.create(source="reviews.csv", source_name="reviews", created_by=users["ml_admin"])
    batch_job = batch_prediction_job_create(model_version=version, pool="unlabelled", enqueue=False)
    prediction = Prediction.objects.create(
        text="A moving film.",
        model_version=version,
        label=1,
        confidence=0.9,
        prob_negative=0.1,
        prob_positive=0.9,
        source="api",
        user=users["analyst"],
    )
    webhook = WebhookSubscription.objects.create(
        name="ci", url="https://hooks.example.com/sentiment", events=["training_run.finished"], secret="s" * 32
    )
    labellers = [users["analyst"], users["ml_admin"]]
    queue, _ = queue_create(name="world", pool="all", overlap=2, annotators=labellers, created_by=users["ml_admin"])
    held = {}
    for user in labellers:
        first = assignment_next(queue=queue, user=user)
        assert first is not None
        annotation_create(queue=queue, user=user, review_id=first.review_id, label="positive")
        hold = assignment_next(queue=queue, user=user)
        assert hold is not None
        held[user.username] = hold.review_id
    policy = policy_create(name="world", benchmark_snapshot=snapshot)
    cycle = cycle_start(policy=policy, trigger="manual", enqueue=False)
    assert cycle is not None
    return World(
        users=users,
        keys={role: key for role, (_, key) in made.items()},
        tokens={role: token for role, (token, _) in made.items()},
        snapshot=snapshot,
        review=review,
        loose_review=loose_review,
        version=version,
        other_version=other_version,
        run=run,
        evaluation=evaluation,
        import_job=import_job,
        batch_job=batch_job,
        prediction=prediction,
        webhook=webhook,
        queue=queue,
        held=held,
        policy=policy,
        idle_policy=policy_create(name="idle", benchmark_snapshot=snapshot),
        cycle=cycle,
        noise=noise_detection_start(snapshot=snapshot, split="validation", enqueue=False),
        ensemble=ensemble_build_create(members=[version, other_version], enqueue=False),
    )


@pytest.fixture
def ml_admin_client(world: World) -> APIClient:
    return world.client("ml_admin")


@pytest.fixture
def analyst_client(world: World) -> APIClient:
    return world.client("analyst")


@pytest.fixture
def integration_client(world: World) -> APIClient:
    return world.client("integration")
