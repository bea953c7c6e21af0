"""Errors a user can act on.

Every error kdistill raises on bad input is a ``KdistillError`` whose message is one line that names the problem and
the fix. The CLI prints that line (no traceback) and exits with status 2.
"""


class KdistillError(Exception):
    """Base class: the message says what went wrong and what to do about it."""


class ConfigError(KdistillError):
    """A recipe, override or argument is invalid (unknown key, wrong type, unknown name)."""


class DataError(KdistillError):
    """A dataset is missing, corrupt, or does not match its pinned checksum."""


class CheckpointError(KdistillError):
    """A checkpoint or cache file is missing, truncated or does not match the model."""


class ShapeError(KdistillError):
    """Tensors do not have the shapes a loss or model expects (e.g. teacher/student class mismatch)."""


class NonFiniteLossError(KdistillError):
    """The training loss became NaN or infinite."""
