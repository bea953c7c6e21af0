"""Per-epoch metrics, appended to ``metrics.jsonl`` so other tools (and ``kdistill report``) can read them live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kdistill.atomic import atomic_write_text


def append_record(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def rewrite_records(path: Path, records: list[dict[str, Any]]) -> None:
    """Replace the file with ``records`` (on resume: drop lines from epochs after the checkpoint)."""
    atomic_write_text(path, "".join(json.dumps(record) + "\n" for record in records))


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
