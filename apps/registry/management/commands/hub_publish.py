"""``manage.py hub_publish VERSION_ID OWNER/NAME [--public] [--license ID]``: publish a version to the Hugging Face Hub."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.registry.hub import hub_publish_submit
from apps.registry.management.commands.hub_register import finish
from apps.registry.models import ModelVersion
from apps.registry.runners import HubRunner
from workers.ml.hub import HubError


class Command(BaseCommand):
    help = (
        "Publish a transformer model version to the Hugging Face Hub as a standard model repository (config.json "
        "with negative/positive labels, safetensors weights, tokenizer, model card with the test metrics), with the "
        "token in HF_TOKEN. Private unless --public. Through the default queue, followed until it ends; --now runs it "
        "in this process, --no-wait only queues it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version_id", type=int, metavar="VERSION_ID")
        parser.add_argument("repo_id", metavar="OWNER/NAME", help="The Hub repository, created when it does not exist.")
        parser.add_argument("--public", action="store_true", help="Make a new repository public (default: private).")
        parser.add_argument("--license", default="apache-2.0", help="The license in the model card (default apache-2.0).")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--now", action="store_true", help="Publish from this process instead of a worker.")
        mode.add_argument("--no-wait", action="store_true", help="Queue the job and return at once.")

    def handle(self, *args: Any, **options: Any) -> None:
        version = ModelVersion.objects.filter(pk=options["version_id"]).first()
        if version is None:
            raise CommandError(f"There is no model version {options['version_id']}.")
        try:
            job = hub_publish_submit(
                version=version, repo_id=options["repo_id"], private=not options["public"], license=options["license"],
                enqueue=not options["now"],
            )  # fmt: skip
        except HubError as error:
            raise CommandError(str(error)) from None
        if options["now"]:
            HubRunner.handle(job.pk)
        finished = finish(self, job, wait=not options["no_wait"])
        if finished is not None:
            self.stdout.write(
                self.style.SUCCESS(f"Published model version {version.pk} to {finished.result_url} ({finished.commit_oid}).")
            )
