from __future__ import annotations

from django.db import models


class QueueStrategy(models.TextChoices):
    RANDOM = "random", "Random"
    UNCERTAINTY = "uncertainty", "Most uncertain first"
    SUSPICIOUS = "suspicious", "Suspicious labels first"


class QueuePool(models.TextChoices):
    UNLABELLED = "unlabelled", "Reviews with no gold label"
    SNAPSHOT_SPLIT = "snapshot_split", "A snapshot's split"
    IMPORT = "import", "One import"
    ALL = "all", "All reviews"


class ResolutionMethod(models.TextChoices):
    GOLD = "gold", "Gold label"
    UNANIMOUS = "unanimous", "Unanimous annotators"
    MAJORITY = "majority", "Majority of annotators"
    SETTLED = "settled", "Settled by an ML admin"
