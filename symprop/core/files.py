"""Reading input files with a size limit, and writing output files atomically, so that no
input can hang or exhaust memory and a failure never leaves a half-written file."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from symprop.core.errors import SymPropError, shown_path

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
    """Write ``data`` to ``path`` so that a failure never leaves a half-written file.

    A new or regular target is written to a temporary file beside it, flushed to disk and
    renamed over it (:func:`os.replace`); missing folders are created. An existing file
    keeps its mode (and, where the process may set it, its owner and group); a symbolic
    link is followed and the file it points to is replaced. A character device or a FIFO
    (``/dev/stdout``, ``/dev/null``, a named pipe with a reader) is written straight through,
    as a shell redirection would. Anything else is refused: a folder, a block device, a
    socket, a file with several hard links (replacing it would silently split them).
    Every failure, from the file system too (a read-only folder, a parent that is a file, a
    name too long, a full disk), is one :class:`SymPropError` naming the path; nothing is
    left behind. A temporary file left by a killed writer is removed by the next write of
    the same target. Returns the path.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        return _write(path, payload)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise SymPropError(f"{shown_path(path)}: cannot write ({_reason(exc)})") from None


def check_writable(path: Path | str) -> None:
    """Raise the :class:`SymPropError` :func:`write_atomic` would for a target it refuses
    outright (a folder, a device, a hard-linked file, a missing or read-only folder, a name
    too long), without writing anything; for checking outputs before long work."""
    path = Path(path)
    try:
        target, _ = _target(path)
        if target is None:
            return
        folder = _existing_ancestor(target.parent)
        if not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder))
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))
        _temporary_name(target.name)
    except (OSError, ValueError) as exc:
        raise SymPropError(f"{shown_path(path)}: cannot write ({_reason(exc)})") from None


TEMPORARY_SUFFIX = ".symprop.tmp"
"""Temporary files are named ``.NAME.PID-RANDOM.symprop.tmp`` beside their target ``NAME``."""


def _reason(exc: OSError | ValueError) -> str:
    if isinstance(exc, ValueError):
        return str(exc)
    if exc.errno == errno.ENAMETOOLONG:
        return "the file name is too long"
    if exc.errno == errno.ENXIO:
        return "a FIFO with no reader"
    return exc.strerror or str(exc)


def _target(path: Path) -> tuple[Path | None, os.stat_result | None]:
    """The file to replace and its status (``None`` if new); ``None`` and the status for a
    stream to write through. Refuses what must not be replaced."""
    try:
        status = os.stat(path)  # follows symbolic links
    except FileNotFoundError:
        return Path(os.path.realpath(path)), None
    mode = status.st_mode
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or _is_stdout(status):
        return None, status
    if stat.S_ISDIR(mode):
        raise SymPropError(f"{shown_path(path)}: is a folder; give a file name")
    if not stat.S_ISREG(mode):
        raise SymPropError(f"{shown_path(path)}: not a regular file; refusing to replace it")
    if status.st_nlink > 1:
        raise SymPropError(
            f"{shown_path(path)}: has {status.st_nlink} hard links; replacing it would split "
            "them (remove it first, or write elsewhere)"
        )
    return Path(os.path.realpath(path)), status


def _write(path: Path, payload: bytes) -> Path:
    target, status = _target(path)
    if target is None:
        assert status is not None
        _write_through(path, payload, status)
        return path
    created = _make_folders(target.parent)
    temporary = None
    try:
        _remove_stale(target)
        handle, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=_temporary_name(target.name), suffix=TEMPORARY_SUFFIX
        )
        with os.fdopen(handle, "wb") as stream:
            if status is None:  # mkstemp makes the file private (0600): use the umask's mode
                os.fchmod(stream.fileno(), 0o666 & ~_umask())
            else:
                os.fchmod(stream.fileno(), stat.S_IMODE(status.st_mode))
                with contextlib.suppress(OSError):
                    os.fchown(stream.fileno(), status.st_uid, status.st_gid)
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
        temporary = None
        _sync_folder(target.parent)
    except BaseException:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return path


def _is_stdout(status: os.stat_result) -> bool:
    """Whether ``status`` is that of this process's standard output (``/dev/stdout``)."""
    try:
        out = os.fstat(1)
    except OSError:
        return False
    return (out.st_dev, out.st_ino) == (status.st_dev, status.st_ino)


def _write_through(path: Path, payload: bytes, status: os.stat_result) -> None:
    """Write to a character device, a FIFO or standard output, where a shell redirection
    would; a FIFO without a reader is an error, not a hang."""
    if _is_stdout(status):  # at its current offset, as the process's own output goes
        sys.stdout.flush()
        descriptor = os.dup(1)
    else:
        descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        os.set_blocking(descriptor, True)
        view = memoryview(payload)
        while view:
            view = view[os.write(descriptor, view) :]
    finally:
        os.close(descriptor)


def _temporary_name(name: str) -> str:
    """The prefix of a temporary file beside ``name``, shortened to fit a 255-byte name."""
    room = 255 - len(f"..{'9' * 10}-xxxxxxxx{TEMPORARY_SUFFIX}")  # any pid fits in 10 digits
    encoded = os.fsencode(name)
    if len(encoded) > 255:
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), name)
    return "." + os.fsdecode(encoded[:room]) + f".{os.getpid()}-"


def _remove_stale(target: Path) -> None:
    """Remove the temporary files of earlier writes of ``target`` whose writer is gone."""
    prefix = _temporary_name(target.name).rsplit(".", 1)[0] + "."
    pattern = re.compile(r"(\d+)-[a-z0-9_]{8}" + re.escape(TEMPORARY_SUFFIX))
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            found = entry.name.startswith(prefix) and pattern.fullmatch(entry.name[len(prefix) :])
            if found and not process_alive(int(found[1])):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _existing_ancestor(folder: Path) -> Path:
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, outermost first."""
    missing = []
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    created = []
    try:
        for each in reversed(missing):
            each.mkdir()
            created.append(each)
    except BaseException:
        for each in reversed(created):
            with contextlib.suppress(OSError):
                each.rmdir()
        raise
    return created


def _sync_folder(folder: Path) -> None:
    """Flush the rename to disk (best effort: not every file system allows it)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _umask() -> int:
    """The process's umask (reading it means setting it; it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def private_folder(kind: str) -> Iterator[Path]:
    """A new private folder ``symprop-KIND-PID-RANDOM`` in the system's temp folder, removed
    on leaving the block; folders of the same kind left by a symprop process that no longer
    exists (killed outright) are removed first."""
    root = Path(tempfile.gettempdir())
    pattern = re.compile(rf"symprop-{re.escape(kind)}-(\d+)-[a-z0-9_]{{8}}")
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            found = pattern.fullmatch(entry.name)
            if found and entry.is_dir(follow_symlinks=False) and not process_alive(int(found[1])):
                shutil.rmtree(entry.path, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"symprop-{kind}-{os.getpid()}-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
