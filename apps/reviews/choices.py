from __future__ import annotations

from django.db import models

from apps.common.choices import Label

__all__ = ["Label", "Split", "OriginSplit", "LabelSource"]


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VALIDATION = "validation", "Validation"
    TEST = "test", "Test"


class OriginSplit(models.TextChoices):
    """The split a review came with from its source (IMDb's own train/test/unsupervised)."""

    TRAIN = "train", "Train"
    TEST = "test", "Test"
    UNSUPERVISED = "unsupervised", "Unsupervised"
    NONE = "", "None"


class LabelSource(models.TextChoices):
    GOLD = "gold", "Gold labels"
    HUMAN = "human", "Resolved human labels"
    GOLD_AND_HUMAN = "gold_and_human", "Gold labels, then resolved human labels"
