"""A directory hydraflow cannot write (read-only, no permission, a file in its place): one line naming it and why.

Every front end says it the same way, with exit code 2, before any run
starts: ``hydraflow: error: cannot write the sweep directory DIR: Read-only
file system``. The Hydra plugin checks the sweep directory when the multirun
starts (:func:`check_writable`: Hydra's own sweepers would fail with a
traceback writing ``multirun.yaml``); the ``hydraflow`` command and the
hydraflow sweeper turn such an error, wherever it is raised, into the line
(:func:`cannot_write`).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Optional, Union

#: errno values that mean a directory cannot be written at all (a full disk is the machine's fault, exit 1:
#: runone.machine_error).
CANNOT_WRITE = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST}

EXIT_CANNOT_WRITE = 2


def cannot_write(error: BaseException, directory: Union[str, Path, None] = None,
                 what: str = "the sweep directory") -> Optional[str]:
    """The line for ``error`` when it means ``directory`` (default: the failing file's own) cannot be
    written, else None (an error that names no file is not about one: a signal not permitted ...)."""
    filename = getattr(error, "filename", None)
    if not isinstance(error, OSError) or error.errno not in CANNOT_WRITE or not filename:
        return None
    if directory is None:
        directory, what = os.path.dirname(os.path.abspath(filename)), ""
    directory = os.path.abspath(directory)
    reason = error.strerror or str(error)
    if error.errno == errno.EEXIST or error.errno == errno.ENOTDIR:
        reason = "it is a file" if error.errno == errno.EEXIST else "a part of its path is a file"
    where = f" ({os.path.abspath(filename)})" if filename and os.path.abspath(filename) != directory else ""
    return f"cannot write {what + ' ' if what else ''}{directory}: {reason}{where}"


def check_writable(directory: Union[str, Path]) -> Optional[str]:
    """Why ``directory`` cannot be written (or made, where it is missing), or None. Nothing is created."""
    path = Path(os.path.abspath(directory))
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    if not existing.is_dir():
        code = errno.EEXIST if existing == path else errno.ENOTDIR
    elif not os.access(existing, os.W_OK | os.X_OK):
        code = errno.EROFS if _read_only_mount(existing) else errno.EACCES
    else:
        return None
    return cannot_write(OSError(code, os.strerror(code), str(existing)), path)


def _read_only_mount(directory: Union[str, Path]) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        return False
