from __future__ import annotations

from django.db import models

# Defined below labelling, where predictions and reviews read them too; named here for labelling's own code.
from apps.common.labels import QueuePool, ResolutionMethod

__all__ = ["QueuePool", "QueueStrategy", "ResolutionMethod"]


class QueueStrategy(models.TextChoices):
    RANDOM = "random", "Random"
    UNCERTAINTY = "uncertainty", "Most uncertain first"
    SUSPICIOUS = "suspicious", "Suspicious labels first"
