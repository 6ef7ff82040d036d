"""Labelling's answers to what the apps below it announce."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.dispatch import receiver

from apps.labelling.ordering import queues_take_in_new_reviews
from apps.reviews.models import Review
from apps.reviews.signals import reviews_entered


@receiver(reviews_entered, dispatch_uid="labelling.reviews_entered")
def enter_new_reviews(sender: Any, *, reviews: QuerySet[Review], **kwargs: Any) -> None:
    """New reviews enter the queues whose pools grow (unlabelled, all), in the transaction that created them."""
    queues_take_in_new_reviews(reviews=reviews)
