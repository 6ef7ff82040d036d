"""An index over stored predictions for the review browser's model filters.

``apps.reviews.selectors._said_by`` asks for the reviews a model version predicted as one label within a
confidence range; (model version, label, confidence, review) answers that from the index alone, where
``prediction_uncertainty_idx`` (model version, confidence) has to read every prediction row (with its
text) to learn the label and the review. It lives here because the review browser is its one reader.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

INDEX = "prediction_version_label_idx"


def create_index(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON predictions_prediction (model_version_id, label, confidence, review_id)"
    )


def drop_index(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0001_review_text_search_index"), ("predictions", "0002_initial")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
