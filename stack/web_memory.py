"""Print the resident memory of each gunicorn process in this container (`make stack-test` pipes it into web)."""

from __future__ import annotations

from pathlib import Path

for process in sorted(Path("/proc").glob("[0-9]*"), key=lambda path: int(path.name)):
    try:
        command = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        status = dict(line.split(":", 1) for line in (process / "status").read_text().splitlines() if ":" in line)
    except OSError:
        continue
    if "gunicorn" in command:
        role = "master" if status["PPid"].strip() == "0" else "worker"
        print(f"web {role} process {process.name}: {status['VmRSS'].strip()} resident")
