"""Local paths from the names Spark programs give them: a path, or a file: URI.

Spark names files through Hadoop's FileSystem, so a PySpark program writes
`file:///data/logs` or `file:/data/logs` as often as `/data/logs`. minibig
reads and writes the local filesystem (shared by the workers): a file: URI
means its path, for input (textFile, pickleFile, ...), output (saveAs...) and
the checkpoint folder alike. A URI of another filesystem (hdfs://, s3a://)
is refused with an InvalidArgumentError, not taken for a relative folder
named "hdfs:". A name without "//" after its colon ("notes:2024") is a path.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote

from minibig.errors import InvalidArgumentError

_FILE_URI = re.compile(r"^file:", re.IGNORECASE)
_OTHER_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def local_path(name) -> str:
    """`name` as a local path: file:/p, file:///p and file://localhost/p are /p.

    >>> local_path("file:///tmp/logs"), local_path("file:/tmp/logs"), local_path("logs/a b")
    ('/tmp/logs', '/tmp/logs', 'logs/a b')
    >>> local_path("file:///tmp/c#notes?v2"), local_path("file://localhost/tmp/a%20b")
    ('/tmp/c#notes?v2', '/tmp/a b')
    >>> local_path("hdfs://namenode/logs")
    Traceback (most recent call last):
    ...
    minibig.errors.InvalidArgumentError: hdfs://namenode/logs: minibig reads and writes local paths (or file: URIs), not hdfs:
    """
    name = str(name)
    if _FILE_URI.match(name):
        return _path_of_file_uri(name)
    if _OTHER_URI.match(name):
        scheme = name.split(":", 1)[0]
        raise InvalidArgumentError(
            f"{name}: minibig reads and writes local paths (or file: URIs), not {scheme}:")
    return name


def absolute_local_path(name) -> str:
    """`local_path(name)` with a leading ~ expanded, made absolute: the path every worker
    finds, whatever its own folder."""
    return os.path.abspath(os.path.expanduser(local_path(name)))


def _path_of_file_uri(uri: str) -> str:
    """The path of a file: URI, all of it after the host: a '#' or '?' in a file's name is
    part of the name, as in Hadoop's Path (urlparse would cut it off as a fragment or a
    query, and read or write another file); %XX escapes decoded, as pathlib writes them."""
    rest = uri[len("file:"):]
    if rest.startswith("//"):
        host, slash, path = rest[2:].partition("/")
        if host.lower() not in ("", "localhost"):
            raise InvalidArgumentError(f"{uri}: a file: URI names a local path; "
                                       f"host {host!r} is not this machine")
        rest = slash + path
    return unquote(rest)


def file_uri(path: str) -> str:
    """The file: URI Spark gives for a local absolute path (file:/p).

    >>> file_uri("/tmp/checkpoints/rdd-3")
    'file:/tmp/checkpoints/rdd-3'
    """
    return "file:" + path
