"""The one place for file I/O helpers: atomic writes, bounded reads and crash-safe folder replacement.

* :func:`atomic_write_text` / :func:`atomic_write_bytes` write a temporary file created exclusively
  (``O_CREAT | O_EXCL | O_NOFOLLOW``, a random name) in the target's folder, fsync it and rename it over the
  target, so a reader sees the old file or the new one, never a part, and nobody can redirect the write
  through a planted symlink (the old ``.NAME.tmpPID`` names were predictable and opened following symlinks).
* :func:`read_text_bounded` / :func:`read_bytes_bounded` read regular files only (a FIFO, a device or a
  folder is refused without blocking), at most ``max_bytes``, and turn every problem into one line naming
  the file.
* :func:`replace_dir_atomically` puts a finished folder in place of another: on Linux with one
  ``renameat2(RENAME_EXCHANGE)`` (the final name always holds a complete folder, whatever is killed when,
  and concurrent writers cannot make each other fail); elsewhere with a rename-aside fallback whose
  interrupted state :func:`remove_stale_temps` repairs.

Every :class:`OSError` met while writing becomes an :class:`~trafficsim.errors.OutputError` whose message is
one line, ``"<path>: <reason>"``.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import sys
import time
from pathlib import Path
from typing import Callable

from .errors import InputError, OutputError, TrafficsimError

__all__ = ["OutputError", "atomic_write_text", "atomic_write_bytes", "read_text_bounded", "read_bytes_bounded",
           "ensure_dir", "make_temp_dir", "replace_dir_atomically", "remove_stale_temps", "DEFAULT_MAX_READ_BYTES",
           "STALE_AGE_S"]

# Inputs (topology CSVs, .cfg files, specs, summaries, cache entries) are kilobytes to a few megabytes; this
# bound only stops /dev/zero-like inputs from eating the memory.
DEFAULT_MAX_READ_BYTES = 256 * 2**20
# A temporary left by a killed writer is removed once it is this old; a live writer fills its temporary within
# seconds of creating it, so it is never taken for a leftover.
STALE_AGE_S = 600.0

# ".<name>.<12 hex>.tmp" (a write in progress or its leftover) and ".<name>.<12 hex>.old" (a folder set aside
# by the portable replacement): the only names remove_stale_temps() touches.
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<token>[0-9a-f]{12})\.(?P<kind>tmp|old)$", re.DOTALL)

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)

_REASONS: dict[int, str] = {
    errno.ENOSPC: "no space left on device",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a folder",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "name too long",
    errno.EFBIG: "file too large",
    errno.ENOENT: "no such file or folder",
    errno.ELOOP: "too many levels of symbolic links",
    errno.EIO: "input/output error",
    errno.EXDEV: "on another file system",
}
if hasattr(errno, "EDQUOT"):
    _REASONS[errno.EDQUOT] = "disk quota exceeded"


def _reason(e: OSError) -> str:
    """A short lower-case reason for an OSError, on one line."""
    text = _REASONS.get(e.errno or -1) or e.strerror or str(e) or type(e).__name__
    return " ".join(str(text).split())


def _one_line(x: object) -> str:
    return " ".join(str(x).splitlines()) if "\n" in str(x) or "\r" in str(x) else str(x)


def _token() -> str:
    return os.urandom(6).hex()


def _temp_name(name: str, kind: str = "tmp") -> str:
    # NAME_MAX is 255 bytes: keep room for the dot, token and suffix
    stem = name
    while len(os.fsencode(stem)) > 200:
        stem = stem[:-1]
    return f".{stem}.{_token()}.{kind}"


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: some systems cannot open or sync folders)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _O_CLOEXEC
    try:
        fd = os.open(folder, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------------------------
# folders
# ---------------------------------------------------------------------------------------------------------------
def ensure_dir(path: str | os.PathLike) -> Path:
    """Create folder ``path`` (and its parents) unless it exists; :class:`OutputError` naming the part of the
    path that is in the way (``file/sub``, ``/dev/null``) or the reason (read-only, permission)."""
    path = Path(path)
    try:
        if path.is_dir():
            return path
    except OSError as e:
        raise OutputError(f"{path}: {_reason(e)}") from None
    # the nearest part of the path that exists must be a folder
    probe = path
    while True:
        try:
            st = os.stat(probe)
        except (FileNotFoundError, NotADirectoryError):
            parent = probe.parent
            if parent == probe:
                break
            probe = parent
            continue
        except OSError as e:
            raise OutputError(f"{probe}: {_reason(e)}") from None
        if not stat.S_ISDIR(st.st_mode):
            what = "exists and is not a folder" if probe == path else "is a file, not a folder"
            raise OutputError(f"{probe}: {what}" + ("" if probe == path else f" (needed for {path})"))
        break
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{path}: cannot create the folder ({_reason(e)})") from None
    return path


def make_temp_dir(parent: str | os.PathLike, name: str) -> Path:
    """A new empty hidden folder ``.<name>.<random>.tmp`` in ``parent`` (created exclusively: ``mkdir`` never
    follows a symlink nor reuses an existing entry), with the usual permissions (umask applies)."""
    parent = ensure_dir(parent)
    for _ in range(100):
        tmp = parent / _temp_name(name)
        try:
            os.mkdir(tmp, 0o777)
            return tmp
        except FileExistsError:
            continue
        except OSError as e:
            raise OutputError(f"{parent}: cannot create a folder there ({_reason(e)})") from None
    raise OutputError(f"{parent}: cannot create a temporary folder (100 names taken)")


# ---------------------------------------------------------------------------------------------------------------
# atomic file writes
# ---------------------------------------------------------------------------------------------------------------
def _check_replaceable_file(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise OutputError(f"{path}: {_reason(e)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{path}: is a folder, not a file")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        raise OutputError(f"{path}: not a regular file (a device, FIFO or socket); not replacing it")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: an exclusively created temporary file in the same folder
    (``O_EXCL | O_NOFOLLOW``, random name), fsync, rename over ``path``, fsync of the folder. The folder is
    created if needed. Any failure is an :class:`OutputError` ``"<path>: <reason>"`` and leaves no temporary
    behind. A symlink at ``path`` is replaced by the file, not written through."""
    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise OutputError(f"{path}: not a file name")
    parent = ensure_dir(path.parent)
    _check_replaceable_file(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
    for _ in range(100):
        tmp = parent / _temp_name(path.name)
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
        except OSError as e:
            raise OutputError(f"{path}: {_reason(e)}") from None
    else:
        raise OutputError(f"{path}: cannot create a temporary file (100 names taken)")
    try:
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        _unlink_quietly(tmp)
        raise OutputError(f"{path}: {_reason(e)}") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise
    _fsync_dir(parent)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`); newlines are written as given.
    Characters the encoding cannot hold (lone surrogates) are written as backslash escapes."""
    atomic_write_bytes(path, text.encode(encoding, errors="backslashreplace"))


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------------------------
# bounded reads
# ---------------------------------------------------------------------------------------------------------------
def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_bytes_bounded(path: str | os.PathLike, *, what: str = "file",
                       error: Callable[[str], TrafficsimError] = InputError,
                       max_bytes: int = DEFAULT_MAX_READ_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes``.

    A FIFO is opened without blocking and refused, as are devices (``/dev/zero``), sockets and folders; a file
    over ``max_bytes`` (by its size or by what it yields) is refused. Every problem raises ``error`` (a
    :class:`~trafficsim.errors.TrafficsimError` subclass, :class:`InputError` by default) with one line
    naming the file and saying what it should have been (``what``, e.g. "topology CSV")."""
    p = Path(path)
    flags = os.O_RDONLY | _O_CLOEXEC | _O_BINARY | _O_NONBLOCK | _O_NOCTTY
    try:
        fd = os.open(p, flags)
    except FileNotFoundError:
        raise error(f"{p}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{p}: is a folder, not a {what}") from None
    except OSError as e:
        raise error(f"{p}: cannot read the {what} ({_reason(e)})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{p}: is a folder, not a {what}")
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{p}: {_kind_of(st.st_mode)}, not a {what}; give a regular file")
        if st.st_size > max_bytes:
            raise error(f"{p}: {what} too large ({st.st_size:,} bytes; the limit is {max_bytes:,})")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # a file that grows while read (or lies about its size)
                raise error(f"{p}: {what} too large (more than {max_bytes:,} bytes)")
        return b"".join(chunks)
    except OSError as e:
        raise error(f"{p}: cannot read the {what} ({_reason(e)})") from None
    finally:
        os.close(fd)


def read_text_bounded(path: str | os.PathLike, *, what: str = "file",
                      error: Callable[[str], TrafficsimError] = InputError,
                      max_bytes: int = DEFAULT_MAX_READ_BYTES, universal_newlines: bool = True) -> str:
    """The text of the regular file ``path`` (see :func:`read_bytes_bounded` for what is refused).

    UTF-8, with a byte-order mark stripped; a UTF-16 file with its BOM is decoded too. ``\\r\\n`` and ``\\r``
    become ``\\n`` as with :meth:`pathlib.Path.read_text` unless ``universal_newlines=False``. Text that is not
    UTF-8 raises ``error`` with the offset of the first bad byte."""
    data = read_bytes_bounded(path, what=what, error=error, max_bytes=max_bytes)
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise error(f"{path}: {what} is not UTF-8 text (bad byte at offset {e.start})") from None
    if universal_newlines and "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


# ---------------------------------------------------------------------------------------------------------------
# folder replacement
# ---------------------------------------------------------------------------------------------------------------
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_renameat2: object = None  # None: not looked up yet; False: unavailable


def _get_renameat2():
    global _renameat2
    if _renameat2 is None:
        _renameat2 = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                func = libc.renameat2  # glibc >= 2.28
                func.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
                func.restype = ctypes.c_int
                _renameat2 = func
            except (OSError, AttributeError):
                pass
    return _renameat2 or None


def _rename2(src: Path, dst: Path, flags: int) -> None:
    import ctypes

    func = _get_renameat2()
    if func(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) != 0:  # type: ignore[operator]
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(src), None, str(dst))


_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, getattr(errno, "ENOTSUP", -1), getattr(errno, "EOPNOTSUPP", -1)}


def replace_dir_atomically(tmp: str | os.PathLike, final: str | os.PathLike, *, _swap: bool = True) -> bool:
    """Put the finished folder ``tmp`` at ``final`` (same parent folder), replacing a folder already there;
    return True when one was replaced.

    On Linux this is one ``renameat2(RENAME_NOREPLACE)`` or ``renameat2(RENAME_EXCHANGE)`` followed by removing
    the old folder (now at ``tmp``): ``final`` holds a complete folder at every instant, so a process killed at
    any point loses nothing, and concurrent writers of one ``final`` all succeed (the last swap wins). Where
    that call is missing (other systems, file systems without it) the old folder is renamed aside to
    ``.<name>.<random>.old`` and the new one renamed in; a kill between the two leaves the old folder aside,
    and :func:`remove_stale_temps` puts it back. ``_swap=False`` forces that fallback (for tests).

    A non-folder at ``final`` is never replaced (:class:`OutputError`)."""
    tmp, final = Path(tmp), Path(final)
    for _ in range(1000):
        try:
            st = os.lstat(final)
            exists = True
        except FileNotFoundError:
            exists = False
        except OSError as e:
            raise OutputError(f"{final}: {_reason(e)}") from None
        if exists and not stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{final}: exists and is not a folder; not replacing it")
        if _swap and _get_renameat2() is not None:
            try:
                _rename2(tmp, final, _RENAME_EXCHANGE if exists else _RENAME_NOREPLACE)
            except FileExistsError:  # another writer put its folder there first: swap with it
                continue
            except FileNotFoundError:
                if not tmp.exists():
                    raise OutputError(f"{tmp}: the folder to move into place has vanished") from None
                continue  # the old folder vanished (another writer's fallback, a user): try again
            except OSError as e:
                if e.errno in _UNSUPPORTED:
                    _swap = False  # e.g. a file system without RENAME_EXCHANGE
                    continue
                raise OutputError(f"{final}: {_reason(e)}") from None
            if exists:
                shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old folder
            _fsync_dir(final.parent)
            return exists
        # portable fallback: rename aside, rename in
        if not exists:
            try:
                os.rename(tmp, final)
            except FileNotFoundError:
                raise OutputError(f"{tmp}: the folder to move into place has vanished") from None
            except OSError as e:
                if e.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EACCES, errno.EPERM) and os.path.lexists(final):
                    continue  # another writer was faster (Windows says EACCES)
                raise OutputError(f"{final}: {_reason(e)}") from None
            _fsync_dir(final.parent)
            return False
        aside = final.parent / _temp_name(final.name, "old")
        try:
            os.rename(final, aside)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise OutputError(f"{final}: {_reason(e)}") from None
        try:
            os.rename(tmp, final)
        except OSError as e:
            # another writer put its folder there in between (the error says so even if a third one has moved it
            # aside again by now, so do not look): that one stands
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY) or os.path.lexists(final):
                shutil.rmtree(aside, ignore_errors=True)
                shutil.rmtree(tmp, ignore_errors=True)
                return True
            try:
                os.rename(aside, final)  # put the old one back
            except OSError:
                pass
            raise OutputError(f"{final}: {_reason(e)}") from None
        shutil.rmtree(aside, ignore_errors=True)
        _fsync_dir(final.parent)
        return True
    raise OutputError(f"{final}: could not be replaced (other processes keep replacing it)")


def remove_stale_temps(folder: str | os.PathLike, *, min_age_s: float = STALE_AGE_S) -> list[Path]:
    """Clean up after killed writers in ``folder``: remove temporaries (``.<name>.<12 hex>.tmp``) and put back
    folders set aside by an interrupted portable replacement (``.<name>.<12 hex>.old``, when ``<name>`` is
    missing; else remove them). Only entries with exactly those names, owned by this user and unchanged for
    ``min_age_s`` seconds are touched (a live writer's temporary is younger); symlinks never. Returns the paths
    removed or restored. Errors are ignored: this is housekeeping."""
    folder = Path(folder)
    done: list[Path] = []
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return done
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if not m:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if (uid is not None and st.st_uid != uid) or now - st.st_mtime < min_age_s:
            continue
        path = Path(entry.path)
        is_dir = stat.S_ISDIR(st.st_mode)
        if m["kind"] == "old" and is_dir:
            final = folder / m["name"]
            if not os.path.lexists(final):
                try:
                    os.rename(path, final)
                    done.append(path)
                    continue
                except OSError:
                    pass
        if is_dir:
            shutil.rmtree(path, ignore_errors=True)
        elif stat.S_ISREG(st.st_mode):
            _unlink_quietly(path)
        else:
            continue
        done.append(path)
    return done
