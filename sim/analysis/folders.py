"""Result folders on disk: the marker that proves a folder is ours, the lock that serialises
writers, the atomic swap of a new result into place and the recovery after a kill.

The rules (README "Result folders", SECURITY.md):

* Every result folder we write holds :data:`MARKER_FILE` (``.access-sim-result``), a small
  JSON file ``{"kind": "access-sim-result", "format_version": 1, "package_version": ...}``.
  A folder is replaced only when it is missing, empty, holds the marker, or is a result of an
  older version (only our file names and a ``summary.json`` of the right shape); any other
  folder needs ``overwrite`` (``--overwrite``).
* ``out`` given as a symbolic link to a folder is followed: the folder it points to is
  replaced (the link stays). A link to a file, a dangling link or a link loop is refused.
  The current folder (or one that holds it), the home folder and ``/`` are always refused.
* A new result is written into ``.<name>.tmp-<pid>-<random>`` beside ``out`` and swapped into
  place: on Linux with one atomic ``renameat2(RENAME_EXCHANGE)``, so ``out`` always holds a
  complete result; elsewhere with two renames (the old result moved to
  ``.<name>.old-<pid>`` first). The replaced folder is renamed ``.<name>.trash-<pid>-...``
  and deleted, without following symbolic links.
* Writers of one ``out`` are serialised by ``flock`` on ``.<name>.lock`` beside it (removed
  when done). Holding the lock, a writer first recovers what a killed writer left: a
  ``.<name>.old-<pid>`` of a dead process is renamed back when ``out`` is missing, and stale
  ``.tmp-``/``.trash-`` folders (ours, of a dead process) are deleted.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sim.analysis.summary_shape import check_summary_file
from sim.errors import ResultsError
from sim.version import package_version

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locking
    fcntl = None  # type: ignore[assignment]

__all__ = ["MARKER_FILE", "MARKER_KIND", "FORMAT_VERSION", "RESULT_FILES", "marker_text",
           "read_marker", "target_folder", "refuse_unless_replaceable", "folder_lock",
           "recover", "clean_stale", "write_result_folder", "swap_into_place", "file_mode",
           "dir_mode"]

MARKER_FILE = ".access-sim-result"
MARKER_KIND = "access-sim-result"
FORMAT_VERSION = 1
SUMMARY_FILE = "summary.json"
RESULT_FILES = frozenset({SUMMARY_FILE, "logins.csv", "logins.parquet", "node_load.csv",
                          "sites.csv", MARKER_FILE, "report.html"})
LATER_FILES = frozenset({"report.html"})
"""Files of ours a finished result folder may gain (``access-sim report`` writes
``report.html`` into it): they belong to the result, listed in the marker or not."""
RESULT_DIRS = frozenset({"figures"})
_MARKER_MAX_BYTES = 64 * 1024
LOCK_TIMEOUT_ENV = "ACCESS_SIM_LOCK_TIMEOUT"
"""Seconds a writer waits for another writer of the same folder (default 300)."""
NO_EXCHANGE_ENV = "ACCESS_SIM_NO_RENAME_EXCHANGE"
"""Set to 1 to swap with two renames even where ``RENAME_EXCHANGE`` works (tests)."""


# --------------------------------------------------------------------------- permissions


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux's
    ``/proc/self/status``); elsewhere set and restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets from ``open()``: ``0o666`` less the umask (``mkstemp`` gives
    ``0o600`` whatever the umask)."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode a new folder gets from ``mkdir``: ``0o777`` less the umask (``mkdtemp``
    gives ``0o700``)."""
    return 0o777 & ~current_umask()


# --------------------------------------------------------------------------- the marker


def marker_text() -> str:
    """The content of a new marker file."""
    return json.dumps({"kind": MARKER_KIND, "format_version": FORMAT_VERSION,
                       "package_version": package_version(), "pid": os.getpid(),
                       "host": socket.gethostname(),
                       "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")},
                      indent=1) + "\n"


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of ``folder`` when it holds a valid one of ours (a regular file, not a
    link), else None."""
    path = folder / MARKER_FILE
    try:
        if not path.is_file() or path.is_symlink():
            return None
        with path.open("rb") as f:
            raw = f.read(_MARKER_MAX_BYTES + 1)
        if len(raw) > _MARKER_MAX_BYTES:
            return None
        data = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("kind") != MARKER_KIND:
        return None
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return None
    return data


# --------------------------------------------------------------------------- what out is


def target_folder(out: Path) -> Path:
    """The real folder a result for ``out`` goes to: ``out`` with symbolic links resolved.

    Raises
    ------
    ResultsError
        ``out`` is a link to a file, a dangling link or a link loop, a file, or the current
        folder (or one holding it), the home folder or ``/``.
    """
    try:
        return _target_folder(out)
    except OSError as e:
        raise ResultsError(f"cannot use this folder: {e.strerror or e}", file=str(out)) \
            from None


def _target_folder(out: Path) -> Path:
    shown = str(out)
    if out.is_symlink():
        try:
            real = Path(os.path.realpath(out, strict=True))
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ResultsError("is a symbolic link loop: give a folder", file=shown) \
                    from None
            raise ResultsError(f"is a symbolic link to {os.readlink(out)!r}, which does not "
                               "exist: give a folder (or create it)", file=shown) from None
        if not real.is_dir():
            raise ResultsError(f"is a symbolic link to a file ({real}), not a folder: give "
                               "a folder", file=shown)
    else:
        real = Path(os.path.realpath(out))
    if real.exists() and not real.is_dir():
        raise ResultsError("exists and is not a folder", file=shown)
    cwd = Path(os.path.realpath(os.getcwd()))
    home = Path(os.path.realpath(os.path.expanduser("~")))
    if real == cwd or real in cwd.parents:
        raise ResultsError("is the current folder or holds it: give a subfolder for the "
                           "results", file=shown)
    if real == home or real.parent == real:
        raise ResultsError("is the home folder or the root: give a subfolder for the "
                           "results", file=shown)
    return real


def _legacy_result(folder: Path, entries: list[os.DirEntry[str]]) -> bool:
    """A result of an older version (no marker): only our files, a summary of our shape."""
    for e in entries:
        if e.is_symlink():
            return False
        if e.name in RESULT_FILES:
            if not e.is_file():
                return False
        elif e.name in RESULT_DIRS and e.is_dir():
            try:
                if any(f.is_symlink() or not f.is_file() or not f.name.endswith(".png")
                       for f in os.scandir(e.path)):
                    return False
            except OSError:
                return False
        else:
            return False
    try:
        check_summary_file(folder / SUMMARY_FILE)
    except ResultsError:
        return False
    return True


def _tree(folder: Path, limit: int = 10_000) -> list[str] | None:
    """Every path below ``folder`` (folders end in ``/``), links not followed; None when
    there are more than ``limit``."""
    out: list[str] = []
    for root, dirs, files in os.walk(folder):
        rel = os.path.relpath(root, folder)
        prefix = "" if rel == "." else rel + "/"
        for d in list(dirs):
            if os.path.islink(os.path.join(root, d)):
                dirs.remove(d)
                files.append(d)
            else:
                out.append(prefix + d + "/")
        out += [prefix + f for f in files]
        if len(out) > limit:
            return None
    return out


def _stray(folder: Path, marker: dict[str, Any]) -> str | None:
    """The first path in a result folder of ours that the result did not write (a file a
    user put there), else None."""
    listed = marker.get("files")
    if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
        names = sorted(os.listdir(folder))
        return next((n for n in names if n not in RESULT_FILES and n not in RESULT_DIRS),
                    None)
    known = {*listed, MARKER_FILE, *LATER_FILES}
    found = _tree(folder)
    if found is None:
        return "more than 10000 files"
    strays = [p for p in sorted(found) if p not in known]
    return next((p for p in strays if not p.endswith("/")), strays[0] if strays else None)


def _foreign_reason(folder: Path) -> str | None:
    """None when ``folder`` may be replaced without ``overwrite``, else why not."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    if not entries:
        return None
    marker = read_marker(folder)
    if marker is not None:
        stray = _stray(folder, marker)
        if stray is None:
            return None
        return (f"holds {_short(stray.rstrip('/'))}, which is not part of the result there: "
                "move it away, or use --overwrite to replace the folder anyway")
    if _legacy_result(folder, entries):
        return None
    return "folder is not empty and holds no previous result; use --overwrite to replace it"


def _final_marker(tmp: Path) -> None:
    """Rewrite the marker of a finished folder with the list of what it holds."""
    data = json.loads(marker_text())
    data["files"] = sorted(p for p in (_tree(tmp) or []) if p != MARKER_FILE)
    part = tmp / f"{MARKER_FILE}.part"
    part.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(part, tmp / MARKER_FILE)


def _short(name: str) -> str:
    text = repr(name if len(name) <= 60 else name[:57] + "...")
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def refuse_unless_replaceable(real: Path, *, overwrite: bool, shown: str,
                              linked: bool = False) -> None:
    """Refuse a non-empty folder that is not ours, unless ``overwrite``; through a symbolic
    link (``linked``), even with ``overwrite``: files outside are never deleted via a link.

    Raises
    ------
    ResultsError
    """
    try:
        if (overwrite and not linked) or not real.is_dir():
            return
        reason = _foreign_reason(real)
    except OSError as e:
        raise ResultsError(f"cannot read this folder: {e.strerror or e}", file=shown) \
            from None
    if reason is not None and linked:
        raise ResultsError(f"is a symbolic link to {_short(str(real))}, which is not empty and "
                           "not an access-sim result: it is not replaced through a link, "
                           "even with --overwrite; give the folder itself", file=shown)
    if reason is not None:
        raise ResultsError(reason, file=shown)


# --------------------------------------------------------------------------- the lock


def _lock_timeout() -> float:
    try:
        return max(0.0, float(os.environ.get(LOCK_TIMEOUT_ENV, "300")))
    except ValueError:
        return 300.0


def _lock_path(real: Path) -> Path:
    return real.with_name(f".{real.name}.lock")


@contextlib.contextmanager
def folder_lock(real: Path, *, shown: str, timeout_s: float | None = None,
                wait: bool = True) -> Iterator[bool]:
    """Hold the lock of the result folder ``real`` (``flock`` on ``.<name>.lock`` beside it).

    Yields True when held; with ``wait=False``, False at once when another process holds it.
    The lock file is removed on release (a waiter notices and locks the new one).

    Raises
    ------
    ResultsError
        The lock file cannot be created, or another writer held it for ``timeout_s``.
    """
    if fcntl is None:  # pragma: no cover - not POSIX
        yield True
        return
    path = _lock_path(real)
    timeout = _lock_timeout() if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise ResultsError(f"cannot create the lock file {path.name}: "
                               f"{e.strerror or e}", file=shown) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_pid(fd)
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ResultsError(f"cannot lock {path.name}: {e.strerror or e}",
                                   file=shown) from None
            if not wait:
                yield False
                return
            if time.monotonic() >= deadline:
                raise ResultsError(
                    f"another access-sim{f' (pid {holder})' if holder else ''} has been "
                    f"writing this folder for {timeout:g} s; try again when it is done "
                    f"(or set {LOCK_TIMEOUT_ENV})", file=shown) from None
            time.sleep(0.05)
            continue
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except OSError:
            same = False
        if same:
            break
        os.close(fd)  # removed by its previous holder after we opened it: lock the new one
    try:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        yield True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- recovery


_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old|trash)-(?P<pid>\d{1,10})"
                       r"(?:-[A-Za-z0-9_]+)?$", re.DOTALL)


def _pid_dead(pid: int) -> bool:
    """The process is gone (our own pid counts as gone: the caller holds the lock, so no
    writer of this process uses the folder)."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False
    return False


def _is_plain_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _remove_tree(path: Path) -> None:
    """Delete a folder of ours; symbolic links inside are removed, never followed."""
    if path.is_symlink():
        path.unlink(missing_ok=True)
        return
    shutil.rmtree(path, ignore_errors=True)


def recover(real: Path) -> list[str]:
    """Undo what a killed writer of ``real`` left beside it; call holding its lock.

    A ``.<name>.old-<pid>`` of a dead process is renamed back to ``real`` when ``real`` is
    missing (a kill between the two renames), else deleted when it is ours; ``.tmp-`` folders
    of a dead process that are ours (marker) or empty, and its ``.trash-`` folders, are
    deleted. Returns what was done (one phrase per folder).
    """
    done: list[str] = []
    parent, name = real.parent, real.name
    try:
        entries = sorted(os.scandir(parent), key=lambda e: e.name)
    except OSError:
        return done
    olds = []
    for e in entries:
        m = _LEFTOVER.match(e.name)
        if m is None or m["name"] != name or not _pid_dead(int(m["pid"])):
            continue
        path = Path(e.path)
        if not _is_plain_dir(path):
            continue
        if m["kind"] == "old":
            olds.append(path)
        elif m["kind"] == "trash":
            _remove_tree(path)
            done.append(f"deleted {e.name}")
        else:
            try:
                empty = not any(os.scandir(path))
            except OSError:
                continue
            if empty or read_marker(path) is not None:
                _remove_tree(path)
                done.append(f"deleted {e.name}")
    for path in olds:
        if not os.path.lexists(real):
            with _signals_deferred():
                os.rename(path, real)
            done.append(f"restored {path.name} to {name}")
        elif read_marker(path) is not None or _foreign_reason(path) is None:
            _remove_tree(path)
            done.append(f"deleted {path.name}")
    return done


def clean_stale(parent: Path) -> list[str]:
    """:func:`recover` every result folder of ``parent`` that a killed writer left
    something of (each under its lock, skipped when another process holds it)."""
    done: list[str] = []
    try:
        names = sorted({m["name"] for e in os.scandir(parent)
                        if (m := _LEFTOVER.match(e.name)) is not None})
    except OSError:
        return done
    for name in names:
        real = parent / name
        try:
            with folder_lock(real, shown=str(real), wait=False) as held:
                if held:
                    done += recover(real)
        except (ResultsError, OSError):
            continue
    return done


def recover_missing(folder: Path) -> None:
    """Before reading ``folder``: when it is missing and a killed writer left its previous
    result aside, put it back (best effort: a read-only parent is left as it is)."""
    if os.path.lexists(folder):
        return
    real = Path(os.path.realpath(folder))
    try:
        if not any(_LEFTOVER.match(e.name) and e.name.startswith(f".{real.name}.old-")
                   for e in os.scandir(real.parent)):
            return
        with folder_lock(real, shown=str(folder), timeout_s=10) as held:
            if held:
                recover(real)
    except (ResultsError, OSError):
        return


# --------------------------------------------------------------------------- writing


def _fsync_tree(folder: Path) -> None:
    """Flush the files and folders of ``folder`` to disk (a power cut after the swap must
    not leave a half-written result)."""
    for root, dirs, files in os.walk(folder):
        for fname in files:
            p = os.path.join(root, fname)
            if os.path.islink(p):
                continue
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(root))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False when the
    system or the file system cannot."""
    if not sys.platform.startswith("linux") or os.environ.get(NO_EXCHANGE_ENV) == "1":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                   ctypes.c_uint]
    fn.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_into_place(tmp: Path, real: Path) -> None:
    """Put the complete folder ``tmp`` at ``real``, replacing what is there; the replaced
    folder is deleted. Ctrl-C and SIGTERM wait until ``real`` holds the new folder."""
    trash = real.with_name(f".{real.name}.trash-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with _signals_deferred():
            if not os.path.lexists(real):
                os.replace(tmp, real)
                _fsync_dir(real.parent)
                return
            if _exchange(tmp, real):
                # ``real`` holds the new result, ``tmp`` the old one.
                _fsync_dir(real.parent)
                os.replace(tmp, trash)
            else:
                old = real.with_name(f".{real.name}.old-{os.getpid()}")
                os.replace(real, old)
                try:
                    os.replace(tmp, real)
                except BaseException:
                    os.replace(old, real)  # put the previous result back
                    raise
                _fsync_dir(real.parent)
                os.replace(old, trash)
    finally:
        # Also when a signal held during the renames is delivered: a second one here
        # leaves the trash folder to the next writer's recovery.
        if os.path.lexists(trash):
            _remove_tree(trash)


def write_result_folder(out: Path, write: Callable[[Path], None], *,
                        overwrite: bool) -> Path:
    """Write a result folder safely: resolve ``out`` (:func:`target_folder`), lock it,
    recover after a killed writer, refuse a folder that is not ours (unless ``overwrite``),
    ``write(tmp)`` the files into a temporary sibling (holding the marker from the start)
    and swap it into place.

    Returns the folder written (``out`` itself; for a link, the link).

    Raises
    ------
    ResultsError
    """
    shown = str(out)
    real = target_folder(out)
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ResultsError(f"cannot write: {e.strerror or e}", file=shown) from None
    with folder_lock(real, shown=shown):
        try:
            recover(real)
        except OSError as e:
            raise ResultsError(f"cannot recover after an interrupted run: {e.strerror or e}",
                               file=shown) from None
        clean_stale(real.parent)
        if os.path.lexists(real) and not _is_plain_dir(real):
            raise ResultsError("exists and is not a folder", file=shown)
        refuse_unless_replaceable(real, overwrite=overwrite, shown=shown,
                                  linked=out.is_symlink())
        try:
            tmp = real.with_name(f".{real.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
            tmp.mkdir()
            # A result folder is shared like any folder the user makes: the umask decides
            # (mkdir applies it; chmod again in case a default ACL or the platform did not).
            os.chmod(tmp, dir_mode())
            (tmp / MARKER_FILE).write_text(marker_text(), encoding="utf-8")
        except OSError as e:
            raise ResultsError(f"cannot write: {e.strerror or e}", file=shown) from None
        try:
            try:
                write(tmp)
                _final_marker(tmp)
                _fsync_tree(tmp)
                swap_into_place(tmp, real)
            except OSError as e:
                raise ResultsError(f"cannot write: {e.strerror or e}"
                                   + (f" ({Path(e.filename).name})" if e.filename else ""),
                                   file=shown) from None
        except BaseException:
            with _signals_deferred():
                if os.path.lexists(tmp):
                    _remove_tree(tmp)
            raise
    return out


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block is done, then deliver the first one."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: object) -> None:
        caught.append(signum)

    saved = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        if caught:
            signal.raise_signal(caught[0])
