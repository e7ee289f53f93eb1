"""An inverted index: for every word, the documents that contain it, and how often.

Shows `mapper_raw`: instead of lines, the mapper gets one whole input file
per call (its path), so it knows which document every word comes from. The
mapper counts the words of its document with a Counter and emits one pair
(word, [document, count]) per distinct word; the reducer gathers the
postings of a word into a list sorted by document name. The reducer sees
its words in sorted order (the order of their JSON encoding), as every
reducer does.

    python jobs/mr_inverted_index.py datasets/text > /tmp/index.txt
    grep '^"Darcy"' /tmp/index.txt
"""

import collections
import os

from minibig.mapreduce import MRJob


class MRInvertedIndex(MRJob):
    """Output word -> [[document, count], ...] for every word of every input file."""

    def mapper_raw(self, input_path, input_uri):
        counts = collections.Counter()
        with open(input_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                counts.update(line.split())
        document = os.path.basename(input_uri)
        for word, count in counts.items():
            yield word, (document, count)

    def reducer(self, word, postings):
        yield word, sorted(postings)


if __name__ == "__main__":
    MRInvertedIndex.run()
