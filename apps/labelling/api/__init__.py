"""REST API for labelling, under ``/api/labelling/``: queues, the next review, labels, conflicts, agreement,
uploads, exports and snapshots of the labels.

Authentication is the platform's default (``Authorization: Token <key>`` or a session). Analysts (and
ML admins) work the queues they are listed on; everything else is for ML admins. Refusals are DRF
exceptions with a message that says why: 400 for a bad body (a label other than positive/negative, a
malformed upload), 403 for a review not assigned to you or a queue that does not list you, 409 for a
review already resolved or already labelled.
"""
