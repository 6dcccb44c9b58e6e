"""Which OS errors are the machine's fault (the item ends `failed` and is redone) rather than the input's."""

from __future__ import annotations

import errno

import pytest

from catalog_motion.errors import IntakeError, is_environment_error


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EMFILE])
def test_machine_state_errors(code):
    assert is_environment_error(OSError(code, "x"))


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ENOENT, "missing"),
        OSError("no errno"),
        ValueError("bad"),
        IntakeError("photo could not be decoded"),
    ],
)
def test_input_errors_are_not_the_machine(exc):
    assert not is_environment_error(exc)


def test_full_disk_while_writing_a_file_is_recognised(tmp_path):
    with pytest.raises(OSError) as caught, open("/dev/full", "wb") as handle:  # a device that is always full
        handle.write(b"x" * 1024)
        handle.flush()
    assert is_environment_error(caught.value)
