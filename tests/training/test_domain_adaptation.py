"""Domain adaptation: masked-language modelling on the unlabelled reviews before fine-tuning (workers/ml/domain.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.common.choices import JobStatus
from apps.common.roles import ANALYST, ML_ADMIN
from apps.registry.models import ModelVersion
from apps.reviews.models import DatasetSnapshot, Review
from apps.training.models import TrainingRun
from apps.training.services import training_run_create
from tests.brokering import stand_in_for_task
from tests.conftest import WorkerProcess
from tests.registry.factories import UserFactory
from tests.training.conftest import tiny_transformer_settings
from tests.training.test_worker_runs import finished
from workers.ml import TrainConfig, TrainingCancelled
from workers.ml.training import train
from workers.ml.data import Example, SplitData
from workers.ml.domain import FRESH_HEAD, PRETRAINED_HEAD, pick_reviews

UNLABELLED = [
    "the director keeps the camera still and lets the actors carry every long scene",
    "i saw it twice at the festival and the second time the ending made more sense",
    "the soundtrack is mostly strings, the sets are cheap and the cast is unknown",
    "a remake of a seventies thriller with a new villain and the same plot",
]


@pytest.fixture(autouse=True)
def _static_files(static_files_as_in_development: None) -> None:
    """Pages render with static files served as in development (tests/conftest.py)."""


def make_unlabelled(count: int) -> list[Review]:
    return Review.objects.bulk_create(
        Review(text=f"{UNLABELLED[index % len(UNLABELLED)]} ({index})", source="unsup", external_id=f"u{index}")
        for index in range(count)
    )


# --- On a real worker ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_run_adapts_the_tiny_bert_on_the_unlabelled_reviews_and_its_manifest_card_and_page_say_so(
    celery_worker_process: WorkerProcess, snapshot: DatasetSnapshot, tiny_bert_dir: Path, artifact_root: Path
) -> None:
    make_unlabelled(20)
    run = training_run_create(
        snapshot=snapshot, **tiny_transformer_settings(tiny_bert_dir, epochs=1, mlm_steps=3, mlm_reviews=12)
    )

    finished(run, worker=celery_worker_process)

    assert run.status == JobStatus.SUCCEEDED, f"{run.error}\n{run.log_tail}"
    assert "Domain adaptation: 3 masked-language-modelling steps on 12 unlabelled reviews" in run.log_tail
    # The tiny BERT was saved as a classifier, like sentence-transformers checkpoints: no MLM head weights.
    assert "so the head is initialised fresh" in run.log_tail
    assert "fine-tuning starts from the adapted encoder" in run.log_tail
    version = ModelVersion.objects.get(training_run=run)
    folder = artifact_root / version.artifact_path
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == version.manifest
    hyperparameters = manifest["hyperparameters"]
    assert (hyperparameters["mlm_steps"], hyperparameters["mlm_reviews"], hyperparameters["mlm_reviews_used"]) == (3, 12, 12)
    assert hyperparameters["mlm_head"] == FRESH_HEAD and hyperparameters["mlm_mean_loss"] > 0
    adaptation = manifest["lineage"]["domain_adaptation"]
    # The snapshot's 60 labelled reviews are not "unlabelled"; the 20 without a gold label are.
    assert (adaptation["unlabelled_reviews_available"], adaptation["unlabelled_reviews_used"]) == (20, 12)
    assert len(adaptation["unlabelled_review_ids_sha256"]) == 64
    card = (folder / "README.md").read_text()
    assert "## Domain adaptation" in card
    assert "masked-language modelling on\n12 unlabelled reviews of the platform for 3 steps" in card
    assert "| mlm_steps | 3 |" in card

    analyst = Client()
    analyst.force_login(UserFactory(username="ana", roles=[ANALYST]))
    page = analyst.get(f"/runs/{run.pk}/").content.decode()
    assert "mlm_steps" in page and "mlm_reviews" in page
    api = APIClient()
    api.force_authenticate(UserFactory(username="ann", roles=[ANALYST]))
    body = api.get(f"/api/training-runs/{run.pk}/").json()
    assert (body["hyperparameters"]["mlm_steps"], body["hyperparameters"]["mlm_reviews"]) == (3, 12)


@pytest.mark.django_db(transaction=True)
def test_a_run_asking_for_adaptation_with_no_unlabelled_reviews_fails_before_training_and_says_why(
    celery_worker_process: WorkerProcess, snapshot: DatasetSnapshot, tiny_bert_dir: Path, artifact_root: Path
) -> None:
    run = training_run_create(snapshot=snapshot, **tiny_transformer_settings(tiny_bert_dir, mlm_steps=5))

    finished(run, worker=celery_worker_process)

    assert run.status == JobStatus.FAILED
    assert "there are no unlabelled reviews to pre-train on" in run.error
    assert "set mlm_steps to 0" in run.error
    assert run.current_step == 0 and not run.epoch_metrics.exists()
    assert not ModelVersion.objects.filter(training_run=run).exists()
    assert not (artifact_root / ".incomplete" / f"run-{run.pk}").exists()


# --- In process: the head, cancelling, the sample --------------------------------------------------------


def tiny_data() -> SplitData:
    examples = [
        Example(index, ("a wonderful brilliant film" if index % 2 else "an awful boring movie") + f" {index}", index % 2)
        for index in range(24)
    ]
    return SplitData(examples[:16], examples[16:20], examples[20:])


def tiny_config(folder: Path, **overrides: Any) -> TrainConfig:
    settings = {"epochs": 1, "batch_size": 8, "max_length": 32, "learning_rate": 1e-3, "mlm_steps": 2, **overrides}
    return TrainConfig(base_model=str(folder), **settings)


def test_a_base_model_with_its_own_mlm_head_keeps_it_and_the_classifier_gets_the_adapted_encoder(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForMaskedLM

    from workers.ml.tiny_models import save_tiny_bert
    from workers.ml.transformer import fit_transformer

    save_tiny_bert(tmp_path / "classifier")
    AutoModelForMaskedLM.from_pretrained(tmp_path / "classifier").save_pretrained(tmp_path / "with-head")
    texts = [UNLABELLED[index % 4] for index in range(16)]
    events: list[dict[str, Any]] = []

    result = train(tiny_config(tmp_path / "with-head"), tiny_data(), tmp_path / "out", progress=events.append, unlabelled_texts=texts)

    assert result.manifest["hyperparameters"]["mlm_head"] == PRETRAINED_HEAD
    logs = [event["text"] for event in events if event["type"] == "log"]
    assert not any("initialised fresh" in line for line in logs)
    adaptation = [(event["done"], event["total"]) for event in events if event.get("phase") == "adaptation"]
    assert adaptation[0] == (0, 2) and adaptation[-1] == (2, 2)

    # The classifier starts from the adapted encoder, not the base model's, and keeps the base model's pooler.
    captured: dict[str, Any] = {}
    from workers.ml import domain

    original = domain.transplant_encoder

    def spy(adapted: Any, classifier: Any) -> None:
        original(adapted, classifier)
        captured["adapted"] = {k: v.clone() for k, v in adapted.base_model.state_dict().items()}
        captured["classifier"] = {k: v.clone() for k, v in classifier.base_model.state_dict().items()}

    domain.transplant_encoder = spy
    try:
        from workers.ml import ProgressReporter

        fit_transformer(
            tiny_config(tmp_path / "classifier"), tiny_data(), tmp_path / "staging", ProgressReporter(None, None),
            unlabelled_texts=texts,
        )  # fmt: skip
    finally:
        domain.transplant_encoder = original
    base = AutoModelForMaskedLM.from_pretrained(tmp_path / "classifier").base_model.state_dict()
    name = "encoder.layer.0.attention.self.query.weight"
    assert torch.equal(captured["classifier"][name], captured["adapted"][name])
    assert not torch.equal(captured["adapted"][name], base[name]), "adaptation changed the encoder"
    assert "pooler.dense.weight" in captured["classifier"] and "pooler.dense.weight" not in captured["adapted"]


def test_cancelling_during_adaptation_stops_the_run_and_leaves_nothing(tiny_bert_dir: Path, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    def stop_once_adapting() -> bool:
        return any(event.get("phase") == "adaptation" and event["done"] >= 1 for event in seen)

    with pytest.raises(TrainingCancelled):
        train(
            tiny_config(tiny_bert_dir, mlm_steps=50), tiny_data(), tmp_path / "out", progress=seen.append,
            should_stop=stop_once_adapting, unlabelled_texts=UNLABELLED * 4,
        )  # fmt: skip

    assert max(event["done"] for event in seen if event.get("phase") == "adaptation") < 50
    assert not any(event["type"] == "step" for event in seen), "fine-tuning never started"
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == [], "no staging or scratch folder is left"


def test_the_sample_of_unlabelled_reviews_is_seeded_capped_and_never_more_than_the_steps_see() -> None:
    ids = list(range(1000, 1100))
    config = TrainConfig(mlm_steps=3, batch_size=8)

    assert len(pick_reviews(ids, config)) == 24
    assert pick_reviews(ids, config) == pick_reviews(list(reversed(ids)), config)
    assert pick_reviews(ids, TrainConfig(mlm_steps=3, batch_size=8, seed=1)) != pick_reviews(ids, config)
    assert len(pick_reviews(ids, TrainConfig(mlm_steps=3, batch_size=8, mlm_reviews=5))) == 5
    assert pick_reviews(ids, TrainConfig(mlm_steps=100, batch_size=8)) == ids


# --- Bad values ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"mlm_steps": -1}, "mlm_steps", "Masked-language-modelling steps must be between 0 and 100000 (got -1)."),
        ({"mlm_steps": 100_001}, "mlm_steps", "between 0 and 100000 (got 100001)"),
        ({"mlm_steps": True}, "mlm_steps", "must be a whole number"),
        ({"mlm_steps": 2.5}, "mlm_steps", "must be a whole number"),
        ({"mlm_reviews": 0}, "mlm_reviews", "Unlabelled reviews for adaptation must be at least 1 (got 0)."),
        ({"kind": "tfidf", "mlm_steps": 3}, "mlm_steps", "needs a transformer run"),
    ],
)
def test_bad_adaptation_settings_are_refused_with_their_own_message(values: dict[str, Any], field: str, message: str) -> None:
    errors = TrainConfig(**values).errors()

    assert message in errors[field]


def test_the_defaults_do_not_adapt_and_a_tfidf_run_without_adaptation_is_fine() -> None:
    assert TrainConfig().mlm_steps == 0 and TrainConfig().mlm_reviews is None
    assert TrainConfig(kind="tfidf").errors() == {}
    assert "mlm_steps" in TrainConfig().model_settings() and "mlm_steps" not in TrainConfig(kind="tfidf").model_settings()


@pytest.mark.django_db
def test_the_api_and_the_page_refuse_bad_adaptation_settings_and_queue_nothing(snapshot: DatasetSnapshot) -> None:
    admin = UserFactory(username="mia", roles=[ML_ADMIN])
    api = APIClient()
    api.force_authenticate(admin)

    negative = api.post("/api/training-runs/", {"snapshot": snapshot.pk, "mlm_steps": -3}, format="json")
    tfidf = api.post("/api/training-runs/", {"snapshot": snapshot.pk, "kind": "tfidf", "mlm_steps": 3}, format="json")
    page = Client()
    page.force_login(admin)
    form = page.post("/runs/new/", {"snapshot": snapshot.pk, "kind": "transformer", "mlm_steps": 200_000})

    assert negative.status_code == 400 and "mlm_steps" in negative.json()["error"]["fields"]
    assert tfidf.status_code == 400
    assert "needs a transformer run" in json.dumps(tfidf.json()["error"]["fields"]["mlm_steps"])
    assert form.status_code == 200
    assert "Masked-language-modelling steps must be between 0 and 100000 (got 200000)." in form.content.decode()
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_a_running_run_shows_its_adaptation_phase_and_the_new_run_form_offers_the_setting(snapshot: DatasetSnapshot) -> None:
    run = TrainingRun.objects.create(
        snapshot=snapshot, status=JobStatus.RUNNING, mlm_steps=40, phase="adaptation", phase_done=12, phase_total=40,
        phase_eta_seconds=30,
    )  # fmt: skip
    analyst = Client()
    analyst.force_login(UserFactory(username="ana", roles=[ANALYST]))
    admin = Client()
    admin.force_login(UserFactory(username="mia", roles=[ML_ADMIN]))

    page = analyst.get(f"/runs/{run.pk}/").content.decode()
    new = admin.get("/runs/new/").content.decode()

    assert "Domain adaptation (masked-language modelling on unlabelled reviews): step 12 of 40" in page
    assert "about 30 s for domain adaptation, then fine-tuning" in page
    assert 'name="mlm_steps"' in new and 'name="mlm_reviews"' in new


@pytest.mark.django_db
def test_the_train_command_takes_the_adaptation_settings_and_refuses_bad_ones(
    snapshot: DatasetSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    from workers.tasks.training import run_training

    stand_in_for_task(monkeypatch, run_training.name, lambda **kwargs: None)
    with pytest.raises(CommandError) as refused:
        call_command("train", "--snapshot", str(snapshot.pk), "--mlm-steps", "-2", stdout=StringIO())
    assert "--mlm-steps: Masked-language-modelling steps must be between 0 and 100000 (got -2)." in str(refused.value)
    assert not TrainingRun.objects.exists()

    call_command(
        "train", "--snapshot", str(snapshot.pk), "--mlm-steps", "30", "--mlm-reviews", "500", "--no-wait", stdout=StringIO()
    )
    run = TrainingRun.objects.get()
    assert (run.mlm_steps, run.mlm_reviews, run.status) == (30, 500, JobStatus.QUEUED)
