"""A job's input files, found and read as mrjob's inline and local runners find and read them.

mrjob lists each input path with its local filesystem's `ls`: a glob is
Python's (a name starting with "." is matched only by a pattern that names
the dot), and every folder, named or matched, is walked to the bottom, each
file in it read, names starting with "_" or "." included. A file's first
line keeps a UTF-8 byte order mark (mrjob hands the line's bytes on as they
are). The engine's `textFile` reads as Hadoop and PySpark do: a folder one
level deep (a folder inside it refused), `_` and `.` names left out, the
mark dropped. So the runner finds the files here and reads them with
`MRTextInput`, which is `textFile`'s reader keeping the mark (`keep_bom`).

Beyond mrjob, as `textFile`: a comma-separated list of paths, `{a,b}` in a
glob, `[^a]` as `[!a]`, and `~` and `file:` URIs. A path that exists is
taken as it is, even when its name holds a comma or glob characters.
"""

from __future__ import annotations

import glob
import os

from minibig.core.paths import absolute_local_path
from minibig.errors import InputPathError
from minibig.rdd.textfile import (TextFileRDD, expand_braces, plan_splits,
                                  split_path_list)

def input_files(paths: list[str]) -> list[str]:
    """The absolute paths of the files the job reads for `paths`, in order.

    Raises InputPathError naming a path that exists nowhere (or a glob that
    matches nothing), and the OSError of a folder that cannot be listed.
    """
    files: list[str] = []
    for path in paths:
        whole = absolute_local_path(path)
        parts = [whole] if os.path.exists(whole) else map(absolute_local_path, split_path_list(path))
        for part in parts:
            files.extend(_files_named(part))
    return files


def _files_named(path: str) -> list[str]:
    if os.path.exists(path):
        matches = [path]
    else:
        matches = sorted({m for p in expand_braces(path) for m in glob.glob(p.replace("[^", "[!"))})
        if not matches:
            raise InputPathError(f"input path does not exist: {path}")
    found: list[str] = []
    for match in matches:
        found.extend(_walk(match) if os.path.isdir(match) else [match])
    return found


def _walk(folder: str) -> list[str]:
    """Every file under `folder`, at any depth, hidden names included, sorted per folder."""
    found = []
    for top, folders, names in os.walk(folder, onerror=_raise, followlinks=True):
        folders.sort()
        found.extend(os.path.join(top, name) for name in sorted(names))
    return found


def _raise(error: OSError):
    raise error                  # an unreadable folder stops the job; its files are not skipped


def text_input(sc, files: list[str], min_partitions: int | None, name: str) -> "MRTextInput":
    """The lines of `files` as one dataset, cut as textFile cuts them."""
    wanted = sc.defaultMinPartitions if min_partitions is None else min_partitions
    return MRTextInput(sc, plan_splits(files, wanted, sc.conf.split_size), name)


class MRTextInput(TextFileRDD):
    """textFile's lines, with a UTF-8 byte order mark kept at the start of a file's first line
    (a file that is only the mark: one line, the mark)."""

    keep_bom = True
