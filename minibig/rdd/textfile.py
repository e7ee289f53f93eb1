"""textFile and wholeTextFiles: files cut into byte-range splits at line boundaries.

A line ends at "\n", "\r\n" or a lone "\r", as in Hadoop's LineReader (and
Python's universal newlines), and the terminator is not part of the record.
A split [start, end) of a plain file owns, as in Hadoop's LineRecordReader,
every line whose first byte lies in (start, end], and the split at 0 the
file's first line: a split that does not start at 0 first skips to the end of
the line holding byte start (the previous split reads that line), and a
split reads on to the end of the line holding byte end. So every line is
read by exactly one split, whatever the split size, even one byte, and a
partition holds the lines PySpark's does. Compressed files
(.gz, .bz2, .xz) cannot be cut and become one split each. Split size follows
Hadoop's rule: max(1, min(total / minPartitions, block size)), where total
counts every file, compressed ones too. A UTF-8 byte order mark at the start
of a file is not part of its first line (Hadoop's LineRecordReader drops it),
and a file that is nothing but the mark has no line. A compressed file that
cannot be decompressed raises its error's type, the file named.

Input is UTF-8. As in PySpark (whose JVM decodes each line with Hadoop's
Text, replacing what is not UTF-8), each undecodable byte sequence becomes
U+FFFD, both in `str` lines and, with use_unicode=False, in the UTF-8
encoded `bytes` lines. Unlike PySpark, not silently: every replacement is
counted in the job's summary (`sc.lastJob.counters["replaced_characters"]`)
and the driver logs a warning naming how many.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import itertools
import lzma
import os
import re
import zlib

from minibig.core.paths import absolute_local_path, file_uri
from minibig.errors import InputPathError, InvalidArgumentError
from minibig.rdd.base import RDD

CHUNK = 4 << 20
REPLACED = "replaced_characters"         # the job counter of U+FFFD put for undecodable bytes
_FFFD = "\ufffd".encode("utf-8")
_BOM = "\ufeff".encode("utf-8")
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def expand_paths(path: str, subfolders: str = "refuse") -> list[str]:
    """Files named by a path (or file: URI), a directory, a glob, or a comma-separated list
    of them; absolute, so that the workers read what the driver's folder names.

    As Hadoop's FileInputFormat: a glob may hold *, ?, [ab], [^ab] and {a,b}, and a
    backslash makes the next character plain (a file named a[1].txt is a\\[1\\].txt);
    the commas of a {a,b} do not cut the list; a glob, and a directory's listing, leave out
    names that start with "." or "_" (_SUCCESS, .crc files); a directory's files are listed
    one level deep, and a folder inside it is refused (subfolders="refuse", as textFile) or
    skipped ("skip", as wholeTextFiles). A file named in full is read whatever its name.
    """
    files: list[str] = []
    for part in split_path_list(str(path)):
        part = absolute_local_path(part)
        patterns = expand_braces(part)
        if patterns != [part] or has_wildcard(part):
            matches = sorted({m for p in patterns for m in glob.glob(python_glob(p))
                              if not _hidden(m)})
            if not matches:
                raise InputPathError(f"input pattern {part} matches 0 files")
        else:
            matches = [unescape(part)]
        for match in matches:
            if os.path.isdir(match):
                files.extend(_folder_files(match, subfolders))
            elif os.path.isfile(match):
                files.append(match)
            else:
                raise InputPathError(f"input path does not exist: {part}")
    return files


def _characters(pattern: str):
    """(character, escaped) for each character of a Hadoop glob; a backslash escapes the next."""
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            yield next(chars, "\\"), True
        else:
            yield char, False


def has_wildcard(pattern: str) -> bool:
    """Whether a Hadoop glob holds a *, ? or [ that is not escaped."""
    return any(char in "*?[" and not escaped for char, escaped in _characters(pattern))


def unescape(pattern: str) -> str:
    """The path a Hadoop glob without wildcards names: its escaping backslashes dropped.

    >>> unescape(r"logs/a\\[1\\].txt")
    'logs/a[1].txt'
    """
    return "".join(char for char, _ in _characters(pattern))


def python_glob(pattern: str) -> str:
    """A Hadoop glob (no braces left) as Python's glob writes it: escaped characters plain,
    [^ab] as [!ab].

    >>> python_glob(r"logs/a\\[1\\]-[^x]*.txt")
    'logs/a[[]1]-[!x]*.txt'
    """
    out, previous = [], None
    for char, escaped in _characters(pattern):
        if escaped:
            out.append(glob.escape(char))
        elif char == "^" and previous == "[":
            out.append("!")
        else:
            out.append(char)
        previous = None if escaped else char
    return "".join(out)


def _hidden(path: str) -> bool:
    return os.path.basename(path).startswith((".", "_"))


def _folder_files(folder: str, subfolders: str) -> list[str]:
    """The files of a folder, by name, hidden ones left out; a subfolder refused or skipped."""
    found = []
    for name in sorted(os.listdir(folder)):
        full = os.path.join(folder, name)
        if _hidden(name):
            continue
        if os.path.isdir(full):
            if subfolders == "refuse":
                raise InputPathError(f"input folder {folder} holds a folder, {name}: as in "
                                     "Hadoop, a folder's files are read, not its subfolders "
                                     f"(name them with a glob: {folder}/*)")
            continue
        found.append(full)
    return found


def split_path_list(path: str) -> list[str]:
    """The paths of a comma-separated list, as Hadoop cuts it: not at a comma inside {}.

    >>> split_path_list("a.txt,logs/{x,y}/*, b")
    ['a.txt', 'logs/{x,y}/*', 'b']
    """
    parts, depth, start = [], 0, 0
    for i, char in enumerate(path):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if char == "," and depth <= 0:
            parts.append(path[start:i])
            start = i + 1
    parts.append(path[start:])
    stripped = [p.strip() for p in parts]
    if "" in stripped:
        raise InvalidArgumentError(f"input path {path!r} names an empty path")
    return stripped


def expand_braces(pattern: str) -> list[str]:
    """The patterns a {a,b} alternation (nested or not) stands for; Python's glob has none.
    An escaped brace or comma (\\{) is plain.

    >>> expand_braces("logs/{2024,2025-{01,02}}/*.gz")
    ['logs/2024/*.gz', 'logs/2025-01/*.gz', 'logs/2025-02/*.gz']
    """
    depth, start, cuts, i = 0, -1, [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            start = i if depth == 0 else start
            depth += 1
        elif char == "," and depth == 1:
            cuts.append(i)
        elif char == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                head, tail = pattern[:start], expand_braces(pattern[i + 1:])
                bounds = [start] + cuts + [i]
                options = [pattern[a + 1:b] for a, b in zip(bounds, bounds[1:])]
                return [head + o + t for option in options for o in expand_braces(option)
                        for t in tail]
        i += 1
    return [pattern]


def plan_splits(files: list[str], min_partitions: int, block_size: int) -> list[tuple]:
    """(path, start, end) splits; end is None for a whole compressed file; an empty file has
    none."""
    sizes = {f: os.path.getsize(f) for f in files}
    total = sum(sizes.values())          # compressed files count too, as in Hadoop's goal size
    split_size = max(1, min(total // max(1, min_partitions) or 1, block_size))
    splits = []
    for f in files:
        if sizes[f] == 0:
            continue                     # as Spark (ignoreEmptySplits): no empty partition
        if os.path.splitext(f)[1] in _OPENERS:
            splits.append((f, 0, None))     # compressed: not cut
            continue
        size, start = sizes[f], 0
        while start < size:
            # Like Hadoop, let the last split be up to 10% bigger than the others.
            end = size if size - start <= split_size * 1.1 else start + split_size
            splits.append((f, start, end))
            start = end
    return splits


_TERMINATOR = re.compile(rb"\r\n|\r|\n")
_SPLIT_TEXT = re.compile("\r\n|\r|\n")
SKIP_CHUNK = 64 << 10


def decode_counting(data: bytes) -> tuple[str, int]:
    """`data` decoded as UTF-8, each undecodable sequence as U+FFFD; and how many were replaced."""
    try:
        return data.decode("utf-8"), 0
    except UnicodeDecodeError:
        text = data.decode("utf-8", "replace")
        # A U+FFFD already in the input is the valid sequence EF BF BD: not a replacement.
        return text, text.count("\ufffd") - data.count(_FFFD)


def _lines_of(block: bytes, use_unicode: bool, on_replaced=None) -> list:
    """The lines of a block that ends at a terminator (or at the end of the file).

    Terminators are ASCII, so a block cut after one never splits a UTF-8 sequence.
    """
    if use_unicode or not block.isascii():
        text, replaced = decode_counting(block)
        if replaced and on_replaced is not None:
            on_replaced(replaced)
        if not use_unicode:
            block = text.encode("utf-8") if replaced else block
    if use_unicode:
        lines = text.split("\n") if "\r" not in text else _SPLIT_TEXT.split(text)
    else:
        lines = block.split(b"\n") if b"\r" not in block else _TERMINATOR.split(block)
    if block.endswith((b"\n", b"\r")):
        lines.pop()                       # the empty string after the final terminator
    return lines


def _first_line_start(f, start: int) -> int:
    """Offset of the first line that begins at or after `start` (the file's size if none)."""
    if start == 0:
        return 0
    pos = start - 1
    f.seek(pos)
    while True:
        buf = f.read(SKIP_CHUNK)
        if not buf:
            return pos
        match = _TERMINATOR.search(buf)
        if match is not None:
            after = pos + match.end()
            if match.group() == b"\r" and match.end() == len(buf) and f.read(1) == b"\n":
                after += 1                # a "\r\n" cut by the read
            return after
        pos += len(buf)


def _complete_length(data: bytes) -> int:
    """Length of the prefix of `data` made of whole lines (a final "\r" may still get its "\n")."""
    last = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1))
    return last + 1


def read_split(path: str, start: int, end: int | None, use_unicode: bool = True,
               on_progress=None, on_replaced=None, keep_bom: bool = False):
    """The lines of one split, without their line terminators (an iterator).

    `on_progress(fraction)`, if given, hears how much of the split has been
    read after each chunk (the scheduler's speculation uses it);
    `on_replaced(n)` hears of each n undecodable sequences put as U+FFFD.
    The lines of each chunk are a list, chained in C: no generator step per line.
    A file's UTF-8 byte order mark is dropped, as Hadoop does, unless `keep_bom`
    (mrjob's runners hand the first line's bytes on as they are).
    """
    if end is None:
        blocks = _compressed_blocks(path, use_unicode, on_replaced)
    else:
        blocks = _split_blocks(path, start, end, use_unicode, on_progress, on_replaced)
    if start == 0 and not keep_bom:
        blocks = _without_bom(blocks, path)
    return itertools.chain.from_iterable(blocks)


def _without_bom(blocks, path: str):
    """The blocks of a file's start, the UTF-8 byte order mark dropped from its first line,
    as Hadoop's LineRecordReader does (wholeTextFiles keeps it, as Spark's); a file that is
    nothing but the mark (an empty file saved as "UTF-8 with BOM") has no line, as there."""
    lines = next(blocks, None)
    if lines is None:
        return
    first = lines[0]
    bom = "\ufeff" if isinstance(first, str) else _BOM
    if first.startswith(bom):
        lines[0] = first[len(bom):]
        if first == bom and len(lines) == 1 and _only_bom(path):
            return
    yield lines
    yield from blocks


def _only_bom(path: str) -> bool:
    with open_input(path) as f:
        return read_bytes(f, path, len(_BOM) + 1) == _BOM


def _split_blocks(path: str, start: int, end: int, use_unicode: bool, on_progress, on_replaced):
    """The lines of split [start, end) of a plain file, a list per chunk read: those whose
    first byte lies in (start, end], and the file's first line if start is 0."""
    with open(path, "rb") as f:
        base = _first_line_start(f, start + 1 if start else 0)    # file offset of data[0]
        if base > end:
            return
        f.seek(base)
        data = b""
        while True:
            to_end = end + 1 - base - len(data)
            # A line longer than a read makes each read at least as long as what is held,
            # so a long line is copied a few times, not once per read (80 MB in one line
            # took 108 s in 64 KB reads).
            held = len(data)
            chunk = f.read(min(max(CHUNK, held), to_end) if to_end > 0 else max(SKIP_CHUNK, held))
            data += chunk
            if on_progress is not None:
                on_progress(min(1.0, (base + len(data) - start) / max(1, end - start)))
            whole = len(data) if not chunk else _complete_length(data)
            owned = end + 1 - base             # lines starting before data[owned] are ours
            if owned <= whole:
                # The line holding byte owned - 1 is the split's last one.
                match = _TERMINATOR.search(data, owned - 1)
                yield _lines_of(data[:match.end() if match else len(data)], use_unicode, on_replaced)
                return
            if whole:
                yield _lines_of(data[:whole], use_unicode, on_replaced)
                data, base = data[whole:], base + whole
            if not chunk:
                return


def _compressed_blocks(path: str, use_unicode: bool, on_replaced=None):
    """The lines of a whole compressed file, a list per chunk of its decompressed bytes."""
    with open_input(path) as f:
        data = b""
        while True:
            chunk = read_bytes(f, path, max(CHUNK, len(data)))     # as _split_blocks
            data += chunk
            whole = len(data) if not chunk else _complete_length(data)
            if whole:
                yield _lines_of(data[:whole], use_unicode, on_replaced)
                data = data[whole:]
            if not chunk:
                return


class FileSplitRDD(RDD):
    """One partition per (path, start, end) byte range of the input files.

    Subclasses say how a range becomes records (`read`); the task's progress
    follows the bytes read, for speculation's progress rates.
    """

    def __init__(self, ctx, splits: list[tuple], path: str):
        super().__init__(ctx, [], len(splits))
        self.splits = splits
        self._name = path

    def compute(self, split: int, task):
        path, start, end = self.splits[split]
        return self.read(path, start, end, lambda fraction: setattr(task, "progress", fraction))

    def read(self, path: str, start: int, end: int, on_progress):
        """The records of bytes [start, end) of `path`."""
        raise NotImplementedError


class TextFileRDD(FileSplitRDD):
    """One record per line of the input files."""

    keep_bom = False                     # a subclass may keep a file's byte order mark

    def __init__(self, ctx, splits: list[tuple], path: str, use_unicode: bool = True):
        super().__init__(ctx, splits, path)
        self.use_unicode = use_unicode
        self.replaced = ctx._job_counter(REPLACED)

    def read(self, path: str, start: int, end: int, on_progress):
        return read_split(path, start, end, self.use_unicode, on_progress=on_progress,
                          on_replaced=self.replaced.add, keep_bom=self.keep_bom)


def plan_whole_files(files: list[str], min_partitions: int) -> list[list[str]]:
    """Neighbouring files packed into groups of about total / minPartitions bytes."""
    sizes = [os.path.getsize(f) for f in files]
    target = max(1, -(-sum(sizes) // max(1, min_partitions)))
    groups: list[list[str]] = []
    filled = 0
    for f, size in zip(files, sizes):
        if not groups or (filled + size > target and groups[-1]):
            groups.append([])
            filled = 0
        groups[-1].append(f)
        filled += size
    return groups


def open_input(path: str):
    """A file opened for its bytes, decompressed if its name says it is compressed
    (.gz, .bz2, .xz); for every reader of input files, so that they decompress alike."""
    return _OPENERS.get(os.path.splitext(path)[1], open)(path, "rb")


def read_bytes(f, path: str, size: int = -1) -> bytes:
    """`f.read(size)`; a compressed file that cannot be decompressed raises its error's type
    with the file named (gzip's "invalid code lengths set" said nothing of which file)."""
    try:
        return f.read(size)
    except (EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
        raise type(exc)(f"{path}: {exc} (a damaged or cut compressed file)") from exc


def read_whole(path: str) -> bytes:
    """A file's bytes, decompressed if its name says it is compressed."""
    with open_input(path) as f:
        return read_bytes(f, path)


class WholeFileRDD(RDD):
    """One (path, content) record per file; a partition reads a group of whole files, a
    file is never cut. Paths read "file:/absolute/path", as Spark writes local paths.
    Subclasses say what a file's content is (`content`)."""

    def __init__(self, ctx, groups: list[list[str]], path: str):
        super().__init__(ctx, [], len(groups))
        self.groups = groups
        self._name = path

    def compute(self, split: int, task):
        for path in self.groups[split]:
            yield self.content(file_uri(os.path.abspath(path)), path)

    def content(self, name: str, path: str) -> tuple:
        """The record of the file at `path`, named `name`."""
        raise NotImplementedError


class WholeTextFileRDD(WholeFileRDD):
    """One (path, text) record per file, as Spark's wholeTextFiles; compressed files are
    decompressed."""

    def __init__(self, ctx, groups: list[list[str]], path: str, use_unicode: bool = True):
        super().__init__(ctx, groups, path)
        self.use_unicode = use_unicode
        self.replaced = ctx._job_counter(REPLACED)

    def content(self, name: str, path: str) -> tuple:
        data = read_whole(path)
        text, replaced = decode_counting(data)
        self.replaced.add(replaced)
        if self.use_unicode:
            return name, text
        return name.encode("utf-8"), text.encode("utf-8") if replaced else data
