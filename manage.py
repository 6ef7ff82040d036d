#!/usr/bin/env python
from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sentimentsite.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # A missing SECRET_KEY or a bad variable is the reader's to fix, not a bug: say what, without a traceback.
        sys.exit(f"The platform is not configured to run this command: {error}")


if __name__ == "__main__":
    main()
