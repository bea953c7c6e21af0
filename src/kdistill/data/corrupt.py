"""Turn the many ways a damaged file fails to parse into one ``DataError`` line naming the file and the fix.

A truncated zip raises ``BadZipFile``, a truncated gzip ``EOFError``, a cut pickle ``UnpicklingError``, a short
header ``ValueError`` from numpy... Each reader of a data file wraps its parsing in :func:`corrupt_file_errors` so the
user sees which file is bad and what rebuilds it, never a traceback from deep inside the standard library.
"""

from __future__ import annotations

import contextlib
import pickle
import tarfile
import zipfile
import zlib
from collections.abc import Iterator

from kdistill.errors import DataError

# What parsing a damaged zip/npz, gzip, tar, pickle or raw buffer raises. OSError covers BadGzipFile and unreadable
# files; ValueError covers numpy's header and buffer-size checks; KeyError a zip without the expected member.
CORRUPT_FILE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error, tarfile.TarError, pickle.UnpicklingError,
)  # fmt: skip


def one_line(error: BaseException) -> str:
    """``Type: message`` on one line (some parsers put newlines or nothing at all in their messages)."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@contextlib.contextmanager
def corrupt_file_errors(what: str, fix: str) -> Iterator[None]:
    """Re-raise parse errors inside the block as ``DataError("<what> is unreadable (<error>); <fix>")``.

    ``what`` names the file (``"cache /path/mnist.npz"``); ``fix`` is the command or step that repairs it. DataErrors
    raised inside pass through untouched: they already name their own fix.
    """
    try:
        yield
    except DataError:
        raise
    except CORRUPT_FILE_ERRORS as error:
        raise DataError(f"{what} is corrupt or unreadable ({one_line(error)}); {fix}") from error
