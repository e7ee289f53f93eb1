"""A worker's scratch folder: locked for its worker's life, swept once the worker is gone.

A worker keeps its shuffle blocks, spilled runs, partitions cached on disk
and shipped files in one temporary folder, removed when it exits. A worker
killed with SIGKILL (or by the kernel's OOM killer) cannot remove it. So the
worker holds an exclusive `flock` on the folder's `.owner` file for as long
as it lives (the kernel releases it when the process dies, however it dies,
and it means the same across PID namespaces sharing the folder), and every
worker that starts on the machine first removes the folders whose lock it
can take: their owners are gone.

The folder is made under a name sweepers ignore, its `.owner` locked inside,
and only then renamed into place, so a sweeper never finds a folder without
a held `.owner` that is not abandoned. A folder with the prefix, this
user's, and no `.owner` at all is debris: a task still running when its
worker removed the folder made it again (with `os.makedirs`). It is swept
too. Folders are 0700 (`mkdtemp`), and the worker's umask keeps what it
writes inside 0600.
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import tempfile

PREFIXES = ("minibig-worker-", "minibig-inline-")
OWNER = ".owner"


class WorkDir:
    """A scratch folder held by this process until `release`."""

    def __init__(self, prefix: str = PREFIXES[0], root: str | None = None):
        if prefix not in PREFIXES:
            raise ValueError(f"unknown scratch folder prefix {prefix!r}")
        pending = tempfile.mkdtemp(prefix="." + prefix, dir=root)      # 0700
        self._fd = os.open(os.path.join(pending, OWNER), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.path = os.path.join(os.path.dirname(pending), os.path.basename(pending)[1:])
        os.rename(pending, self.path)        # mkdtemp's random part keeps the name unique

    def release(self) -> None:
        """Remove the folder and drop the lock."""
        if self._fd is None:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._fd)
        self._fd = None


def sweep_abandoned(root: str | None = None) -> list[str]:
    """Remove the scratch folders under `root` (the temp folder) whose owner is gone."""
    removed = []
    base = root or tempfile.gettempdir()
    for path in sorted(p for prefix in PREFIXES for p in glob.glob(os.path.join(base, prefix + "*"))):
        try:
            fd = os.open(os.path.join(path, OWNER), os.O_RDWR)
        except FileNotFoundError:
            if _is_mine(path):            # debris of a removed folder (see the module doc)
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
            continue
        except OSError:
            continue                      # another user's
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue                      # its worker is alive
        else:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed


def _is_mine(path: str) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return info.st_uid == os.getuid() and os.path.isdir(path) and not os.path.islink(path)
