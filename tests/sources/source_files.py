"""Writers of real-format files (PNG folders, Python 2 CIFAR pickles) for the source tests.

A module of its own, not conftest: `from conftest import` resolves to whichever conftest was imported first.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


def per_class(labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of the first ``count`` samples of every class, in class order."""
    return np.concatenate([np.flatnonzero(labels == label)[:count] for label in range(int(labels.max()) + 1)])


def folder_name(class_name: str) -> str:
    return class_name.replace("/", "-")  # "T-shirt/top" cannot be a folder name


def write_pngs(folder: Path, images: np.ndarray, labels: np.ndarray, class_names: list[str],
               ids: np.ndarray | None = None) -> None:
    """One PNG per image under ``folder/<class>/<id>.png`` (id = position in the original array)."""
    from PIL import Image

    ids = np.arange(len(images)) if ids is None else ids
    for image, label, image_id in zip(images, labels, ids):
        target = folder / folder_name(class_names[int(label)])
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(target / f"{int(image_id):05d}.png")


def write_py2_pickle(path: Path, obj: object) -> None:
    """Pickle ``obj`` as Python 2's cPickle (protocol 2) did: byte strings as (SHORT_)BINSTRING, numpy under
    ``numpy.core.multiarray``. This is the real CIFAR "python version" format; pass bytes where Python 2 had str."""

    class Py2Pickler(pickle._Pickler):  # the pure-Python pickler lets us change how one type is written
        dispatch = pickle._Pickler.dispatch.copy()

        def save_py2_str(self, value: bytes) -> None:
            if len(value) < 256:
                self.write(pickle.SHORT_BINSTRING + bytes([len(value)]) + value)
            else:
                self.write(pickle.BINSTRING + struct.pack("<i", len(value)) + value)
            self.memoize(value)

        dispatch[bytes] = save_py2_str

        def save_global(self, value, name=None):
            module = getattr(value, "__module__", "")
            if module.startswith("numpy._core"):  # Python 2 era numpy had numpy.core
                self.write(pickle.GLOBAL + f"numpy.core{module[len('numpy._core'):]}\n{value.__name__}\n".encode())
                self.memoize(value)
                return
            super().save_global(value, name)

    with open(path, "wb") as handle:
        Py2Pickler(handle, protocol=2).dump(obj)


def cifar_rows(images_chw: np.ndarray) -> np.ndarray:
    """uint8 (N, 3, 32, 32) -> CIFAR rows (N, 3072): the R plane, then G, then B, each row-major."""
    return np.ascontiguousarray(images_chw.reshape(len(images_chw), 3072))


def fashion_as_cifar(images: np.ndarray) -> np.ndarray:
    """Real 28x28 images padded to 32x32 and given three different channels: (N, 3, 32, 32) uint8."""
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    return np.stack([padded, 255 - padded, padded // 2], axis=1).astype(np.uint8)


def write_cifar10(folder: Path, images: np.ndarray, labels: np.ndarray, class_names: list[str],
                  batch_size: int) -> np.ndarray:
    """Write data_batch_1..5 (``batch_size`` images each) + test_batch (the rest) + batches.meta. Returns the
    (N, 3, 32, 32) images in file order."""
    folder.mkdir(parents=True, exist_ok=True)
    chw = fashion_as_cifar(images)
    for number in range(6):
        part = slice(number * batch_size, (number + 1) * batch_size if number < 5 else len(images))
        name = f"data_batch_{number + 1}" if number < 5 else "test_batch"
        write_py2_pickle(folder / name, {b"batch_label": f"batch {number}".encode(), b"data": cifar_rows(chw[part]),
                                         b"labels": [int(v) for v in labels[part]],
                                         b"filenames": [f"{i}.png".encode() for i in range(len(chw[part]))]})
    write_py2_pickle(folder / "batches.meta", {b"label_names": [name.encode() for name in class_names],
                                               b"num_cases_per_batch": batch_size, b"num_vis": 3072})
    return chw


def write_text_csv(path, texts, labels):
    """A CSV corpus for the text source: columns text, label."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels))
    return path


def write_word_tokenizer(root, words):
    """A tiny WordPiece tokenizer folder (tokenizer.json): [PAD] 0, [CLS] 1, [SEP] 2, [MASK] 3, [UNK] 4, then words."""
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
