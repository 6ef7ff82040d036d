"""Choices about labels and the reviews labelled, shared by the apps below labelling.

Predictions' batch jobs draw their reviews from the same pools as labelling queues (``QueuePool``), and
snapshots record how a review's label was resolved (``ResolutionMethod``); both sit here so that those
apps need not import labelling, which is above them. ``apps.labelling.choices`` names them too.
"""

from __future__ import annotations

from django.db import models


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
