"""The files the commands read and write.

Three promises, kept here once for every command: a missing or wrong input is named as what it
is (no such file, a directory, unreadable); an output never overwrites an input (the same file,
also through a symbolic or hard link) and a location that cannot be written is refused before
any work starts; outputs appear whole (written to a temporary name and renamed into place, a set
of files together) with the usual permissions (0666 less the umask, as ``open`` gives).
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable


class OutputError(ValueError):
    """An output that would overwrite an input or cannot be written; named before any work."""


def file_problem(path: str) -> str | None:
    """Why ``path`` cannot be read as a file ("no such file", "is a directory, not a file",
    ...), or None when it can."""
    if os.path.isdir(path):
        return "is a directory, not a file"
    if not os.path.exists(path):
        return "no such file"
    if not os.path.isfile(path):
        return "is not a regular file"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    return None


def same_file(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are one file: the same path, a symbolic link to it or a hard link."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist: they can still be one path, spelled two ways
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path: str, inputs: Iterable[tuple[str, str]] = (), option: str = "--out") -> None:
    """Refuse, before any work, to write the file ``path`` (given with ``option``) when it is one
    of ``inputs`` ((what, path) pairs, e.g. ("the data set", "x.npz")) or cannot be written."""
    for what, source in inputs:
        if source and same_file(path, source):
            raise OutputError(f"{option} {path} is {what} ({source}): refusing to overwrite an input; "
                              f"choose another {option}")
    if os.path.isdir(path):
        raise OutputError(f"{option} {path} is a directory; give the path of the file to write")
    _check_writable_folder(os.path.dirname(os.path.abspath(path)), option, path)


def check_output_folder(folder: str, names: Iterable[str], inputs: Iterable[tuple[str, str]] = (),
                        option: str = "-o") -> None:
    """The same for a folder that will receive the files ``names``: it must be (or become) a
    writable folder, and none of those files may be an input."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OutputError(f"{option} {folder} is a file, not a folder")
    inputs = list(inputs)
    for name in names:
        path = os.path.join(folder, name)
        for what, source in inputs:
            if source and same_file(path, source):
                raise OutputError(f"{option} {folder} would overwrite {what} ({source}) with its {name}: "
                                  f"refusing to overwrite an input; choose another {option}")
    _check_writable_folder(os.path.abspath(folder), option, folder)


def _check_writable_folder(folder: str, option: str, given: str) -> None:
    """``folder`` exists and is writable, or can be created: its nearest existing ancestor is a
    writable folder."""
    probe = folder
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise OutputError(f"{option} {given}: cannot write there, {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {given}: cannot write there, the folder {probe} is not writable")


def default_mode() -> int:
    """The permissions ``open`` gives a new file: 0666 less the process's umask."""
    mask = os.umask(0o22)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: str, data: bytes | str) -> None:
    """Write ``data`` to ``path`` whole or not at all: a crash, a full disk or Ctrl-C leaves
    either the old file or the new one, never a part. Errors name ``path``, not the temporary."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=directory)
    except OSError as e:
        raise OSError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, default_mode())  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException as e:
        os.unlink(tmp)
        if isinstance(e, OSError):
            raise OSError(f"cannot write {path}: {e.strerror or e}") from None
        raise


@contextlib.contextmanager
def staged(folder: str):
    """Write a set of files together: yields a temporary folder inside ``folder``; when the block
    ends without an error, every file in it replaces its namesake in ``folder``; on an error or
    an interruption none does, and the previous files stay as they were."""
    try:
        os.makedirs(folder, exist_ok=True)
        stage = tempfile.mkdtemp(prefix=".tmp-", dir=folder)
    except OSError as e:
        raise OSError(f"cannot write into {folder}: {e.strerror or e}") from None
    try:
        yield stage
        for name in sorted(os.listdir(stage)):  # renames within one file system: moments apart
            os.replace(os.path.join(stage, name), os.path.join(folder, name))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
