#!/usr/bin/env python3
"""Build a large plain-text corpus (hundreds of MB) out of real English text.

minibig ships only a few MB of text in ``datasets/text/`` (Jane Austen's six
novels).  Benchmarks of word count, inverted index and the like need much
more input than that, so this script makes it on demand instead of storing
it in git:

1. It gathers the source files:

   * always: every file in ``datasets/text/`` next to this script;
   * unless ``--no-system`` is given: English documentation text that a
     Debian/Ubuntu machine usually has: Vim's help files
     (``/usr/share/vim/vim*/doc/*.txt``), the licence texts in
     ``/usr/share/common-licenses/`` and the ``copyright`` files under
     ``/usr/share/doc/``.  Whatever of these is missing is skipped, so on
     a bare machine the corpus is just the shipped novels, repeated;
   * every file matched by an ``--extra GLOB`` option.

   Files are read in sorted path order and each text is used only once:
   symbolic links are resolved, and a file whose (normalised) content is
   identical to one already taken is dropped, as is a file that holds a
   NUL byte (taken for binary).  Debian ships many byte-identical
   copyright files (e.g. one per Boost library), hence the latter.  Text is decoded as UTF-8 (bad bytes
   become U+FFFD), line endings are normalised to ``\\n`` and every file is
   made to end with a newline, so no line of one file is glued to the next.

2. The concatenation of all sources is one "pass".  The output file is
   that pass written again and again until the next copy would overshoot
   ``--size-mb``; the last copy is cut at the last newline that still
   fits.  So the output is never larger than the target, is smaller by
   less than one line at most, and only ever contains whole lines.

The output depends only on the bytes of the inputs and the options: the
same machine and the same arguments give a byte-identical file.  It is
written to a temporary file next to ``--out`` and renamed into place at the
end, so a half-written corpus is never left under the final name.

Examples::

    python datasets/make_big_corpus.py                      # 256 MB
    python datasets/make_big_corpus.py --size-mb 1024 --out /tmp/corpus.txt
    python datasets/make_big_corpus.py --size-mb 32 --no-system

A summary (sources used, their sizes, the final size and time taken) is
printed to stderr.  Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHIPPED_DIR = os.path.join(HERE, "text")
DEFAULT_OUT = os.path.join(HERE, "big", "corpus.txt")

# Groups of optional system text: (label, glob patterns).  All of it is
# English prose or prose-like documentation, not program code.
SYSTEM_SOURCES = [
    ("vim help files", ["/usr/share/vim/vim*/doc/*.txt"]),
    ("common licences", ["/usr/share/common-licenses/*"]),
    ("Debian copyright files", ["/usr/share/doc/*/copyright"]),
]

MB = 1024 * 1024
WRITE_BLOCK = 64 * MB  # the pass is grown to about this much before writing


def expand(patterns: list[str]) -> list[str]:
    """Return the regular files matched by ``patterns``, sorted."""
    found = set()
    for pattern in patterns:
        for path in glob.glob(pattern, recursive=True):
            if os.path.isfile(path):
                found.add(os.path.abspath(path))
    return sorted(found)


def read_text(path: str) -> bytes | None:
    """Return the file as normalised UTF-8 bytes, or None to skip it.

    A file is skipped when it cannot be read, is empty or contains a NUL
    byte (a sign of binary data).
    """
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    if not raw or b"\0" in raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    return text.encode("utf-8")


def collect(groups: list[tuple[str, list[str]]]) -> tuple[list[bytes], list[str]]:
    """Read every group's files; return the chunks and a report per group."""
    chunks: list[bytes] = []
    report: list[str] = []
    seen: set[str] = set()
    digests: set[bytes] = set()
    for label, patterns in groups:
        n_files = n_bytes = skipped = dupes = 0
        for path in expand(patterns):
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            data = read_text(real)
            if data is None:
                skipped += 1
                continue
            digest = hashlib.sha256(data).digest()
            if digest in digests:
                dupes += 1
                continue
            digests.add(digest)
            chunks.append(data)
            n_files += 1
            n_bytes += len(data)
        line = f"  {label}: {n_files} files, {n_bytes / MB:.2f} MB"
        if dupes:
            line += f" ({dupes} duplicates dropped)"
        if skipped:
            line += f" ({skipped} skipped: unreadable, empty or binary)"
        if not n_files:
            line += " (none found)"
        report.append(line)
    return chunks, report


def last_newline_cut(data: bytes, limit: int) -> bytes:
    """The longest prefix of ``data`` of at most ``limit`` bytes that ends
    with a newline (possibly empty)."""
    if len(data) <= limit:
        return data
    end = data.rfind(b"\n", 0, limit)
    return data[: end + 1] if end >= 0 else b""


def write_corpus(pass_bytes: bytes, target: int, out: str) -> int:
    """Write ``pass_bytes`` repeatedly to ``out`` (at most ``target`` bytes,
    whole lines only).  Return the number of bytes written."""
    # Writing a few large blocks is much faster than many small writes.
    copies = max(1, WRITE_BLOCK // max(1, len(pass_bytes)))
    block = pass_bytes * copies
    directory = os.path.dirname(out) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = out + ".tmp"
    written = 0
    with open(tmp, "wb") as fh:
        while target - written >= len(block):
            fh.write(block)
            written += len(block)
        # What is left is smaller than one block: whole passes first, then
        # the cut last pass.
        while target - written >= len(pass_bytes):
            fh.write(pass_bytes)
            written += len(pass_bytes)
        tail = last_newline_cut(pass_bytes, target - written)
        fh.write(tail)
        written += len(tail)
    os.replace(tmp, out)
    return written


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build a big corpus of real English text by repeating "
        "datasets/text/* and any English documentation found on the machine.",
    )
    parser.add_argument(
        "--size-mb", type=float, default=256.0,
        help="target size in MiB (1 MiB = 1048576 bytes); the output is at most "
        "this big and ends at a line boundary (default: 256)",
    )
    parser.add_argument(
        "--out", default=DEFAULT_OUT,
        help="output file (default: datasets/big/corpus.txt next to this script)",
    )
    parser.add_argument(
        "--no-system", action="store_true",
        help="use only datasets/text/* and --extra files, not the system text "
        "(vim docs, licences, copyright files); gives the same output on any machine",
    )
    parser.add_argument(
        "--extra", action="append", default=[], metavar="GLOB",
        help="also use the files matching GLOB (may be repeated; '**' recurses)",
    )
    args = parser.parse_args(argv)
    if args.size_mb <= 0:
        parser.error("--size-mb must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()

    groups = [("shipped corpus " + SHIPPED_DIR, [os.path.join(SHIPPED_DIR, "*")])]
    if not args.no_system:
        groups += SYSTEM_SOURCES
    if args.extra:
        groups.append(("--extra files", args.extra))

    chunks, report = collect(groups)
    pass_bytes = b"".join(chunks)
    if not pass_bytes:
        print("make_big_corpus: no input text found (is datasets/text/ there?)",
              file=sys.stderr)
        return 1

    target = int(args.size_mb * MB)
    written = write_corpus(pass_bytes, target, args.out)
    elapsed = time.perf_counter() - started

    print("make_big_corpus: sources (in this order, sorted by path):", file=sys.stderr)
    for line in report:
        print(line, file=sys.stderr)
    print(f"  one pass: {len(chunks)} files, {len(pass_bytes)} bytes "
          f"({len(pass_bytes) / MB:.2f} MB)", file=sys.stderr)
    print(f"make_big_corpus: wrote {args.out}: {written} bytes "
          f"({written / MB:.1f} MB, {written / max(1, len(pass_bytes)):.1f} passes) "
          f"in {elapsed:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
