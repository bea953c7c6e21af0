"""Ratios of variants timed in turns: taken per turn, summarised by median and IQR, and below 1 flagged."""

import pytest

from kdistill.deploy.timing import interleaved_times, paired_ratio


def test_times_come_per_turn_in_turn_order():
    calls = []
    times = interleaved_times({name: (lambda name=name: calls.append(name)) for name in "ab"}, repeats=3, warmup=0)
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert {name: len(values) for name, values in times.items()} == {"a": 3, "b": 3}


def test_ratio_is_taken_within_each_turn():
    # turn 2 ran under load for both variants: a paired ratio is unmoved, a ratio of medians would not be
    method, student = [2.2, 22.0, 2.2, 2.4, 2.0], [2.0, 20.0, 2.0, 2.0, 2.0]
    ratio = paired_ratio(method, student)
    assert ratio["median"] == pytest.approx(1.1) and ratio["q1"] == pytest.approx(1.1)
    assert ratio["q3"] == pytest.approx(1.1) and ratio["max"] == pytest.approx(1.2) and ratio["min"] == 1.0
    assert ratio["repeats"] == 5 and ratio["below_one"] is False


def test_a_median_ratio_below_one_is_flagged():
    assert paired_ratio([0.9, 0.95, 1.2], [1.0, 1.0, 1.0])["below_one"] is True


def test_unpaired_series_are_refused():
    with pytest.raises(ValueError, match="two equally long series"):
        paired_ratio([1.0, 2.0], [1.0])
