"""Rewrite ``results/text.json`` with every cell's test predictions as one string of class digits (cells written by an
older version of ``text_cells.py`` stored them as lists, one JSON line per sentence)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, results_lock  # noqa: E402

from kdistill.atomic import atomic_write_text  # noqa: E402


def main() -> int:
    path = RESULTS_DIR / "text.json"
    with results_lock(path):
        results = json.loads(path.read_text())
        for record in results["cells"].values():
            if isinstance(record.get("predictions"), list):
                record["predictions"] = "".join(map(str, record["predictions"]))
        atomic_write_text(path, json.dumps(results, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
