"""A restricted unpickler for CIFAR's python-version batch files.

A pickle reaches code only through ``find_class``; this one resolves exactly the globals a CIFAR batch names and
refuses every other. The batches were written by Python 2's cPickle (protocol 2): a dict of str keys, lists of ints
and str, and numpy arrays rebuilt by ``numpy.core.multiarray._reconstruct`` + ``numpy.ndarray`` + ``numpy.dtype``.
Re-saved copies from Python 3 may name ``numpy._core`` (numpy >= 2) and ``_codecs.encode`` (bytes under protocol 2).
The list is kept here, not shared, so widening another loader's list never widens this one.
"""

from __future__ import annotations

import _codecs
from typing import Any

import numpy as np

from kdistill.data.unpickle import load_allowed

try:  # numpy >= 2 moved the implementation; CIFAR's pickles still name numpy.core
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]

# Exact (module, name) -> object: nothing is imported by name, so a pickle cannot redirect a lookup.
CIFAR_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _codecs.encode,
}


def load_cifar_pickle(data: bytes) -> Any:
    """Unpickle a CIFAR batch resolving only :data:`CIFAR_GLOBALS`; ``latin1`` turns Python 2 ``str`` (array buffers
    included) into what numpy expects."""
    return load_allowed(data, CIFAR_GLOBALS, "CIFAR batches hold only numpy arrays, lists and strings",
                        encoding="latin1")
