"""Console logging for kdistill's progress lines (one per epoch, one per evaluated model).

The CLI configures the root logger; the Python API (``kdistill.fit`` / ``distill``) calls :func:`progress_logging`, so
a script that never configured logging still sees its epochs, and one that did keeps full control.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

LOG_FORMAT = "%(asctime)s %(message)s"
LOG_DATE_FORMAT = "%H:%M:%S"

log = logging.getLogger("kdistill")


@contextmanager
def progress_logging(verbose: bool = True) -> Iterator[None]:
    """For the block: INFO lines of the "kdistill" logger reach stderr, or (``verbose=False``) only warnings do.

    A handler is added only when logging is unconfigured (no handler on the "kdistill" logger, its ancestors or the
    root), so no line is printed twice; it is removed again afterwards, so a later ``logging.basicConfig`` does not
    double it either. Standard logging config also silences it: ``logging.getLogger("kdistill").setLevel("WARNING")``.
    """
    previous_level = log.level
    handler = None
    if not verbose:
        log.setLevel(logging.WARNING)
    elif not log.hasHandlers():  # also counts the root's handlers
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT, LOG_DATE_FORMAT))
        log.addHandler(handler)
        if log.level == logging.NOTSET:  # an explicit level the user chose stays
            log.setLevel(logging.INFO)
    try:
        yield
    finally:
        if handler is not None:
            log.removeHandler(handler)
        log.setLevel(previous_level)

