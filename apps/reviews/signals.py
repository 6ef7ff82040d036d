"""What reviews announce to the apps above it, which connect their receivers in their AppConfig.ready()."""

from __future__ import annotations

from django.dispatch import Signal

# New reviews exist (``reviews``: a queryset of them); sent inside the transaction that created them, so a
# receiver's writes (labelling enters them into its queues) commit or roll back with the reviews.
reviews_entered = Signal()
