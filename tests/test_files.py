"""The atomic file writer every output goes through, and the private temp folders."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest

from symprop.core.errors import SymPropError
from symprop.core.files import TEMPORARY_SUFFIX, check_writable, private_folder, write_atomic


def _dead_pid() -> int:
    """The id of a process that has exited (a child that was reaped)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_written_file_has_the_umask_mode_not_a_private_one(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        path = write_atomic(tmp_path / "sub" / "out.tex", "hello")
    finally:
        os.umask(old)
    assert path.read_text(encoding="utf-8") == "hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "secret.tex"
    path.write_text("old")
    path.chmod(0o600)
    write_atomic(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_atomic(tmp_path / "out.txt", "old")

    def replace_fails(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", replace_fails)
    with pytest.raises(SymPropError) as info:
        write_atomic(path, "new")
    assert str(info.value) == f"{path}: cannot write (No space left on device)"
    assert path.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS, errno.EDQUOT])
def test_a_folder_that_refuses_new_files_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    # Root may write into a read-only folder, so the file system's refusal is simulated
    # where it happens, at the creation of the temporary file.
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code), str(tmp_path))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(SymPropError) as info:
        write_atomic(tmp_path / "out.tex", "data")
    assert str(info.value) == f"{tmp_path / 'out.tex'}: cannot write ({os.strerror(code)})"
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_removes_the_folders_it_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError(28, "x")))
    with pytest.raises(SymPropError):
        write_atomic(tmp_path / "a" / "b" / "out.txt", "new")
    assert list(tmp_path.iterdir()) == []


def test_the_data_is_flushed_to_disk_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), replace(a, b))[1])
    write_atomic(tmp_path / "out.txt", "data")
    assert events[:2] == ["fsync", "replace"]


def test_a_hard_linked_file_is_refused_and_both_names_keep_their_bytes(tmp_path: Path) -> None:
    path, twin = tmp_path / "out.tex", tmp_path / "twin.tex"
    path.write_text("old")
    os.link(path, twin)
    with pytest.raises(SymPropError, match=r"out\.tex: has 2 hard links"):
        write_atomic(path, "new")
    assert os.stat(path).st_ino == os.stat(twin).st_ino
    assert twin.read_text() == "old"


def test_a_symbolic_link_is_followed_not_replaced(tmp_path: Path) -> None:
    real, link = tmp_path / "real.tex", tmp_path / "link.tex"
    real.write_text("old")
    link.symlink_to(real.name)
    write_atomic(link, "new")
    assert link.is_symlink() and os.readlink(link) == "real.tex"
    assert real.read_text() == "new"


def test_a_fifo_without_a_reader_is_refused_at_once_and_kept(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(SymPropError, match=r"pipe: cannot write \(a FIFO with no reader\)"):
        write_atomic(fifo, "data")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_a_fifo_with_a_reader_is_written_through(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    ready = threading.Event()

    def read() -> None:
        descriptor = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        ready.set()
        os.set_blocking(descriptor, True)
        data, deadline = b"", time.monotonic() + 10
        # Until the writer opens the FIFO a read sees end-of-file: wait for the bytes.
        while len(data) < 200_000 and time.monotonic() < deadline:
            chunk = os.read(descriptor, 1 << 16)
            data += chunk
            if not chunk:
                time.sleep(0.001)
        os.close(descriptor)
        received.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    ready.wait(5)
    write_atomic(fifo, "x" * 200_000)  # more than a pipe's buffer
    reader.join(10)
    assert received == [b"x" * 200_000]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_character_device_is_written_through() -> None:
    before = os.lstat("/dev/null")
    write_atomic("/dev/null", "data")
    after = os.lstat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


@pytest.mark.parametrize("make", ["folder", "socket"])
def test_other_special_files_are_refused(tmp_path: Path, make: str) -> None:
    import socket

    target = tmp_path / "target"
    if make == "folder":
        target.mkdir()
        message = "is a folder"
    else:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(target))
        server.close()
        message = "not a regular file"
    kind = stat.S_IFMT(os.lstat(target).st_mode)
    with pytest.raises(SymPropError, match=message):
        write_atomic(target, "data")
    with pytest.raises(SymPropError, match=message):
        check_writable(target)
    assert stat.S_IFMT(os.lstat(target).st_mode) == kind


def test_names_up_to_the_file_systems_limit_are_written(tmp_path: Path) -> None:
    for length in (242, 250, 255):
        path = tmp_path / ("n" * (length - 4) + ".tex")
        write_atomic(path, "data")
        assert path.read_text() == "data"
    multibyte = tmp_path / ("λ" * 125 + ".md")  # 254 bytes
    write_atomic(multibyte, "data")
    assert multibyte.read_text() == "data"
    assert len(list(tmp_path.iterdir())) == 4


@pytest.mark.parametrize(
    "name, reason",
    [
        ("n" * 256, "the file name is too long"),
        ("file/out.tex", "Not a directory"),
    ],
)
def test_os_errors_are_one_line_naming_the_path(tmp_path: Path, name: str, reason: str) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    path = tmp_path / name
    for attempt in (write_atomic, check_writable):
        with pytest.raises(SymPropError) as info:
            attempt(path, "data") if attempt is write_atomic else attempt(path)
        message = str(info.value)
        assert "\n" not in message and reason in message and path.name[:20] in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    assert (tmp_path / "file").read_text() == "a file, not a folder"


def test_a_stale_temporary_file_of_a_killed_writer_is_removed(tmp_path: Path) -> None:
    stale = tmp_path / f".out.tex.{_dead_pid()}-abcdefgh{TEMPORARY_SUFFIX}"
    alive = tmp_path / f".out.tex.{os.getpid()}-abcdefgh{TEMPORARY_SUFFIX}"
    other = tmp_path / f".other.tex.{_dead_pid()}-abcdefgh{TEMPORARY_SUFFIX}"
    for path in (stale, alive, other):
        path.write_text("partial")
    write_atomic(tmp_path / "out.tex", "data")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.tex", alive.name, other.name])


def test_private_folders_of_dead_processes_are_removed(tmp_path: Path) -> None:
    root = Path(tempfile.gettempdir())
    stale = root / f"symprop-test-{_dead_pid()}-abcdefgh"
    (stale / "sub").mkdir(parents=True)
    mine = root / f"symprop-test-{os.getpid()}-abcdefgh"
    mine.mkdir()
    try:
        with private_folder("test") as folder:
            assert folder.is_dir() and folder.name.startswith(f"symprop-test-{os.getpid()}-")
            assert not stale.exists() and mine.exists()
        assert not folder.exists()
    finally:
        mine.rmdir()
