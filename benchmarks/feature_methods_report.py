"""Markdown for benchmarks/feature_methods.py: our table per teacher -> student pair beside the CIFAR-100 one."""

from __future__ import annotations

import statistics

from common import format_mean_std

# CIFAR-100 top-1 % (RepDistiller README / CRD paper; DKD: mdistiller README), from shared/PAPERS.md.
PUBLISHED = {
    "resnet32x4-resnet8x4": [79.42, 72.50, 73.33, 73.50, 73.44, 72.94, 71.90, 73.64, 75.51, 76.32],
    "wrn_40_2-wrn_16_2": [75.61, 73.26, 74.92, 73.58, 74.08, 73.83, 73.35, 74.54, 75.48, 76.23],
    "resnet56-resnet20": [72.34, 69.06, 70.66, 69.21, 70.55, 69.67, 69.61, 70.34, 71.16, 71.97],
    "vgg13-vgg8": [74.64, 70.36, 72.98, 71.02, 71.43, 72.68, 71.48, 72.88, 73.94, 74.68],
}
PUBLISHED_COLUMNS = ["teacher", "student", "kd", "fitnets", "at", "sp", "rkd", "pkt", "crd", "dkd"]


def summarise(results: dict, dataset: str, pair: str, column: str) -> tuple[list[float], int | None]:
    """(accuracies %, extra parameters) over the finished seeds of one column."""
    prefix = f"{dataset}/{pair}/{column}/seed"
    cells = [cell for key, cell in results["cells"].items() if key.startswith(prefix)]
    return [100 * cell["accuracy"] for cell in cells], next((cell["extra_parameters"] for cell in cells), None)


def time_ratio(results: dict, dataset: str, pair: str, column: str, kind: str) -> str:
    """The method's time per epoch over the student's (``kind``: live | cached): median [q1-q3] of the per-turn
    ratios of the pair's interleaved timing cell; a median under 1 is flagged - the method does more work than the
    student alone, so it is a measurement error."""
    if column == "student":
        return "1.00"
    ratio = results["cells"].get(f"{dataset}/{pair}/timing", {}).get("ratios", {}).get(column, {}).get(kind)
    if ratio is None:
        return "-"
    flag = " ⚠ below 1: measurement error" if ratio["below_one"] else ""
    return f"{ratio['median']:.2f} [{ratio['q1']:.2f}-{ratio['q3']:.2f}]{flag}"


UNTIMED = ("The earlier time columns were timed one variant after another on a shared machine and were within its "
           "noise (on fashion-mnist a cached ratio came out 0.68, below the 1.00 that a method doing more work than "
           "the student cannot go under), so they were dropped rather than shown; `--timing-only --pairs PAIR` "
           "measures them in turns.")


def timing_note(results: dict, dataset: str, pairs: list[str]) -> str:
    timed = [results["cells"][key] for pair in pairs if (key := f"{dataset}/{pair}/timing") in results["cells"]]
    extra = "Extra = trainable parameters the method adds (connectors, heads), absent from the exported student."
    if not timed:
        return f"Time: not yet measured in turns for this dataset. {UNTIMED} {extra}"
    cell = timed[0]
    weights = sorted({timing["teacher_weights"] for timing in timed})
    return ("Time × = wall time per training epoch relative to the student trained alone, with the teacher running "
            "live (`live`: what the method costs without a cache) and served from the cache (`cached`: the method's "
            f"own cost). All variants of a pair are built once and timed in turns in one process on a {cell['steps']}-"
            f"step slice, {cell['repeats']} turns after {cell['warmup']} untimed, the order rotating each turn; shown: "
            "median [interquartile range] of the per-turn ratios. A median below 1.00 is flagged as a measurement "
            f"error. Teacher for timing: {'; '.join(weights)}. Load average (1 min) of the 2-core machine when the "
            f"timing finished: {', '.join(load_of(timing) for timing in timed)} (the spread is measured under it). {extra}")


def load_of(cell: dict) -> str:
    load = cell.get("provenance", {}).get("load_average_1min")
    return "unknown" if load is None else f"{load:.1f}"


def render_markdown(results: dict, methods: list[str]) -> str:
    """The results file as markdown: one table per pair, ours beside the paper's, with times and a ranking note."""
    settings = results["settings"]
    dataset = settings["dataset"]
    pairs = sorted({key.split("/")[1] for key in results["cells"] if key.startswith(f"{dataset}/")})
    transfer = (f"a stratified subset of {settings['train_limit']:,} training images"
                if settings["train_limit"] else "all 60,000 training images")
    teacher_set = (f"{settings['teacher_train_limit']:,}" if settings.get("teacher_train_limit") else "all 60,000")
    seeds = sorted({int(key.rsplit("seed", 1)[1]) for key in results["cells"]
                    if "/seed" in key and "/teacher/" not in key})
    lines = [
        f"# Feature-distillation methods on {dataset}",
        "",
        f"Test accuracy (%, mean ± std over seeds {seeds}; last epoch, {settings['test_limit'] or 10000:,} test "
        "images). "
        f"Students: {settings['epochs']} epochs on {transfer} (the transfer set). Teacher: one per pair, trained "
        f"{settings['teacher_epochs']} epochs on {teacher_set} training images (a superset of the transfer set), "
        "shared by all seeds. SGD momentum 0.9, "
        f"lr {settings['lr']} cosine, batch {settings['batch_size']}, weight decay {settings['weight_decay']}. "
        "The teacher's logits and stage outputs over the transfer set are cached once (no augmentation, so one view) "
        "and served to every method. **paper** = CIFAR-100 top-1 % (RepDistiller/CRD, DKD from mdistiller; 240 "
        "epochs, teacher and student on the same full data, single runs) - a different dataset and regime: compare "
        "orderings, not values.",
        "",
        timing_note(results, dataset, pairs),
        "",
    ]
    for pair in pairs:
        timed = f"{dataset}/{pair}/timing" in results["cells"]
        lines += [f"## {pair.replace('-', ' → ')}", "",
                  "| method | ours | paper | " + ("time × live | time × cached | " if timed else "") + "extra params |",
                  "|---|---|---|" + ("---|---|" if timed else "") + "---|"]
        published = dict(zip(PUBLISHED_COLUMNS, PUBLISHED.get(pair, [])))
        for column in ["teacher", *methods]:
            accuracies, extra = summarise(results, dataset, pair, column)
            if not accuracies:
                continue
            paper = f"{published[column]:.2f}" if column in published else "-"
            live, cached = (time_ratio(results, dataset, pair, column, kind) if column != "teacher" else "-"
                            for kind in ("live", "cached"))
            n = f" (n={len(accuracies)})" if column != "teacher" and len(accuracies) != len(seeds) else ""
            times = f"{live} | {cached} | " if timed else ""
            lines.append(f"| {column} | {format_mean_std(accuracies, 2)}{n} | {paper} | {times}{extra or 0:,} |")
        cache = results["cells"].get(f"{dataset}/{pair}/cache")
        if cache:
            lines += ["", f"Teacher cache: layers {', '.join(cache['layers'])}; "
                          f"{cache['bytes_per_sample'] / 1024:.1f} KiB per sample; built in {cache['build_seconds']:.0f} s."]
        if not timed and any(key.endswith("/timing") for key in results["cells"]):
            lines += ["", f"No time columns: this pair is not yet timed in turns. {UNTIMED}"]
        lines += ["", ranking_note(results, dataset, pair, published, methods), ""]
    return "\n".join(lines) + "\n"


def ranking_note(results: dict, dataset: str, pair: str, published: dict[str, float], methods: list[str]) -> str:
    """Orders of the distillation methods, ours vs the paper's, and their Spearman rank correlation."""
    ours = {}
    for column in methods:
        accuracies, _ = summarise(results, dataset, pair, column)
        if accuracies and column in published:
            ours[column] = statistics.mean(accuracies)
    if len(ours) < 3:
        return "_Too few finished methods to compare rankings._"
    our_order = sorted(ours, key=ours.get, reverse=True)
    paper_order = sorted(ours, key=published.get, reverse=True)
    n = len(ours)
    rank_sum = sum((our_order.index(m) - paper_order.index(m)) ** 2 for m in ours)
    spearman = 1 - 6 * rank_sum / (n * (n * n - 1))
    return (f"Ranking, ours: {' > '.join(our_order)}. Paper: {' > '.join(paper_order)}. "
            f"Spearman ρ = {spearman:.2f}.")
