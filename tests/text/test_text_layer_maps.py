"""Layer maps (uniform / last / explicit pairs) and which teacher layers a smaller student is started from."""

import pytest

from kdistill.errors import ConfigError
from kdistill.features.layer_maps import layer_map
from kdistill.features.matching import uniform_indices
from kdistill.models.hf_student import kept_layers


@pytest.mark.parametrize("student, teacher, expected", [
    (4, 6, [(1, 2), (2, 3), (3, 5), (4, 6)]),  # TinyBERT's g(m) = m * N / M, rounded half up
    (2, 6, [(1, 3), (2, 6)]),
    (3, 6, [(1, 2), (2, 4), (3, 6)]),
    (6, 6, [(i, i) for i in range(1, 7)]),
    (4, 12, [(1, 3), (2, 6), (3, 9), (4, 12)]),
])
def test_uniform_map_spreads_student_layers_over_the_teacher_last_onto_last(student, teacher, expected):
    assert layer_map("uniform", student, teacher) == expected
    # the same rule the vision feature methods use for their stages
    assert [t - 1 for _, t in expected] == uniform_indices(student, teacher)


def test_last_and_explicit_maps():
    assert layer_map("last", 4, 6) == [(4, 6)]
    assert layer_map([[1, 1], [2, 6]], 2, 6) == [(1, 1), (2, 6)]


@pytest.mark.parametrize("spec", ["middle", [], [[0, 1]], [[1, 7]], [["a", "b"]], [[1, 2, 3]], [[True, 1]]])
def test_bad_maps_are_one_line_config_errors(spec):
    with pytest.raises(ConfigError) as error:
        layer_map(spec, 2, 6)
    assert "\n" not in str(error.value)


def test_kept_layers_default_to_the_uniform_pick_and_check_explicit_ones():
    assert kept_layers(4, 6) == [1, 2, 4, 5]
    assert kept_layers(3, 6, [0, 2, 4]) == [0, 2, 4]  # DistilBERT: every other layer
    with pytest.raises(ConfigError):
        kept_layers(3, 6, [0, 2])
    with pytest.raises(ConfigError):
        kept_layers(2, 6, [0, 6])
