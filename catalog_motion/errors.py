"""Exception types shared by every stage.

The split matters to orchestration: a ``PermanentError`` (bad photo, invalid preset, missing weights)
is recorded as the item's outcome and never retried; a ``TransientError`` (network, storage 5xx,
CUDA out-of-memory) is retried with backoff before it becomes an outcome.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager


class CatalogMotionError(Exception):
    """Base class: the message is one clear line meant for an operator."""


class ConfigError(CatalogMotionError):
    """A preset or run configuration is invalid. The message names the offending field."""


class PermanentError(CatalogMotionError):
    """Retrying cannot help (bad input, unsupported parameter, missing weights)."""


class TransientError(CatalogMotionError):
    """Retrying may help (network, storage throttling, GPU memory pressure)."""


class IntakeError(PermanentError):
    """A catalog row or its photo was refused at intake; ``reason`` is recorded as the row outcome."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class EngineError(PermanentError):
    """An engine cannot run as configured (names the engine, what is missing, how to fix it)."""


# The machine, not the input: a full or read-only work folder, no file handles, no memory.
ENVIRONMENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EMFILE, errno.ENFILE, errno.ENOMEM}
)


def is_environment_error(exc: BaseException) -> bool:
    """True when `exc` is an OSError caused by this machine's state (disk full, ...), not by the input:
    the item then ends `failed` (a later run redoes it), never `invalid`."""
    return isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS


class StepError(CatalogMotionError):
    """A step of a run failed on something no stage turned into an error of its own; the message says
    which step, on what (file, folder or URI) and why, in words."""


def describe_exception(exc: BaseException) -> str:
    """What went wrong, in words: an OSError's reason and file, otherwise the message. The class name
    appears only when there is no message at all (it is all there is to say)."""
    if isinstance(exc, OSError) and exc.strerror:
        name = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror.lower()}{name}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


@contextmanager
def run_step(what: str, where: str) -> Iterator[None]:
    """Name a run step for its failures: an exception that is not already a CatalogMotionError leaves as
    a StepError "<what> <where> failed: <reason>" (the original stays chained, for --debug)."""
    try:
        yield
    except CatalogMotionError:
        raise
    except Exception as exc:
        reason = describe_exception(exc).replace(f" ({where})", "")  # the path is said once
        raise StepError(f"{what} {where} failed: {reason}") from exc
