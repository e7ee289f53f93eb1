"""Write the Debian package dependency graph of this machine's APT lists as a `src dst` edge file.

    python datasets/make_debian_graph.py --out datasets/big/debian.txt

Reads `apt-cache dumpavail` (every package the configured archives offer).
Each package P gets an edge P -> Q for every package Q named in its Depends,
Pre-Depends and Recommends fields, every alternative of `a | b` included.
Version constraints `(>= 1.2)`, architecture qualifiers (`:any`, `:amd64`),
architecture restrictions `[amd64]` and build profiles `<!nocheck>` are
stripped. Vertex ids are package names (str). A package listed twice
(several versions) contributes the edges of each; duplicates collapse when
the graph is loaded. The result depends on the machine's APT sources.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

FIELDS = ("Depends", "Pre-Depends", "Recommends")
_QUALIFIERS = re.compile(r"\([^)]*\)|\[[^]]*\]|<[^>]*>")


def dependency_names(value: str) -> list[str]:
    """Package names of a Depends-style field: every alternative, qualifiers stripped."""
    names = []
    for alternative in re.split(r"[,|]", _QUALIFIERS.sub(" ", value)):
        name = alternative.strip().split(":")[0].strip()
        if name:
            names.append(name)
    return names


def edges_of_dump(lines) -> list[tuple[str, str]]:
    """(package, dependency) pairs of `apt-cache dumpavail` output, continuation lines joined."""
    edges = []
    package = None
    field, value = None, ""

    def flush():
        if package and field in FIELDS:
            edges.extend((package, dep) for dep in dependency_names(value))

    for line in lines:
        line = line.rstrip("\n")
        if not line:                                  # end of a stanza
            flush()
            package, field, value = None, None, ""
        elif line[0] in " \t":                        # continuation of the previous field
            value += " " + line.strip()
        else:
            flush()
            field, _, value = line.partition(":")
            value = value.strip()
            if field == "Package":
                package = value
    flush()
    return edges


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "big", "debian.txt"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    dump = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, check=True).stdout
    edges = edges_of_dump(dump.splitlines())
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    vertices = {v for e in edges for v in e}
    with open(args.out, "w") as f:
        f.write("# Debian package dependencies from `apt-cache dumpavail`: 'package dependency' for every "
                "alternative of Depends, Pre-Depends, Recommends; DIRECTED; string ids\n")
        f.writelines(f"{p} {q}\n" for p, q in edges)
    print(f"{args.out}: {len(edges)} edge lines, {len(vertices)} packages, "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
