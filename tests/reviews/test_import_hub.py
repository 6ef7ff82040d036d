"""``hf:NAME`` sources, loaded through ``datasets.load_dataset``."""

from __future__ import annotations

import pytest

from apps.reviews.models import Review
from apps.reviews.selectors import review_counts_by_split_and_label
from apps.reviews.services import review_import

pytestmark = pytest.mark.django_db


def test_hf_imdb_imports_each_split_of_the_loaded_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    loaded = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": ["Great.", "Awful.", "Fine."], "label": [1, 0, 1]}),
            "test": datasets.Dataset.from_dict({"text": ["Dull."], "label": [0]}),
            "unsupervised": datasets.Dataset.from_dict({"text": ["Hmm.", "Saw it."], "label": [-1, -1]}),
        }
    )
    asked: list[str] = []
    monkeypatch.setattr(datasets, "load_dataset", lambda name: asked.append(name) or loaded)

    result = review_import(source="hf:imdb")

    assert asked == ["imdb"]
    assert (result.rows_created, result.source_name) == (6, "imdb")
    assert [(row.split, row.negative, row.positive, row.unlabelled) for row in review_counts_by_split_and_label()] == [
        ("Train", 1, 2, 0),
        ("Test", 1, 0, 0),
        ("Unsupervised", 0, 0, 2),
    ]
    assert dict(Review.objects.values_list("external_id", "text")) == {
        "train/0": "Great.",
        "train/1": "Awful.",
        "train/2": "Fine.",
        "test/0": "Dull.",
        "unsupervised/0": "Hmm.",
        "unsupervised/1": "Saw it.",
    }
