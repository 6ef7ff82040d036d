"""The web predictor: lazy loading, hot swap on promotion and rollback, both model kinds, screening."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

import apps.predictions.serving as predictor_module
from apps.predictions.serving import ModelUnavailable, NoCurrentModel, predictor
from apps.registry.models import ModelVersion
from apps.reviews.models import DatasetSnapshot
from tests.conftest import REPO_ROOT, wait_until
from tests.predictions.conftest import NEGATIVE_REVIEW, POSITIVE_REVIEW, MakeVersion, make_current

pytestmark = pytest.mark.django_db


def test_nothing_is_predicted_before_a_version_is_current(make_version: MakeVersion) -> None:
    make_version()

    with pytest.raises(NoCurrentModel, match="No model is current yet: an ML admin promotes one"):
        predictor.predict([POSITIVE_REVIEW])


def test_the_tfidf_model_answers_with_labels_and_probabilities(make_version: MakeVersion) -> None:
    version = make_version(current=True)

    batch = predictor.predict([POSITIVE_REVIEW, NEGATIVE_REVIEW])

    assert [answer.label for answer in batch.answers] == [1, 0]
    for answer in batch.answers:
        assert answer.model_version_id == version.pk
        assert answer.prob_negative + answer.prob_positive == pytest.approx(1.0)
        assert answer.confidence == max(answer.prob_negative, answer.prob_positive)
    assert batch.model_version.pk == version.pk
    assert batch.elapsed_ms > 0


def test_a_transformer_version_answers_too(make_version: MakeVersion, transformer_folder: Path) -> None:
    version = make_version(transformer_folder, current=True)

    batch = predictor.predict([POSITIVE_REVIEW, NEGATIVE_REVIEW, "short"])

    assert len(batch.answers) == 3
    assert {answer.model_version_id for answer in batch.answers} == {version.pk}
    assert all(answer.prob_negative + answer.prob_positive == pytest.approx(1.0) for answer in batch.answers)


def test_a_promotion_is_served_from_the_very_next_request_and_a_rollback_restores_the_old_version(
    make_version: MakeVersion, transformer_folder: Path
) -> None:
    first = make_version(current=True)
    second = make_version(transformer_folder)
    assert predictor.predict([POSITIVE_REVIEW]).model_version.pk == first.pk

    make_current(second)
    assert predictor.predict([POSITIVE_REVIEW]).answers[0].model_version_id == second.pk

    make_current(first)
    assert predictor.predict([POSITIVE_REVIEW]).answers[0].model_version_id == first.pk


def test_a_loaded_version_is_reused_until_another_becomes_current(make_version: MakeVersion, monkeypatch: Any) -> None:
    first = make_version(current=True)
    second = make_version()
    loads: list[int] = []
    real_load = predictor_module._load_version
    monkeypatch.setattr(predictor_module, "_load_version", lambda version: loads.append(version.pk) or real_load(version))

    for _ in range(3):
        predictor.predict([POSITIVE_REVIEW])
    make_current(second)
    predictor.predict([POSITIVE_REVIEW])
    make_current(first)
    predictor.predict([POSITIVE_REVIEW])

    # The version rolled back to was still loaded beside the new one.
    assert loads == [first.pk, second.pk]


def test_a_version_whose_files_changed_is_refused_with_a_message_saying_what_to_do(
    make_version: MakeVersion, artifact_root: Path, tfidf_folder: Path, tmp_path: Path
) -> None:
    import shutil

    copy = artifact_root / f"changed-{tmp_path.name}"
    shutil.copytree(tfidf_folder, copy)
    (copy / "weights.safetensors").write_bytes(b"not the weights")
    make_version(copy, current=True)

    with pytest.raises(ModelUnavailable, match="Checksum mismatch for weights.safetensors.*Promote another version"):
        predictor.predict([POSITIVE_REVIEW])


def test_a_tfidf_version_of_the_same_snapshot_screens_the_reviews_it_is_sure_of(
    make_version: MakeVersion, transformer_folder: Path, settings: Any
) -> None:
    settings.PREDICTION_SCREEN_CONFIDENCE = 0.6
    snapshot = DatasetSnapshot.objects.create(name="screened", content_hash="0" * 64)
    screen = make_version(snapshot=snapshot)
    make_version(snapshot=None)
    transformer = make_version(transformer_folder, snapshot=snapshot, current=True)
    sure = predictor.served().screened
    assert sure is not None and sure.screen.path.name == "predictions-tfidf"

    batch = predictor.predict([POSITIVE_REVIEW, NEGATIVE_REVIEW, "a film"])

    assert batch.screen_version is not None and batch.screen_version.pk == screen.pk
    answered_by = [answer.model_version_id for answer in batch.answers]
    # Clear reviews are answered by the TF-IDF screen; a text with no sentiment words goes to the transformer.
    assert answered_by == [screen.pk, screen.pk, transformer.pk]


def test_with_screening_off_a_transformer_answers_every_review_itself(
    make_version: MakeVersion, transformer_folder: Path, settings: Any
) -> None:
    settings.PREDICTION_SCREEN_CONFIDENCE = 0
    snapshot = DatasetSnapshot.objects.create(name="unscreened", content_hash="1" * 64)
    make_version(snapshot=snapshot)
    transformer = make_version(transformer_folder, snapshot=snapshot, current=True)

    batch = predictor.predict([POSITIVE_REVIEW, NEGATIVE_REVIEW])

    assert batch.screen_version is None
    assert {answer.model_version_id for answer in batch.answers} == {transformer.pk}


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_requests_load_the_current_version_once(make_version: MakeVersion, monkeypatch: Any) -> None:
    version = make_version(current=True)
    loads: list[int] = []
    real_load = predictor_module._load_version

    def slow_counting_load(loaded: ModelVersion) -> Any:
        loads.append(loaded.pk)
        threading.Event().wait(0.2)
        return real_load(loaded)

    monkeypatch.setattr(predictor_module, "_load_version", slow_counting_load)
    answered: list[int] = []
    failures: list[BaseException] = []

    def request() -> None:
        try:
            answered.append(predictor.predict([POSITIVE_REVIEW]).answers[0].model_version_id)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert answered == [version.pk] * 6
    assert loads == [version.pk]


def test_starting_the_web_side_imports_no_torch() -> None:
    code = (
        "import sys, django; django.setup(); "
        "import sentimentsite.urls, apps.predictions.api, apps.predictions.views, apps.predictions.services; "
        "from django.urls import resolve; resolve('/api/predict'); resolve('/predict/'); "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "sentimentsite.settings", "SECRET_KEY": "x"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False False"


def test_a_screen_whose_files_are_gone_is_skipped_and_the_transformer_answers_everything(
    make_version: MakeVersion, transformer_folder: Path, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.PREDICTION_SCREEN_CONFIDENCE = 0.6
    snapshot = DatasetSnapshot.objects.create(name="broken screen", content_hash="2" * 64)
    screen = make_version(snapshot=snapshot)
    ModelVersion.objects.filter(pk=screen.pk).update(artifact_path="no-such-folder")
    transformer = make_version(transformer_folder, snapshot=snapshot, current=True)

    batch = predictor.predict([POSITIVE_REVIEW, NEGATIVE_REVIEW])

    assert batch.screen_version is None
    assert {answer.model_version_id for answer in batch.answers} == {transformer.pk}
    assert f"Serving version {transformer.pk} without its TF-IDF screen" in caplog.text


@pytest.mark.parametrize("quantize", [True, False])
def test_the_transformer_is_served_in_int8_unless_the_setting_says_otherwise(
    make_version: MakeVersion, transformer_folder: Path, settings: Any, quantize: bool
) -> None:
    settings.PREDICTION_QUANTIZE = quantize
    make_version(transformer_folder, current=True)

    assert predictor.served().model.quantized is quantize  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
def test_a_promoted_version_is_loaded_and_warm_before_any_request_asks_for_it(
    make_version: MakeVersion, settings: Any
) -> None:
    from apps.predictions.serving import CurrentModelPredictor, Warmer
    from apps.registry.services import model_version_promote

    first = make_version(current=True)
    second = make_version()
    process_predictor = CurrentModelPredictor()
    settings.PREDICTION_WARM_SECONDS = 0.2
    warmer = Warmer(process_predictor)
    warmer.start()
    try:
        wait_until(lambda: process_predictor._warmed == {first.pk}, timeout=30, what="the current version to be warm")
        model_version_promote(version=second, by=None, reason="better", force=True)

        wait_until(lambda: second.pk in process_predictor._warmed, timeout=30, what="the promoted version to be warm")
    finally:
        warmer.stop.set()
    loaded = process_predictor._served
    assert next(reversed(loaded)) == second.pk, "the new current version is loaded, with no request made"
