"""Markdown tables for benchmarks/strategies.py: ours (mean ± std over seeds) beside the published figures."""

from __future__ import annotations

import statistics
from typing import Any

from common import describe_provenance, format_mean_std

# Published figures (see /work/shared/PAPERS.md). Settings differ from ours: each table says how.
PAPER = {
    "ensemble": {"single": 58.9, "ensemble": 61.1, "distilled": 60.8},  # speech frame accuracy %, 10 members
    "dml": [  # CIFAR-100 top-1 %: net 1, net 2, alone 1, alone 2, net 2 distilled from net 1, DML 1, DML 2
        ("WRN-28-10", "ResNet-32", 78.69, 68.99, 69.48, 78.96, 70.73),
        ("MobileNet", "ResNet-32", 73.65, 68.99, 69.12, 76.13, 71.10),
    ],
    "omitted-class": {"class_before": 86.8, "class_after": 98.6, "errors_before": 206, "errors_after": 109,
                      "bias": 3.5},
    "limited-data": {"hard": 44.5, "soft": 57.0, "full": 58.9},  # speech frame accuracy %
}


def pct(values: list[float]) -> str:
    return format_mean_std([100 * v for v in values], 2)


def cells_of(results: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [cell for cell in results["cells"].values() if cell["experiment"] == name]


def column(cells: list[dict[str, Any]], key: str, index: int | None = None) -> list[float]:
    return [cell[key] if index is None else cell[key][index] for cell in cells]


def ensemble_section(cells: list[dict[str, Any]]) -> list[str]:
    return ensemble_table(cells, "## 1. Teacher ensemble -> one student (Hinton et al. 2015, speech)",
                          f"Ours: {cells[0]['members']} MLPs 784-800-800 on {cells[0]['dataset']} (different seeds), "
                          f"{cells[0]['train_size']:,} training images, {cells[0]['epochs']} epochs each; ensemble = "
                          "mean of probabilities, student of the same architecture distilled at T = 4 on the same "
                          "schedule. Paper: 10 speech DNNs, frame accuracy.")


def ensemble_converged_section(cells: list[dict[str, Any]]) -> list[str]:
    return ensemble_table(cells, "## 1'. Teacher ensemble, members that fit their training set",
                          f"As 1, but {cells[0]['train_size']:,} training images and {cells[0]['epochs']} epochs, so "
                          "each member (and the student) can fit its training set (the last row says how well), the "
                          "regime of the paper's large nets, where an ensemble's gain comes from members that overfit "
                          "differently.")


def ensemble_consistent_section(cells: list[dict[str, Any]]) -> list[str]:
    return ensemble_table(cells, "## 1''. Teacher ensemble, taught consistently",
                          f"As 1, but every member trains for {cells[0]['epochs']} epochs on images shifted at random "
                          "by up to 1 pixel, and the student is distilled on shifted views too, the ensemble labelling "
                          "the very view the student sees (Beyer et al. 2022's consistent teaching), on the members' "
                          f"schedule ({cells[0]['distill_epochs']} epochs): the transfer set then probes the ensemble "
                          "off its training points.")


def ensemble_table(cells: list[dict[str, Any]], title: str, description: str) -> list[str]:
    paper = PAPER["ensemble"]
    paper_recovered = 100 * (paper["distilled"] - paper["single"]) / (paper["ensemble"] - paper["single"])
    recovered = [100 * c["gain_recovered"] for c in cells if c["gain_recovered"] == c["gain_recovered"]]
    return [
        title,
        "",
        description,
        "",
        "| model | ours: test accuracy % | paper: frame accuracy % |",
        "|---|---:|---:|",
        f"| single model (mean of members) | {pct(column(cells, 'single_mean_accuracy'))} | {paper['single']} |",
        f"| ensemble | {pct(column(cells, 'ensemble_accuracy'))} | {paper['ensemble']} |",
        f"| distilled single model | {pct(column(cells, 'distilled_accuracy'))} | {paper['distilled']} |",
        f"| share of the ensemble's gain recovered | {format_mean_std(recovered, 0)}% | {paper_recovered:.0f}% |",
    ] + ([f"| control: the student trained from labels alone on its schedule | "
          f"{pct(column(cells, 'student_alone_accuracy'))} | - |"]
         if all("student_alone_accuracy" in c for c in cells) else []) + ([f"| members' accuracy on their training set | "
          f"{pct([statistics.fmean(c['member_train_accuracy']) for c in cells])} | - |"]
         if all("member_train_accuracy" in c for c in cells) else [])


def dml_section(cells: list[dict[str, Any]]) -> list[str]:
    return dml_table(cells, "## 2. Deep Mutual Learning (Zhang et al. 2018, Table 1 form)",
                     f"Ours: {cells[0]['dataset']}, {cells[0]['train_size']:,} training images, {cells[0]['epochs']} "
                     "epochs, test accuracy %; both nets start from the same initial weights alone and in DML. "
                     "Paper: CIFAR-100 top-1 %.")


def dml_converged_section(cells: list[dict[str, Any]]) -> list[str]:
    return dml_table(cells, "## 2'. Deep Mutual Learning, networks that overfit",
                     f"As 2, but two MLPs on {cells[0]['train_size']:,} training images for {cells[0]['epochs']} "
                     "epochs: networks that fit their training set, where the paper's explanation of DML's gain (the "
                     "peers' posteriors as a regulariser towards wider minima) has something to act on.")


def dml_table(cells: list[dict[str, Any]], title: str, description: str) -> list[str]:
    nets = cells[0]["networks"]
    lines = [
        title,
        "",
        description,
        "",
        "| net 1 | net 2 | net 1 alone | net 2 alone | net 2 distilled from net 1 | DML net 1 | DML net 2 |",
        "|---|---|---:|---:|---:|---:|---:|",
        f"| {nets[0]} (ours) | {nets[1]} (ours) | {pct(column(cells, 'alone_accuracy', 0))} | "
        f"{pct(column(cells, 'alone_accuracy', 1))} | {pct(column(cells, 'net2_distilled_from_net1_accuracy'))} | "
        f"{pct(column(cells, 'dml_accuracy', 0))} | {pct(column(cells, 'dml_accuracy', 1))} |",
    ]
    lines += [f"| {a} (paper) | {b} (paper) | {x} | {y} | {z} | {u} | {v} |" for a, b, x, y, z, u, v in PAPER["dml"]]
    if all("alone_train_accuracy" in cell for cell in cells):
        lines += ["", f"Training-set accuracy alone: net 1 {pct(column(cells, 'alone_train_accuracy', 0))}%, net 2 "
                      f"{pct(column(cells, 'alone_train_accuracy', 1))}%."]
    return lines


def ban_section(cells: list[dict[str, Any]]) -> list[str]:
    return ban_table(cells, "## 3a. Born-Again Networks (Furlanello et al. 2018)",
                     f"Ours: a small CNN on {cells[0]['dataset']}; generation 0 from labels, each later one from the "
                     "previous one's soft targets only (T = 1), as in the paper. No figure from the paper is in "
                     "PAPERS.md (its results are CIFAR-10/100 DenseNets and Wide-ResNets), so there is no published "
                     "column.")


def ban_labels_section(cells: list[dict[str, Any]]) -> list[str]:
    return ban_table(cells, "## 3a'. Born-again with the label term kept (ablation)",
                     "The same networks, data and schedule as 3a, but every generation after the first learns from "
                     "CE(labels) + KL(previous generation at T = 1), weights 1 and 1: does keeping the labels stop "
                     "the generations from inheriting their teacher's mistakes?")


def ban_converged_section(cells: list[dict[str, Any]]) -> list[str]:
    return ban_table(cells, "## 3a''. Born-again in the paper's regime: generations that fit their training set",
                     f"An MLP 784-800-800 on {cells[0]['train_size']:,} {cells[0]['dataset']} training images for "
                     f"{cells[0]['epochs']} epochs per generation, soft targets only at T = 1 as in 3a: each "
                     "generation can fit its training set (the training-set rows say how well), as the paper's CIFAR "
                     "networks do, so a teacher's soft targets carry dark knowledge rather than its own mistakes.")


def ban_table(cells: list[dict[str, Any]], title: str, description: str) -> list[str]:
    generations = len(cells[0]["generation_accuracy"])
    lines = [
        title,
        "",
        description,
        "",
        "| model | test accuracy % |",
        "|---|---:|",
    ]
    lines += [f"| generation {g}{' (teacher)' if g == 0 else ''} | {pct(column(cells, 'generation_accuracy', g))} |"
              for g in range(generations)]
    if all("generation_train_accuracy" in c for c in cells):
        lines += [f"| generation {g} on its training set | {pct(column(cells, 'generation_train_accuracy', g))} |"
                  for g in range(generations)]
    if "ban_ensemble_accuracy" in cells[0]:
        lines.append(f"| ensemble of generations 1-{generations - 1} | {pct(column(cells, 'ban_ensemble_accuracy'))} |")
    return lines


def byot_section(cells: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## 3b. Be Your Own Teacher (Zhang et al. 2019): every exit",
        "",
        f"Ours: a 3-stage CNN on {cells[0]['dataset']}; exits after stages 1 and 2 (bottleneck + linear), the "
        "network's "
        "own output is the deepest exit. FLOPs per sample include the exit's head. No figure from the paper is in "
        "PAPERS.md (it reports CIFAR-100 / ImageNet ResNets).",
        "",
        f"Network trained alone (CE only): {pct(column(cells, 'alone_accuracy'))}% test accuracy.",
        "",
        "| exit | layer | FLOPs per sample | test accuracy % |",
        "|---:|---|---:|---:|",
    ]
    for index, row in enumerate(cells[0]["exits"]):
        accuracy = [cell["exits"][index]["accuracy"] for cell in cells]
        lines.append(f"| {row['exit']} | {row['layer']} | {row['flops_per_sample'] / 1e6:.2f}M | {pct(accuracy)} |")
    return lines


def specialist_section(cells: list[dict[str, Any]]) -> list[str]:
    return [
        "## 4. Class-specialised student (Wang et al. 2022)",
        "",
        f"Ours: {cells[0]['dataset']}, classes {cells[0]['classes']}, a 784-64 MLP student with "
        f"{len(cells[0]['classes'])} outputs; accuracy on the test examples of those classes. No figure from the "
        "paper is in PAPERS.md.",
        "",
        "| model | test accuracy on the subset % |",
        "|---|---:|",
        f"| teacher, argmax over the subset | {pct(column(cells, 'teacher_subset_accuracy'))} |",
        f"| specialist from labels only | {pct(column(cells, 'labels_only_accuracy'))} |",
        f"| specialist distilled (subset-renormalised teacher) | {pct(column(cells, 'specialist_kd_accuracy'))} |",
    ]


def omitted_section(cells: list[dict[str, Any]]) -> list[str]:
    paper = PAPER["omitted-class"]
    omitted = cells[0]["omitted"]
    return [
        "## 5. Dark knowledge: a class omitted from the transfer set (Hinton et al. 2015)",
        "",
        f"Ours: MNIST, no {omitted} in the student's transfer or validation set (asserted on every batch); 784-800-800 "
        "student at T = 20. The fitted bias makes the class predicted on 1/C of the unlabelled validation inputs "
        "(no label of the class is read). Paper: same setting, its own (longer-trained) nets.",
        "",
        f"| student | ours: accuracy on test {omitted} % | ours: overall accuracy % | paper: on test 3s % | "
        "paper: overall errors / 10,000 |",
        "|---|---:|---:|---:|---:|",
        f"| no bias change | {pct(column(cells, 'student_class_accuracy'))} | {pct(column(cells, 'student_accuracy'))} "
        f"| {paper['class_before']} | {paper['errors_before']} |",
        f"| bias + {cells[0].get('given_bias', paper['bias'])} (given) | "
        f"{pct(column(cells, 'given_bias_class_accuracy'))} | {pct(column(cells, 'given_bias_accuracy'))} | "
        f"{paper['class_after']} | {paper['errors_after']} |",
        f"| bias + {format_mean_std(column(cells, 'fitted_bias'), 2)} (fitted) | "
        f"{pct(column(cells, 'fitted_bias_class_accuracy'))} | {pct(column(cells, 'fitted_bias_accuracy'))} | - | - |",
        f"| teacher (saw the class) | {pct(column(cells, 'teacher_class_accuracy'))} | - | - | 67 |",
    ]


def limited_section(cells: list[dict[str, Any]]) -> list[str]:
    paper = PAPER["limited-data"]
    return [
        "## 6. 3% of the training data (Hinton et al. 2015, Table 5)",
        "",
        f"Ours: MNIST, a stratified {100 * cells[0]['fraction']:.0f}% subset ({cells[0]['subset_size']} images), "
        "784-800-800 student, epoch chosen on the validation set (early stopping) for both. Soft targets from the "
        "MNIST teacher trained on all the data. Paper: speech, frame accuracy.",
        "",
        "| model | ours: test accuracy % | paper: frame accuracy % |",
        "|---|---:|---:|",
        f"| 3% data, hard labels | {pct(column(cells, 'hard_labels_accuracy'))} | {paper['hard']} |",
        f"| 3% data, soft targets | {pct(column(cells, 'soft_targets_accuracy'))} | {paper['soft']} |",
        f"| all data (teacher) | {pct(column(cells, 'teacher_accuracy'))} | {paper['full']} (baseline) |",
    ]


SECTIONS = {"ensemble": ensemble_section, "ensemble-converged": ensemble_converged_section,
            "ensemble-consistent": ensemble_consistent_section, "dml": dml_section,
            "dml-converged": dml_converged_section,
            "born-again": ban_section, "born-again-labels": ban_labels_section,
            "born-again-converged": ban_converged_section, "byot": byot_section,
            "specialist": specialist_section, "omitted-class": omitted_section, "limited-data": limited_section}


def shortfalls(results: dict[str, Any]) -> list[str]:
    """Plain statements where our numbers fall short of the paper's claims, with the likely reason."""
    notes = []
    ensemble = cells_of(results, "ensemble")
    if ensemble:
        recovered = statistics.fmean(c["gain_recovered"] for c in ensemble)
        if recovered < 0.86:
            notes.append(f"- Ensemble: the student recovers {100 * recovered:.0f}% of the ensemble's gain vs 86% in "
                         "the paper; we think: the ensemble's gain over one MLP is small on this task, so seed noise "
                         "weighs heavily, and the student is distilled for no more epochs than one member trains.")
    dml = cells_of(results, "dml")
    if dml:
        gains = [statistics.fmean(column(dml, "dml_accuracy", i)) - statistics.fmean(column(dml, "alone_accuracy", i))
                 for i in range(2)]
        if min(gains) <= 0:
            notes.append(f"- DML: gains of {100 * gains[0]:+.2f} / {100 * gains[1]:+.2f} points vs +0.27..+2.5 in "
                         "the paper; the paper's gains come from CIFAR-100, where 100 classes make the peers' "
                         "posteriors informative; on a 10-class task near saturation there is less to share.")
    notes += regime_notes(results)
    omitted = cells_of(results, "omitted-class")
    if omitted:
        after = statistics.fmean(column(omitted, "given_bias_class_accuracy"))
        if after < 0.986:
            notes.append(f"- Omitted class: {100 * after:.1f}% of the test 3s after the bias vs 98.6%; the paper's "
                         "teacher and student trained far longer, and the bias that suits our student differs "
                         "from 3.5 (see the fitted row).")
    limited = cells_of(results, "limited-data")
    if limited:
        gap = statistics.fmean(column(limited, "soft_targets_accuracy")) - statistics.fmean(
            column(limited, "hard_labels_accuracy"))
        notes.append(f"- Limited data: soft targets beat hard labels by {100 * gap:+.1f} points vs +12.5 in the "
                     f"paper (if smaller, we think: MNIST is far easier than frame classification, so 3% of it "
                     f"({limited[0]['subset_size']} images) already gives a good hard-label model and leaves less "
                     "for soft targets to add).")
    return notes


def mean_of(cells: list[dict[str, Any]], key: str, index: int | None = None) -> float:
    return statistics.fmean(column(cells, key, index))


def regime_notes(results: dict[str, Any]) -> list[str]:
    """Born-again, BYOT and the overfitting-regime variants: what they say about why soft targets did not help."""
    notes = []
    for name, label in (("born-again", "3a"), ("born-again-labels", "3a'"), ("born-again-converged", "3a''")):
        cells = cells_of(results, name)
        if cells:
            change = mean_of(cells, "generation_accuracy", 1) - mean_of(cells, "generation_accuracy", 0)
            fit = ""
            if all("generation_train_accuracy" in c for c in cells):
                fit = (f"; generation 0 fits {100 * mean_of(cells, 'generation_train_accuracy', 0):.1f}% of its "
                       f"training set, generation 1 {100 * mean_of(cells, 'generation_train_accuracy', 1):.1f}%")
            notes.append(f"- Born-again ({label}): generation 1 is {100 * change:+.2f} points from generation 0 "
                         f"(the paper's students beat their teachers){fit}.")
    if cells_of(results, "born-again"):
        notes.append("  We think: a soft-target-only student learns its teacher's function, mistakes included, and "
                     "with the teacher's own short schedule it fits that function less well than the teacher fits "
                     "the labels; the paper's teachers reach ~zero training error over hundreds of epochs, so their "
                     "soft targets carry dark knowledge rather than errors. Our overfitting-regime variant gets the "
                     "teachers closer to that (see its training-set rows) but not all the way.")
    byot = cells_of(results, "byot")
    if byot:
        deepest = statistics.fmean(c["exits"][-1]["accuracy"] for c in byot)
        alone = mean_of(byot, "alone_accuracy")
        if deepest <= alone:
            notes.append(f"- BYOT: the deepest exit trained with its shallow exits is {100 * (deepest - alone):+.2f} "
                         "points from the network trained alone (the paper reports gains on CIFAR-100 / ImageNet); "
                         "the shallow exits are still the useful part: cheaper exits at known accuracy.")
    consistent = cells_of(results, "ensemble-consistent")
    if consistent:
        single = mean_of(consistent, "single_mean_accuracy")
        gain = mean_of(consistent, "ensemble_accuracy") - single
        student = mean_of(consistent, "distilled_accuracy") - single
        notes.append(f"- Ensemble, consistent teaching (1''): the ensemble gains {100 * gain:+.2f} points over one "
                     f"member, the student distilled on jittered views {100 * student:+.2f}.")
    for name, label in (("ensemble-converged", "1'"), ("dml-converged", "2'")):
        cells = cells_of(results, name)
        if not cells:
            continue
        if name == "ensemble-converged":
            gain = mean_of(cells, "ensemble_accuracy") - mean_of(cells, "single_mean_accuracy")
            student = mean_of(cells, "distilled_accuracy") - mean_of(cells, "single_mean_accuracy")
            notes.append(f"- Ensemble, overfitting members ({label}): the ensemble gains {100 * gain:+.2f} points over "
                         f"one member and the distilled student {100 * student:+.2f}; we think members that differ only "
                         "in their seed make nearly the same mistakes here, so there is little for an ensemble to add.")
        else:
            gains = [mean_of(cells, "dml_accuracy", i) - mean_of(cells, "alone_accuracy", i) for i in range(2)]
            kd = mean_of(cells, "net2_distilled_from_net1_accuracy") - mean_of(cells, "alone_accuracy", 1)
            notes.append(f"- DML, overfitting networks ({label}): {100 * gains[0]:+.2f} / {100 * gains[1]:+.2f} points "
                         f"(net 2 distilled from net 1: {100 * kd:+.2f}); in this regime soft targets stop hurting but "
                         "do not yet help.")
    return notes


def render(results: dict[str, Any]) -> str:
    config = results.get("settings", {})
    seeds = sorted({cell["seed"] for cell in results["cells"].values()})
    lines = [
        "# Distillation strategies: the classic experiments",
        "",
        f"Produced by `python benchmarks/strategies.py`; settings {config}; seeds {seeds}; mean ± std over seeds. "
        "Accuracies on the full test sets (10,000 images) unless the settings say test_limit. Models and schedules: "
        "the shipped procedure specs (`kdistill procedure list`; e.g. `omitted-class-mnist`).",
    ]
    if config.get("smoke"):
        lines += ["", "**SMOKE RUN**: tiny data and 1 epoch; these numbers check the pipeline, they measure nothing."]
    for name, section in SECTIONS.items():
        cells = cells_of(results, name)
        if cells:
            lines += ["", *section(cells)]
            if len(cells) < len(seeds):  # a partial experiment says so under its table
                ran = sorted(cell["seed"] for cell in cells)
                lines += ["", f"Only seed(s) {ran} of {seeds} ran for this experiment; its figures are over those alone."]
    notes = shortfalls(results)
    if notes:
        lines += ["", "## Where we fall short of the papers, and why we think so", "",
                  "Generated from the numbers above; the reasons are our hypotheses, not measured.", "", *notes]
    if "estimated_full_seconds_per_seed" in results:
        hours = results["estimated_full_seconds_per_seed"] / 3600
        lines += ["", f"Estimated full run (extrapolated from this smoke run): {hours:.1f} h per seed on this machine."]
    lines += ["", describe_provenance(results)]
    return "\n".join(lines) + "\n"
