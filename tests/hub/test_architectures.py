"""Every common encoder trains on a real worker, serves predictions, and exports to a folder `pipeline` answers the same.

BERT, DistilBERT, ELECTRA and DeBERTa-v2 come with a WordPiece tokenizer ([CLS] ... [SEP]), RoBERTa with a
byte-level BPE one (<s> ... </s>); all are tiny, randomly initialised and made in the test. One optimiser
step each: the plumbing is under test, not the accuracy.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from apps.common.choices import JobStatus
from apps.common.roles import INTEGRATION
from apps.common.services import api_token_create
from apps.predictions.serving import predictor
from apps.registry.models import ModelVersion
from apps.registry.services import model_version_artifact_dir, model_version_promote
from apps.reviews.models import DatasetSnapshot
from apps.reviews.snapshots import snapshot_create
from apps.training.services import training_run_create
from tests.conftest import WorkerProcess
from tests.hub.conftest import REVIEWS
from tests.registry.factories import UserFactory
from tests.training.conftest import make_reviews
from tests.training.test_worker_runs import finished
from workers.ml.hub import export_folder
from workers.ml.tiny_models import ARCHITECTURES, tokenizer_for
from workers.ml.encoding import encode_texts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def snapshot(db: None) -> DatasetSnapshot:
    make_reviews(40)
    return snapshot_create(name="forty reviews", train_fraction=0.5, validation_fraction=0.25, test_fraction=0.25)


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_head_tail_truncation_keeps_each_tokenizers_own_special_tokens_at_the_ends(architecture: str) -> None:
    tokenizer = tokenizer_for(architecture)
    long_review = "the start was awful. " + "the middle went on. " * 40 + "but the ending was wonderful"
    content = tokenizer(long_review, add_special_tokens=False, verbose=False)["input_ids"]

    [encoded] = encode_texts(tokenizer, [long_review], max_length=24, truncation="head_tail", lowercase=True)

    first, last = (tokenizer.cls_token_id, tokenizer.sep_token_id)
    if ARCHITECTURES[architecture] == "bpe":
        assert (tokenizer.cls_token, tokenizer.sep_token) == ("<s>", "</s>")
        first, last = tokenizer.bos_token_id, tokenizer.eos_token_id
    else:
        assert (tokenizer.cls_token, tokenizer.sep_token) == ("[CLS]", "[SEP]")
    assert len(encoded) == 24 and encoded[0] == first and encoded[-1] == last
    assert encoded[1:6] == content[:5] and encoded[6:-1] == content[-17:]  # 22 tokens: a quarter head, the rest tail
    assert tokenizer.decode(encoded[1:6]).strip().startswith("the st")
    assert tokenizer.decode(encoded[6:-1]).strip().endswith("but the ending was wonderful")


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_each_architecture_trains_on_the_worker_serves_and_exports_to_what_pipeline_loads(
    celery_worker_process: WorkerProcess,
    snapshot: DatasetSnapshot,
    architecture_bases: dict[str, Path],
    architecture: str,
    tmp_path: Path,
) -> None:
    run = training_run_create(
        snapshot=snapshot, kind="transformer", base_model=str(architecture_bases[architecture]), epochs=1,
        batch_size=8, subset_size=8, max_length=32, truncation="head_tail", learning_rate=1e-3,
    )  # fmt: skip

    finished(run, worker=celery_worker_process)

    assert run.status == JobStatus.SUCCEEDED, f"{run.error}\n{run.log_tail}"
    assert run.total_steps == 1 and run.current_step == 1
    version = ModelVersion.objects.get(training_run=run)
    model_version_promote(version=version, by=None, reason=f"serve the {architecture} run", force=True)
    predictor.clear()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=UserFactory(roles=[INTEGRATION]), name='t')[1]}")
    served = client.post("/api/predict", {"texts": REVIEWS}, format="json")
    assert served.status_code == 200, served.content
    answers = served.json()["predictions"]
    assert all(answer["model_version"] == version.pk for answer in answers)

    exported = export_folder(model_version_artifact_dir(version=version), tmp_path / "export", model_name=f"team/{architecture}")
    from transformers import pipeline

    piped = pipeline("text-classification", model=str(exported), top_k=None)(REVIEWS, truncation=True)
    for platform, answer in zip(answers, piped):
        scores = {row["label"]: row["score"] for row in answer}
        assert max(scores, key=scores.get) == platform["label"].lower()
        assert scores["negative"] == pytest.approx(platform["probabilities"]["negative"], abs=1e-5)
        assert scores["positive"] == pytest.approx(platform["probabilities"]["positive"], abs=1e-5)
    predictor.clear()
