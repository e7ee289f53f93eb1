"""Committing output files: all of a job's part files, or none of them.

Tasks write `part-NNNNN` files under `<output>/_temporary/` with a name unique
to their attempt, and return that name. When every partition has a committed
attempt, the driver renames each partition's file into place, deletes
`_temporary` (with whatever failed or duplicate attempts left there) and
writes `_SUCCESS`. If the job fails, the output folder is removed, so a
failed job never leaves a partial output behind.
"""

from __future__ import annotations

import bz2
import gzip
import os
import shutil
import time
import uuid

from minibig.core.paths import absolute_local_path
from minibig.errors import OutputExistsError

TEMPORARY = "_temporary"


def _codec_suffix(codec: str | None) -> str:
    if not codec:
        return ""
    if "gzip" in codec.lower():
        return ".gz"
    if "bzip2" in codec.lower():
        return ".bz2"
    raise ValueError(f"unsupported compression codec {codec!r} "
                     "(supported: GzipCodec, BZip2Codec)")


def prepare_output_dir(path: str) -> str:
    """Create the output folder (a path or a file: URI; ~ is the home folder, as for
    input) and its _temporary folder; refuse an existing one."""
    path = absolute_local_path(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        # One mkdir, so that of two jobs writing to the same path at once exactly one gets it.
        os.mkdir(path)
    except FileExistsError:
        raise OutputExistsError(f"output directory {path} already exists") from None
    os.mkdir(os.path.join(path, TEMPORARY))
    return path


def write_records(path: str, split: int, records, suffix: str, to_bytes) -> str:
    """Write one partition's records under _temporary; return the file's name there."""
    name = f"part-{split:05d}{suffix}.{uuid.uuid4().hex}"
    target = os.path.join(path, TEMPORARY, name)
    opener = {".gz": gzip.open, ".bz2": bz2.open}.get(suffix, open)
    with opener(target, "wb") as out:
        to_bytes(records, out)
    return name


def commit_job(path: str, names: list[str]) -> None:
    """Rename each partition's attempt into place, drop _temporary, write _SUCCESS."""
    temporary = os.path.join(path, TEMPORARY)
    for name in names:
        final = name.rsplit(".", 1)[0]
        os.replace(os.path.join(temporary, name), os.path.join(path, final))
    remove_tree(temporary)
    with open(os.path.join(path, "_SUCCESS"), "wb"):
        pass


def remove_tree(path: str, attempts: int = 40) -> None:
    """Remove a folder, again if a straggling attempt wrote into it meanwhile.

    A speculative or cancelled task attempt may still be creating its file
    while the folder is removed; the removal then fails on a non-empty
    folder, and is retried. Once the folder is gone, a late attempt cannot
    open its file (the folder is not re-created), so nothing is left behind.
    """
    for _ in range(attempts):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            return
        time.sleep(0.05)


def save_partitions(rdd, path: str, suffix: str, to_bytes) -> None:
    """Run a job writing every partition of `rdd` with `to_bytes(records, file)`."""
    path = prepare_output_dir(path)
    try:
        names = rdd.mapPartitionsWithIndex(
            lambda split, it: [write_records(path, split, it, suffix, to_bytes)]).collect()
        commit_job(path, names)
    except BaseException:
        remove_tree(path)
        raise


def _text_line(record) -> bytes:
    # As PySpark: bytes as they are, except that what is not UTF-8 becomes U+FFFD (its JVM
    # makes a String of them); a str as it is (a subclass's own __str__ unused); anything
    # else, bytearray included, as str(record) (not format(), which a class may define
    # apart), in UTF-8; a lone surrogate refused with UnicodeEncodeError, as PySpark's
    # str.encode("utf-8") refuses it.
    if type(record) is str:
        return f"{record}\n".encode("utf-8")
    if isinstance(record, bytes):
        data = bytes(record)
        if not data.isascii():
            data = data.decode("utf-8", "replace").encode("utf-8")
        return data + b"\n"
    text = str.__str__(record) if isinstance(record, str) else str(record)
    return f"{text}\n".encode("utf-8")


def _text_lines(records, out) -> None:
    out.writelines(map(_text_line, records))


def save_as_text_file(rdd, path: str, codec: str | None = None) -> None:
    """saveAsTextFile: one str(record) per line, in part-NNNNN files."""
    save_partitions(rdd, path, _codec_suffix(codec), _text_lines)
