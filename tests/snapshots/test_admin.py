"""Snapshots in the admin: listed, never added there (an empty snapshot is all an admin form could save)."""

from __future__ import annotations

from django.test import Client

from apps.reviews.models import DatasetSnapshot


def test_the_admin_offers_no_way_to_add_a_snapshot(admin_client: Client, static_files_as_in_development: None) -> None:
    changelist = admin_client.get("/admin/reviews/datasetsnapshot/")
    add = admin_client.post("/admin/reviews/datasetsnapshot/add/", {})

    assert changelist.status_code == 200
    assert "/admin/reviews/datasetsnapshot/add/" not in changelist.content.decode()
    assert add.status_code == 403
    assert not DatasetSnapshot.objects.exists()
