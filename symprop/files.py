"""Reading input files with a size limit, and writing output files atomically, so that no
input can hang or exhaust memory and a failure never leaves a half-written file."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from symprop.errors import SymPropError, shown_path

INPUT_LIMIT = 4 * 1024 * 1024
"""The largest spec or claims file read (4 MiB): far above any real one."""


def read_text(path: Path | str, what: str, limit: int = INPUT_LIMIT) -> str:
    """The UTF-8 text of the regular file ``path``, read with a size limit.

    A FIFO, a device (``/dev/zero``), a folder, a file over ``limit`` bytes or one that is
    not UTF-8 is refused at once with a :class:`SymPropError` naming the path and ``what``
    it was meant to be (e.g. ``"spec file"``); nothing is read past ``limit`` bytes, and
    opening never blocks.
    """
    where = shown_path(path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise SymPropError(f"{where}: no such {what}") from None
    except OSError as exc:
        raise SymPropError(f"{where}: cannot read {what} ({exc.strerror or exc})") from None
    except ValueError:  # a NUL character in the path
        raise SymPropError(f"{where}: cannot read {what} (the path holds a NUL)") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise SymPropError(f"{where}: the {what} must be a regular file")
    with os.fdopen(descriptor, "rb") as stream:
        try:
            data = stream.read(limit + 1)
        except OSError as exc:
            raise SymPropError(f"{where}: cannot read {what} ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise SymPropError(f"{where}: the {what} is larger than {limit // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SymPropError(f"{where}: the {what} is not UTF-8 text (byte {exc.start})") from None


def write_atomic(path: Path | str, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and
    :func:`os.replace`; the folder is created if needed. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the usual umask-based mode.
        os.chmod(temporary, 0o666 & ~_umask())
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process's umask (reading it means setting it; it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
