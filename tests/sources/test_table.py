import numpy as np
import pandas as pd
import pytest
import torch

from kdistill.errors import ConfigError, DataError
from kdistill.sources import open_source


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "age": rng.integers(18, 90, 60),
        "hours": rng.random(60) * 60,
        "married": rng.random(60) > 0.5,
        "income": np.array(["<=50K", ">50K", "unknown"])[np.arange(60) % 3],
    })


@pytest.mark.parametrize("name", ["t.csv", "t.parquet", "t.parquet.brotli"])
def test_reads_csv_and_parquet(tmp_path, frame, name):
    path = tmp_path / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, compression="brotli" if name.endswith("brotli") else "snappy")
    source = open_source("table", {"path": str(path), "target": "income", "test_fraction": 0.25})
    info = source.info
    assert info.class_names == ("<=50K", ">50K", "unknown") and info.input_shape == (3,)
    assert source.feature_names == ["age", "hours", "married"]
    train, test = source.open("train"), source.open("test")
    assert (len(train), len(test)) == (45, 15) and torch.equal(torch.bincount(test.labels), torch.tensor([5, 5, 5]))
    rows = np.concatenate([np.flatnonzero(frame["income"] == c) for c in info.class_names])
    sample = train[0]
    assert sample["inputs"].dtype == torch.float32 and sample["inputs"].shape == (3,)
    matches = [row for row in rows
               if np.allclose(frame.loc[row, ["age", "hours", "married"]].to_numpy(float), sample["inputs"].numpy())]
    assert len(matches) == 1 and info.class_names[int(sample["labels"])] == frame.loc[matches[0], "income"]


def test_feature_subset_and_integer_target(tmp_path, frame):
    frame.assign(income=np.arange(60) % 2).to_csv(tmp_path / "t.csv", index=False)
    source = open_source("table", {"path": str(tmp_path / "t.csv"), "target": "income", "features": ["hours"]})
    assert source.info.class_names == ("0", "1") and source.info.input_shape == (1,)


def test_missing_column_is_named_with_the_columns(tmp_path, frame):
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"column 'salary' is not in .*t.csv; columns: age, hours, married, income$"):
        _ = open_source("table", {"path": str(tmp_path / "t.csv"), "target": "salary"}).info
    with pytest.raises(DataError, match="column 'weight' is not in"):
        _ = open_source("table", {"path": str(tmp_path / "t.csv"), "target": "income",
                                  "features": ["age", "weight"]}).info


def test_non_numeric_feature_suggests_tabular_or_dropping(tmp_path, frame):
    frame.assign(job=["clerk", "chef"] * 30).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"feature column 'job' .* is not numeric .*drop it from features.*tabular"):
        _ = open_source("table", {"path": str(tmp_path / "t.csv"), "target": "income"}).info


def test_other_errors(tmp_path, frame):
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ConfigError, match="also listed in features"):
        _ = open_source("table", {"path": str(tmp_path / "t.csv"), "target": "income", "features": ["income"]}).info
    with pytest.raises(DataError, match="does not exist"):
        _ = open_source("table", {"path": str(tmp_path / "none.csv"), "target": "income"}).info
    (tmp_path / "t.xlsx").write_bytes(b"")
    with pytest.raises(DataError, match="name it .csv or .parquet"):
        _ = open_source("table", {"path": str(tmp_path / "t.xlsx"), "target": "income"}).info
    frame.assign(age=frame["age"].astype(float).where(frame.index != 3)).to_csv(tmp_path / "gap.csv", index=False)
    with pytest.raises(DataError, match="feature column 'age' .* has 1 missing values"):
        _ = open_source("table", {"path": str(tmp_path / "gap.csv"), "target": "income"}).info
    frame.assign(income=frame["hours"]).to_csv(tmp_path / "reg.csv", index=False)
    with pytest.raises(DataError, match="non-integer numbers; this source is for class labels"):
        _ = open_source("table", {"path": str(tmp_path / "reg.csv"), "target": "income", "features": ["age"]}).info
