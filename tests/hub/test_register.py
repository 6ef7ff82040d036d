"""Registering a sentiment classifier fine-tuned elsewhere: label maps checked and mapped, refusals, and the
version it becomes evaluated, compared and promoted like the platform's own."""

from __future__ import annotations

import json
import random
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.common.choices import JobStatus
from apps.registry.hub import hub_register_submit
from apps.registry.models import HubJob, ModelVersion
from apps.registry.runners import HubRunner
from apps.registry.services import model_version_artifact_dir, model_version_promote
from apps.reviews.models import DatasetSnapshot
from apps.reviews.snapshots import snapshot_create
from apps.training.services import evaluation_run_create
from tests.conftest import WorkerProcess
from tests.hub.conftest import REVIEWS
from tests.training.conftest import make_reviews
from tests.training.test_worker_runs import finished
from workers.ml import Example, SplitData, TrainConfig
from workers.ml.training import train
from workers.ml.hub import HubError, import_external, label_order
from workers.ml.inference import load_model
from workers.ml.tiny_models import save_tiny_model, wordpiece_tokenizer

pytestmark = pytest.mark.django_db(transaction=True)


def _examples(count: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    return [Example(seed * 100 + n, f"{rng.choice(REVIEWS[1 - n % 2].split(','))} {n}", n % 2) for n in range(count)]


@pytest.fixture(scope="module")
def platform_model(architecture_bases: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A RoBERTa trained here (artifact folder): what an outside model is made from, so its answers are known."""
    data = SplitData(train=_examples(8, 1), validation=_examples(4, 2), test=_examples(4, 3))
    config = TrainConfig(base_model=str(architecture_bases["roberta"]), epochs=1, batch_size=8, max_length=32, lowercase=False)
    return train(config, data, tmp_path_factory.mktemp("outside") / "model").artifact_dir


def trained_elsewhere(platform_model: Path, folder: Path, id2label: dict[int, str]) -> Path:
    """`platform_model` saved as another team would: its labels named and ordered as `id2label` says
    (the output rows swapped when that order is positive first), with no manifest of ours."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(platform_model)
    if "pos" in id2label[0].lower() or id2label[0] == "LABEL_1":
        with torch.no_grad():
            model.classifier.out_proj.weight.copy_(model.classifier.out_proj.weight.flip(0))
            model.classifier.out_proj.bias.copy_(model.classifier.out_proj.bias.flip(0))
    model.config.id2label = id2label
    model.config.label2id = {name: label for label, name in id2label.items()}
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(platform_model).save_pretrained(folder)
    return folder


@pytest.fixture
def snapshot(db: None) -> DatasetSnapshot:
    make_reviews(40)
    return snapshot_create(name="forty reviews", train_fraction=0.5, validation_fraction=0.25, test_fraction=0.25)


@pytest.mark.parametrize(
    "id2label",
    [{0: "NEGATIVE", 1: "POSITIVE"}, {0: "POSITIVE", 1: "NEGATIVE"}, {0: "neg", 1: "pos"}, {0: "LABEL_0", 1: "LABEL_1"}],
    ids=["NEGATIVE-POSITIVE", "POSITIVE-NEGATIVE", "neg-pos", "LABEL_0-LABEL_1"],
)
def test_a_registered_model_answers_as_the_original_whatever_its_label_names_and_order(
    snapshot: DatasetSnapshot, platform_model: Path, tmp_path: Path, id2label: dict[int, str]
) -> None:
    outside = trained_elsewhere(platform_model, tmp_path / "outside", id2label)

    job = hub_register_submit(source=str(outside), snapshot=snapshot, enqueue=False)
    HubRunner.handle(job.pk)
    job.refresh_from_db()

    assert job.status == JobStatus.SUCCEEDED, f"{job.error}\n{job.log_tail}"
    version = job.model_version
    assert (version.kind, version.base_model, version.snapshot_id) == ("transformer", str(outside), snapshot.pk)
    assert version.training_run is None and version.test_accuracy is not None
    assert ("swapped" in job.log_tail) == (id2label[0] == "POSITIVE")
    registered = load_model(model_version_artifact_dir(version=version))
    original = load_model(platform_model)
    for ours, theirs in zip(registered.predict(REVIEWS), original.predict(REVIEWS)):
        assert ours["label"] == theirs["label"]
        assert ours["probabilities"] == pytest.approx(theirs["probabilities"], abs=1e-5)
    config = json.loads((model_version_artifact_dir(version=version) / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    card = (model_version_artifact_dir(version=version) / "README.md").read_text()
    assert "not recorded (trained elsewhere)" in card and str(outside) in card


def test_models_that_are_not_two_label_sentiment_classifiers_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    tokenizer = wordpiece_tokenizer()
    three = save_tiny_model(tmp_path / "three", "bert", tokenizer=tokenizer, num_labels=3,
                            id2label={0: "negative", 1: "neutral", 2: "positive"})  # fmt: skip
    toxic = save_tiny_model(tmp_path / "toxic", "bert", tokenizer=tokenizer, id2label={0: "toxic", 1: "clean"})
    pickled = save_tiny_model(tmp_path / "pickled", "bert", tokenizer=tokenizer)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    remote = save_tiny_model(tmp_path / "remote", "bert", tokenizer=tokenizer)
    config = json.loads((remote / "config.json").read_text())
    (remote / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "modeling.Custom"}}))
    from transformers import BertModel

    encoder = tmp_path / "encoder"
    BertModel.from_pretrained(three).save_pretrained(encoder)
    tokenizer.save_pretrained(encoder)

    messages = {}
    for name, folder in [("three", three), ("toxic", toxic), ("pickled", pickled), ("remote", remote), ("encoder", encoder)]:
        with pytest.raises(HubError) as refused:
            import_external(folder, tmp_path / f"staging-{name}")
        messages[name] = str(refused.value)
        assert not (tmp_path / f"staging-{name}").exists()

    assert "3 labels (negative, neutral, positive)" in messages["three"] and "two-label sentiment" in messages["three"]
    assert "'toxic' and 'clean' do not read as negative and positive" in messages["toxic"]
    assert "no safetensors weights (only pytorch_model.bin, which are pickled" in messages["pickled"]
    assert "trust_remote_code" in messages["remote"]
    assert "BertModel, not a sequence classifier" in messages["encoder"]
    assert label_order({0: "LABEL_1", 1: "LABEL_0"}) == (1, 0)


def test_a_registration_that_fails_leaves_no_version_and_no_files(
    snapshot: DatasetSnapshot, tmp_path: Path, artifact_root: Path
) -> None:
    three = save_tiny_model(tmp_path / "three", "bert", num_labels=3)
    before = sorted(path.name for path in artifact_root.iterdir())

    job = hub_register_submit(source=str(three), snapshot=snapshot, enqueue=False)
    HubRunner.handle(job.pk)
    job.refresh_from_db()
    offline = hub_register_submit(source="someone/not-in-the-cache", snapshot=snapshot, enqueue=False)
    HubRunner.handle(offline.pk)
    offline.refresh_from_db()

    assert job.status == JobStatus.FAILED and "two-label sentiment models only" in job.error
    assert offline.status == JobStatus.FAILED and "could not be downloaded from the Hub" in offline.error
    assert ModelVersion.objects.count() == 0
    assert sorted(path.name for path in artifact_root.iterdir() if path.name != ".incomplete") == [
        name for name in before if name != ".incomplete"
    ]
    assert not (artifact_root / ".incomplete" / f"hub-{job.pk}").exists()
    with pytest.raises(HubError, match="not a valid Hub repository id"):
        hub_register_submit(source="no such/model", snapshot=snapshot)


def test_a_registered_version_is_evaluated_on_the_worker_and_promoted_like_our_own(
    celery_worker_process: WorkerProcess, snapshot: DatasetSnapshot, platform_model: Path, tmp_path: Path
) -> None:
    outside = trained_elsewhere(platform_model, tmp_path / "outside", {0: "NEGATIVE", 1: "POSITIVE"})
    out = StringIO()
    call_command("hub_register", str(outside), "--snapshot", str(snapshot.pk), "--now", stdout=out)
    version = HubJob.objects.get().model_version

    evaluation = evaluation_run_create(model_version=version, snapshot=snapshot, split="test")
    finished(evaluation, worker=celery_worker_process)
    promotion = model_version_promote(version=version, by=None, reason="trained elsewhere, better on our test split")

    assert f"Registered {outside} as model version {version.pk}" in out.getvalue()
    assert evaluation.status == JobStatus.SUCCEEDED, evaluation.error
    assert evaluation.accuracy == pytest.approx(version.test_accuracy)
    assert promotion.to_version == version and not promotion.forced
    with pytest.raises(CommandError, match="There is no snapshot"):
        call_command("hub_register", str(outside), "--snapshot", "999999", "--now")
