"""``manage.py build_ensemble VERSION_ID VERSION_ID [...]``: an ensemble of model versions of one snapshot."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.choices import JobStatus
from apps.registry.ensembles import EnsembleRequestError, ensemble_build_create, ensemble_queue
from apps.registry.models import EnsembleBuild, ModelVersion
from apps.registry.runners import ensemble_build_execute
from apps.training.management.commands.train import follow


class Command(BaseCommand):
    help = (
        "Build an ensemble of two or more model versions trained on the same snapshot: its weights are fit on "
        "the snapshot's validation split and it is measured, with each member, on the test split; it is "
        "registered as a model version of kind 'ensemble'. Through the queue by default, following the build "
        "until it ends; --no-wait only queues it, --now builds it in this process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version_ids", nargs="+", type=int, metavar="VERSION_ID", help="The member versions.")
        parser.add_argument("--notes", default="", help="Kept with the build.")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--now", action="store_true", help="Build in this process instead of on a worker.")
        mode.add_argument("--no-wait", action="store_true", help="Queue the build and return at once.")

    def handle(self, *args: Any, **options: Any) -> None:
        ids: list[int] = options["version_ids"]
        found = {version.pk: version for version in ModelVersion.objects.filter(pk__in=ids).select_related("snapshot")}
        missing = [pk for pk in dict.fromkeys(ids) if pk not in found]
        if missing:
            raise CommandError(f"There is no model version {', '.join(map(str, missing))}.")
        members = [found[pk] for pk in ids]
        try:
            build = ensemble_build_create(members=members, notes=options["notes"], enqueue=not options["now"])
        except EnsembleRequestError as error:
            raise CommandError(f"The ensemble was not built: {error}") from None
        if options["now"]:
            self.stdout.write(f"Ensemble build {build.pk} in this process ...")
            ensemble_build_execute(build_id=build.pk)
        else:
            self.stdout.write(f"Queued ensemble build {build.pk} on the {ensemble_queue(members)} queue.")
            if options["no_wait"]:
                return
            follow(self, EnsembleBuild, build.pk, describe=lambda job: (job.processed, job.total, ""))
        build = EnsembleBuild.objects.select_related("model_version").get(pk=build.pk)
        if build.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Ensemble build {build.pk} {build.status}" + (f": {build.error}" if build.error else "."))
        lines = [
            f"Ensemble build {build.pk} succeeded: model version {build.model_version_id}, test accuracy "
            f"{build.accuracy:.4f}, F1 {build.f1:.4f}."
        ]
        for member in build.metrics.get("members", []):
            lines.append(
                f"  member version {member['model_version_id']} ({member['kind']}): test accuracy "
                f"{member['accuracy']:.4f}, F1 {member['f1']:.4f}"
            )
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))
