"""Automation's answers to what the apps below it announce."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from apps.automation import services
from apps.labelling.signals import resolution_made


@receiver(resolution_made, dispatch_uid="automation.labels_resolved")
def check_label_triggers(sender: Any, **kwargs: Any) -> None:
    """A new resolution may reach a retraining policy's label trigger: checked once the transaction commits."""
    services.labels_resolved()
