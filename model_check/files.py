"""Output files: checked before the search, written atomically after it.

A gate must not leave half a report behind: every output path is checked before the
(possibly long) search starts, and each file is written to a temporary file in the same
directory and then renamed over the target (``os.replace`` is atomic on POSIX and Windows),
so a reader sees the old file or the whole new one, never a truncated one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .spec import ModelCheckError


class OutputFileError(ModelCheckError):
    """An output path cannot be written; the message names the flag and the file."""


def check_output_paths(paths: Mapping[str, str]) -> None:
    """Raise :class:`OutputFileError` unless every ``flag -> path`` can be written.

    A path must not be a directory, its parent directory must exist and be writable, an
    existing file must be writable, and no two flags may name the same file.

    >>> check_output_paths({"--junit": "/no/such/dir/report.xml"})
    Traceback (most recent call last):
    ...
    model_check.files.OutputFileError: --junit /no/such/dir/report.xml: directory /no/such/dir does not exist
    """
    seen: dict[str, str] = {}
    for flag, path in paths.items():
        if not path:
            raise OutputFileError(f"{flag}: the file name is empty")
        full = os.path.realpath(path)
        if full in seen:
            raise OutputFileError(f"{flag} {path}: the same file is already the output of {seen[full]}")
        seen[full] = flag
        if os.path.isdir(path):
            raise OutputFileError(f"{flag} {path}: is a directory, not a file")
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise OutputFileError(f"{flag} {path}: directory {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputFileError(f"{flag} {path}: directory {parent} is not writable")
        if os.path.exists(path) and not os.access(path, os.W_OK):
            raise OutputFileError(f"{flag} {path}: the file exists and is not writable")


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same directory.

    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> write_atomic(str(target), "hello\\n"); target.read_text()
    'hello\\n'
    """
    directory = os.path.dirname(os.path.abspath(path))
    import tempfile  # only when a file is written

    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
