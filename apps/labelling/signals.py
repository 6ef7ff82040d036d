"""What labelling announces to the apps above it, which connect their receivers in their AppConfig.ready()."""

from __future__ import annotations

from django.dispatch import Signal

# A review got a resolution, or its resolution changed (``review_id``); sent inside the transaction that wrote it.
resolution_made = Signal()
