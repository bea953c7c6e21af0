"""teacher="auto": each candidate teacher fitted on the fitting rows, the best validation score kept."""

import pytest

import kdistill.tabular.teacher_choice as teacher_choice
from kdistill.errors import ConfigError
from kdistill.tabular import TEACHERS, DistilledClassifier, DistilledRegressor
from tests.tabular.conftest import mixed_table

FAST = dict(augmentation="noise", augmentation_multiplier=1.0, random_state=0)


@pytest.fixture
def two_candidates(monkeypatch):
    """Two cheap candidates instead of LightGBM and the stack (the choice logic is the same)."""
    monkeypatch.setattr(teacher_choice, "CANDIDATES", ("random_forest", "gradient_boosting"))


def test_auto_keeps_the_candidate_with_the_best_validation_score(two_candidates):
    X, y = mixed_table(400)
    model = DistilledClassifier(teacher="auto", student="tree", **FAST).fit(X, y)
    rows = model.teacher_candidates_
    assert [row["teacher"] for row in rows] == ["random_forest", "gradient_boosting"]
    kept = next(row for row in rows if row["chosen"])
    assert kept["score"] == max(row["score"] for row in rows) and kept["metric"] == "auc"
    kept_model = {"random_forest": "RandomForestClassifier", "gradient_boosting": "HistGradientBoostingClassifier"}
    assert type(model.teacher_.steps[-1][1]).__name__ == kept_model[kept["teacher"]]  # refit kept its family
    assert model.refit_["teacher"] == "refit"


def test_auto_skips_a_candidate_that_cannot_be_built(monkeypatch):
    build = TEACHERS.build

    def no_lightgbm(name, **kwargs):
        if name == "lightgbm":
            raise ConfigError("teacher 'lightgbm' needs LightGBM: pip install 'kdistill[tabular]'")
        return build(name, **kwargs)

    monkeypatch.setattr(teacher_choice.TEACHERS, "build", no_lightgbm)
    X, _ = mixed_table(300)
    y = X["age"].to_numpy() * 2.0
    model = DistilledRegressor(teacher="auto", student="tree", **FAST).fit(X, y)
    assert [row["teacher"] for row in model.teacher_candidates_] == ["stack"]


def test_auto_needs_validation_rows():
    X, y = mixed_table()
    with pytest.raises(ConfigError, match="teacher='auto' chooses a teacher on validation rows"):
        DistilledClassifier(teacher="auto", validation_size=0.0, **FAST).fit(X, y)


def test_a_named_teacher_has_no_candidates():
    X, y = mixed_table()
    model = DistilledClassifier(teacher="random_forest", student="tree", **FAST).fit(X, y)
    assert model.teacher_candidates_ is None
