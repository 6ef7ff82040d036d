"""A full-text index over review texts for the review browser's search, on PostgreSQL only.

The expression matches ``apps.reviews.selectors._text_search`` exactly (Django writes
``to_tsvector('english'::regconfig, COALESCE(text, ''))``), which is what lets PostgreSQL use it. It
lives here because the dashboard is the one reader that searches; SQLite has no such index and the
search there matches substrings instead.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

INDEX = "review_text_search_idx"


def create_index(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON reviews_review "
            "USING gin (to_tsvector('english'::regconfig, COALESCE(text, '')))"
        )


def drop_index(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("reviews", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
