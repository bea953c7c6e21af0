"""Latency the budget search trusts: CPU time of interleaved calls; a boosting student whose time is its trees'."""

import time

import numpy as np

from kdistill.tabular import DistilledClassifier
from kdistill.tabular.codes import CategoryCodeEncoder
from kdistill.tabular.selection import interleaved_latency


def spin(cpu_seconds: float) -> None:
    started = time.process_time()
    while time.process_time() - started < cpu_seconds:
        pass


def test_latency_counts_cpu_time_not_waiting():
    """A call that waits 50 ms costs (almost) no CPU; one that computes for 5 ms costs 5 ms - whatever the load.

    Wall-clock timing (what the search used) ranked the waiting call slower: on a shared machine it charged a
    student for its neighbours' work.
    """
    batch = list(range(1000))
    latencies = interleaved_latency({"waits": lambda rows: time.sleep(0.05), "computes": lambda rows: spin(0.005)},
                                    batch, repeats=3)
    assert latencies["computes"]["latency_ms_per_1k"] >= 5.0
    assert latencies["waits"]["latency_ms_per_1k"] < latencies["computes"]["latency_ms_per_1k"]


def test_calls_take_turns_in_a_rotating_order():
    calls = []
    interleaved_latency({name: (lambda rows, name=name: calls.append(name)) for name in "abc"}, [0], repeats=2)
    assert calls == list("abcbcacab")  # warm-up round, then two counted rounds, each starting one further on


def test_budget_search_times_every_candidate_and_the_teacher(table):
    X, y = table
    model = DistilledClassifier(teacher="random_forest", student="tree", augmentation=None, max_latency_ms=1e6,
                                random_state=0).fit(X, y)
    assert all(row["latency_ms_per_1k_q25"] <= row["latency_ms_per_1k"] <= row["latency_ms_per_1k_q75"]
               for row in model.candidates_)
    assert model.teacher_validation_["latency_ms_per_1k"] > 0


def test_boosting_student_reads_ordered_codes_without_a_categorical_preprocessor(table):
    """Ordinal codes flagged as categorical ran two ColumnTransformers per call (kdistill's and HistGradientBoosting's
    own): most of the boosting student's prediction time on adult."""
    X, y = table
    model = DistilledClassifier(teacher="random_forest", student="boosting", student_params={"max_iter": 20},
                                augmentation="noise", augmentation_multiplier=1.0, random_state=0).fit(X, y)
    assert isinstance(model.encoder_, CategoryCodeEncoder)
    assert getattr(model.student_.model_, "_preprocessor", None) is None
    probabilities = model.predict_proba(X)
    assert probabilities.shape == (len(X), 2) and np.allclose(probabilities.sum(axis=1), 1.0)
