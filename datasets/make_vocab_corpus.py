"""Build a word-count corpus with a realistic vocabulary: over a million distinct words.

`make_big_corpus.py` repeats a few novels and system docs, whose vocabulary
is small (tens of thousands of words): a word count over it combines almost
everything map-side and hides the cost of the shuffle. This corpus is real
text with a large vocabulary:

- the GNU Collaborative International Dictionary of English (Debian package
  `dict-gcide`) and WordNet 3.0 (`dict-wn`), fetched with `apt-get download`
  and unpacked with `dpkg-deb -x` (the `.dict.dz` files are dictzip, i.e.
  gzip-readable);
- the records of every package apt knows (`apt-cache dumpavail`, less its
  checksum, size and file-name fields): names, relations, descriptions.

Each source is lowercased (so every way of writing word count, with or
without `.lower()`, gives the same answer) and written once, in that order;
then the whole sequence is repeated until `--size-mb`, cut at a line
boundary. Splitting on whitespace gives the words. On Debian 12 one pass is
about 104 MB with about 1.0M distinct words; the default output is 200 MiB.

    python datasets/make_vocab_corpus.py            # -> datasets/big/vocab.txt

Already-downloaded packages are reused from `--cache` (default /tmp/minibig-dicts).
"""

from __future__ import annotations

import argparse
import glob
import gzip
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGES = ("dict-gcide", "dict-wn")


def unpacked_dictionaries(cache: str) -> list[str]:
    """The `.dict.dz` files of PACKAGES, downloaded and unpacked into `cache` if needed."""
    tree = os.path.join(cache, "tree")
    os.makedirs(tree, exist_ok=True)
    for package in PACKAGES:
        debs = glob.glob(os.path.join(cache, f"{package}_*.deb"))
        if not debs:
            subprocess.run(["apt-get", "download", package], cwd=cache, check=True)
            debs = glob.glob(os.path.join(cache, f"{package}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", debs[0], tree], check=True)
    return sorted(glob.glob(os.path.join(tree, "usr", "share", "dictd", "*.dict.dz")))


_NOT_TEXT = ("MD5sum:", "SHA1:", "SHA256:", "Description-md5:", "Size:", "Installed-Size:",
             "Filename:")


def package_records() -> str:
    """`apt-cache dumpavail` without its checksum, size and file-name fields.

    What is left is the packages' names, versions, maintainers, relations,
    sections, tags, home pages and descriptions: real identifiers, which is
    where most of the vocabulary comes from.
    """
    out = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, check=True).stdout
    lines = out.decode("utf-8", "replace").splitlines()
    return "\n".join(line for line in lines if not line.startswith(_NOT_TEXT)) + "\n"


def sources(cache: str) -> list[tuple[str, str]]:
    """(name, lowercased text) of each source, in order."""
    texts = [(os.path.basename(p), gzip.open(p, "rb").read().decode("utf-8", "replace"))
             for p in unpacked_dictionaries(cache)]
    texts.append(("apt-cache dumpavail (no checksums)", package_records()))
    return [(name, text.lower()) for name, text in texts]


def write_corpus(path: str, texts: list[str], limit: int) -> int:
    """Write `texts` over and over to `path` until `limit` bytes (cut at a line); return the size."""
    data = [t.encode("utf-8") for t in texts if t]
    written = 0
    with open(path, "wb") as f:
        while written < limit:
            for chunk in data:
                room = limit - written
                if len(chunk) > room:
                    chunk = chunk[:chunk.rfind(b"\n", 0, room) + 1]
                f.write(chunk)
                written += len(chunk)
                if written >= limit or not chunk:
                    return written
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=200, help="MiB to write (default 200)")
    parser.add_argument("--out", default=os.path.join(HERE, "big", "vocab.txt"))
    parser.add_argument("--cache", default="/tmp/minibig-dicts")
    args = parser.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    named = sources(args.cache)
    vocabulary: set = set()
    for name, text in named:
        words = text.split()
        vocabulary.update(words)
        print(f"{name}: {len(text.encode()) / 1e6:.1f} MB, {len(words):,} words", file=sys.stderr)
    size = write_corpus(args.out, [t for _, t in named], int(args.size_mb * (1 << 20)))
    print(f"{args.out}: {size:,} bytes, {len(vocabulary):,} distinct words", file=sys.stderr)


if __name__ == "__main__":
    main()
