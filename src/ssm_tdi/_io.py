"""Atomic file output: the one writer of the project (CLI, verify, figures, report).

A destination is written as a hidden temporary file in its own directory, flushed and
``fsync``-ed, its size checked against the bytes handed in, and only then renamed over the
destination (``os.replace``, atomic on POSIX). A full disk, a file-size limit or any other
write error therefore raises ``OSError`` and leaves the destination as it was.

* Destinations: a new path or an existing *regular* file (a symbolic link to a regular file
  replaces the file it points to). Anything else is refused with :class:`OutputPathError`
  (a ``ValueError``): character devices such as ``/dev/null``, FIFOs, sockets, directories,
  ``/proc/self/fd`` links to pipes, dangling links, and paths ending in ``/``.
* Permissions: a new file gets ``0o666`` minus the umask (as ``open`` would create it); a
  replaced file keeps its mode.
* Temporary names are ``.<first 40 characters of the name>.<host>-<pid>-<random>.tmp``, short
  enough for destination names of the full 255 bytes. Before writing into a directory, the
  temporary files there whose writer (same host, recorded pid) no longer runs are removed: a
  killed writer leaves nothing behind for long.
* :class:`OutputSet` commits several files all-or-nothing: every file is written to its
  temporary name first; on commit, each replaced file is kept as a hard link until all renames
  have succeeded, and restored if one fails.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import socket
import stat
import zlib
from pathlib import Path

__all__ = ["OutputPathError", "OutputSet", "atomic_write_bytes", "check_output_path", "remove_stale_temps"]

_HOST = f"{zlib.crc32(socket.gethostname().encode()) & 0xFFFFFFFF:08x}"
_TEMP = re.compile(r"^\..*\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-z]{8}\.tmp$", re.S)
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


class OutputPathError(ValueError):
    """A destination that must not be written (not a regular file, or under a non-directory)."""


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_output_path(path) -> Path:
    """The file that writing ``path`` will replace or create; refuse anything but a regular file or a new path."""
    text = os.fspath(path)
    if not text:
        raise OutputPathError("empty path; expected a file path")
    if text.endswith(os.sep) or (os.altsep and text.endswith(os.altsep)):
        raise OutputPathError(f"{text} ends with '{os.sep}' (a directory); expected a file path")
    p = Path(text)
    try:
        st = os.stat(p)  # follows links: a /proc/self/fd link is judged by what it points to
    except FileNotFoundError:
        if os.path.islink(p):
            raise OutputPathError(f"{p} is a symbolic link to nothing; refusing to replace it") from None
        st = None
    except NotADirectoryError:
        st = None  # reported below, naming the parent that is not a directory
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OutputPathError(f"{p} exists and is {_kind(st.st_mode)}; refusing to replace it (expected a "
                              "regular file or a new path)")
    target = Path(os.path.realpath(p)) if os.path.islink(p) else p
    for parent in target.parents:
        if os.path.lexists(parent):
            if not parent.is_dir():
                raise OutputPathError(f"{parent} is not a directory, cannot write {p}")
            break
    return target


def _temp_name(name: str) -> str:
    return f".{name[:40]}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.tmp"


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists under another user, or cannot tell: keep its file
    return True


def remove_stale_temps(directory) -> list[Path]:
    """Delete the temporary files in ``directory`` left by writers on this host that no longer run."""
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        m = _TEMP.match(name)
        if m and m["host"] == _HOST and not _running(int(m["pid"])):
            try:
                os.unlink(os.path.join(directory, name))
                removed.append(Path(directory) / name)
            except OSError:
                pass
    return removed


def _write_all(fd: int, data) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view):]


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename itself is still atomic
    finally:
        os.close(fd)


class OutputSet:
    """Files written together: ``stage`` each, then ``commit`` renames all of them into place or none.

    ``discard`` (also after a failed commit) removes every temporary file; a context manager
    discards on exit, so an exception between stage and commit leaves no trace.
    """

    def __init__(self):
        self._staged: list[tuple[Path, Path]] = []  # (temporary file, destination)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.discard()

    def stage(self, path, data) -> Path:
        """Write ``data`` (bytes-like) to a temporary file next to ``path``; returns the destination."""
        target = check_output_path(path)
        if any(os.path.abspath(t) == os.path.abspath(target) for _, t in self._staged):
            raise OutputPathError(f"{path} is written twice by the same command")
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(target.parent)
        tmp = target.parent / _temp_name(target.name)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        self._staged.append((tmp, target))
        try:
            if os.path.isfile(target):  # a replaced file keeps its permissions
                os.fchmod(fd, stat.S_IMODE(os.stat(target).st_mode))
            _write_all(fd, data)
            os.fsync(fd)  # a full disk or quota may only show up here
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        expected = memoryview(data).nbytes
        if size != expected:
            raise OSError(errno.EIO, f"only {size} of {expected} bytes reached the disk", str(target))
        return target

    def commit(self) -> None:
        """Rename every staged file into place; on any failure restore the files already replaced."""
        backups: dict[Path, Path | None] = {}
        done: list[Path] = []
        try:
            for _, target in self._staged:
                check_output_path(target)  # still a regular file or absent (it may have changed since staging)
                backups[target] = self._backup(target) if os.path.lexists(target) else None
            for tmp, target in self._staged:
                os.replace(tmp, target)
                done.append(target)
        except BaseException:
            for target in reversed(done):
                try:
                    if backups.get(target) is not None:
                        os.replace(backups.pop(target), target)
                    else:
                        os.unlink(target)
                except OSError:
                    pass
            raise
        finally:
            for b in backups.values():
                if b is not None and os.path.lexists(b):
                    os.unlink(b)
            self.discard()
        for d in dict.fromkeys(t.parent for t in done):
            _fsync_dir(d)

    @staticmethod
    def _backup(target: Path) -> Path:
        b = target.parent / _temp_name(target.name)
        try:
            os.link(target, b)
        except OSError:  # no hard links on this file system: a copy restores the content
            shutil.copy2(target, b)
        return b

    def discard(self) -> None:
        for tmp, _ in self._staged:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        self._staged = []


def atomic_write_bytes(path, data) -> Path:
    """Write ``data`` (bytes-like) to ``path`` atomically (see the module docstring); returns the file written."""
    with OutputSet() as out:
        target = out.stage(path, data)
        out.commit()
    return target
