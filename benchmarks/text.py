"""Text benchmark: TinyBERT-style distillation of all-MiniLM-L6-v2 into smaller BERTs, on Rotten Tomatoes sentiment.

Teacher: all-MiniLM-L6-v2 (6 layers, width 384) fine-tuned here on the transfer set. Students (``minilm-classifier``):
4 layers initialised from 4 of the pretrained MiniLM's layers (DistilBERT-style; the main rows), and as extras 2 such
layers, and a narrower 4-layer width-192 student from scratch (the hidden-state projections are then learned). Rows:
the student fine-tuned without KD, logits-only KD, full TinyBERT (embeddings + hidden states + attention scores +
logits, uniform layer map), each with and without transfer-set augmentation (embedding-neighbour word replacement,
one teacher-labelled copy per sentence, same number of steps), and the ablation of one TinyBERT part at a time.
Second table: sentence-embedding distillation on the women's clothing reviews, scored by a linear probe and k-NN on
the ``recommended`` flag.

Resumable: every cell (row x seed) is recorded in ``results/text.json`` when it finishes, and every training run keeps
per-epoch checkpoints under ``benchmarks/runs/text``; a rerun skips finished cells and resumes the rest. Several
worker processes may run at once (``--workers 2``): each claims the next runnable cell.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/text.py --worker 0 --workers 2 &
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/text.py --worker 1 --workers 2 &
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, load_results, record_cell, save_results  # noqa: E402
from text_cells import CELLS, Cell, cell_ready, run_cell  # noqa: E402
from text_data import SETTINGS  # noqa: E402
from text_report import write_report  # noqa: E402

RUNS = Path(__file__).resolve().parent / "runs" / "text"
RESULTS = RESULTS_DIR / "text.json"
SMOKE = {"train": 64, "val": 32, "test": 64, "embed_train": 64, "embed_probe_train": 64, "embed_probe_test": 64,
         "latency_repeats": 2}  # --smoke: every cell on a few sentences, into runs/text-smoke and text_smoke.*
log = logging.getLogger("kdistill")


def claim(cell: Cell) -> bool:
    """Create the cell's claim file (held by this process id); a claim by a process that is gone is taken over."""
    path = RUNS / "claims" / f"{cell.key.replace('/', '_')}.claim"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            owner = int(path.read_text() or 0)
            os.kill(owner, 0)
            return owner == os.getpid()
        except (ProcessLookupError, ValueError):
            path.unlink(missing_ok=True)
            return claim(cell)
        except PermissionError:
            return False
    os.write(handle, str(os.getpid()).encode())
    os.close(handle)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=None, help="run only cells whose key starts with one of these")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny data, separate files: checks every cell runs")
    args = parser.parse_args()
    global RUNS, RESULTS
    if args.smoke:
        SETTINGS.update(SMOKE)
        RUNS, RESULTS = RUNS.with_name("text-smoke"), RESULTS.with_name("text_smoke.json")
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s w{args.worker} %(message)s", datefmt="%H:%M:%S")
    RUNS.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        write_report(load_results(RESULTS), RESULTS.with_suffix('.md'))
        return 0
    cells = [cell for cell in CELLS if args.only is None or any(cell.key.startswith(p) for p in args.only)]
    while True:
        done = load_results(RESULTS)["cells"]
        todo = [cell for cell in cells if cell.key not in done]
        if not todo:
            break
        runnable = next((cell for cell in todo if cell_ready(cell, done, RUNS) and claim(cell)), None)
        if runnable is None:
            time.sleep(20)  # waiting for another worker's teacher
            continue
        log.info("cell %s", runnable.key)
        started = time.time()
        record = run_cell(runnable, RUNS)
        record["wall_seconds"] = time.time() - started
        results = load_results(RESULTS)
        record_cell(results, runnable.key, record, runnable.seed)
        save_results(RESULTS, results)
        write_report(load_results(RESULTS), RESULTS.with_suffix('.md'))
        log.info("cell %s done in %.0fs: %s", runnable.key, record["wall_seconds"],
                 {k: v for k, v in record.items() if isinstance(v, float)})
    write_report(load_results(RESULTS), RESULTS.with_suffix('.md'))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
