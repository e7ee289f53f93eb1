"""Inverted index and tf-idf search over a folder of books.

Shows four ideas of the RDD API working together:

* `wholeTextFiles`: one (path, content) record per book, so every word keeps
  the name of the book (and the line) it came from;
* a **broadcast** stop-word set: shipped once to each worker, not once per
  task or per record, and read in the tokenizer with `stop_words.value`;
* **co-partitioned joins**: the (word -> book, count) table is partitioned by
  word once with `partitionBy` and **cached**; the document frequencies
  computed from it (`reduceByKey`) keep that partitioning, so joining the two
  runs without any new shuffle, and `lookup(word)` reads one partition only;
* a join of a small query dataset with the index, then `reduceByKey` and
  `takeOrdered` to rank the books.

    python jobs/inverted_index.py                           # the six Austen novels
    python jobs/inverted_index.py --query "navy captain" --query "abbey"
    minibig submit --workers 2 jobs/inverted_index.py datasets/text --where pemberley
"""

import argparse
import math
import os
import re
from operator import add

from minibig import Context

SHIPPED_TEXT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "datasets", "text")

# Common English function words: frequent everywhere, so they say nothing about a book.
STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours ourselves out
over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves shall must may might
upon said mr mrs miss sir one much every never ever could been
""".split())

WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def book_name(path):
    """'file:/.../austen_emma.txt' -> 'austen_emma'."""
    return os.path.splitext(os.path.basename(path))[0]


def postings(path, text, stop_words):
    """((word, book), line number) for every word of a book that is not a stop word."""
    book = book_name(path)
    for number, line in enumerate(text.splitlines(), 1):
        for word in WORD.findall(line.lower()):
            if word not in stop_words:
                yield (word, book), number


def build_index(sc, path, partitions):
    """(word -> (book, count, first line)) partitioned by word and cached; document frequencies."""
    stop_words = sc.broadcast(STOP_WORDS)
    books = sc.wholeTextFiles(path)
    counts = (books.flatMap(lambda pc: postings(pc[0], pc[1], stop_words.value))
                   .combineByKey(lambda line: (1, line),
                                 lambda acc, line: (acc[0] + 1, min(acc[1], line)),
                                 lambda a, b: (a[0] + b[0], min(a[1], b[1]))))
    index = (counts.map(lambda wb: (wb[0][0], (wb[0][1], wb[1][0], wb[1][1])))
                   .partitionBy(partitions)
                   .cache())
    # Same partitioner as `index`: computed in place, and joinable with it without a shuffle.
    document_frequency = index.mapValues(lambda _: 1).reduceByKey(add)
    return books.count(), index, document_frequency


def search(sc, index, document_frequency, total_books, query, top=3):
    """The books that best match the words of `query`, by summed tf-idf."""
    # Partitioned like the index, so the join shuffles only the few query words.
    words = (sc.parallelize([(w, None) for w in set(WORD.findall(query.lower()))], 1)
               .partitionBy(index.getNumPartitions()))
    idf = document_frequency.mapValues(lambda df: math.log(total_books / df))
    scored = (index.join(words)                                   # (word, ((book, n, line), None))
                   .mapValues(lambda hit: hit[0])
                   .join(idf)                                     # narrow: both by word
                   .map(lambda w: (w[1][0][0], (1 + math.log(w[1][0][1])) * w[1][1]))
                   .reduceByKey(add))
    return scored.takeOrdered(top, key=lambda book_score: (-book_score[1], book_score[0]))


def distinctive_words(index, document_frequency, per_book=5):
    """For each book, its most frequent words that appear in no other book."""
    only_here = (index.join(document_frequency)                   # narrow: co-partitioned
                      .filter(lambda w: w[1][1] == 1)
                      .map(lambda w: (w[1][0][0], (w[1][0][1], w[0])))
                      .groupByKey()
                      .mapValues(lambda hits: [word for _, word in
                                               sorted(hits, key=lambda h: (-h[0], h[1]))[:per_book]]))
    return sorted(only_here.collect())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default=os.path.normpath(SHIPPED_TEXT),
                        help="folder, file or glob of UTF-8 books (default: the shipped novels)")
    parser.add_argument("--query", action="append",
                        help="words to search for (repeatable); default: a few examples")
    parser.add_argument("--where", action="append", default=[],
                        help="print every book and first line where this word appears")
    parser.add_argument("--partitions", type=int, default=8, help="partitions of the index")
    args = parser.parse_args()
    queries = args.query or ["darcy pemberley", "navy captain admiral", "abbey mystery",
                             "elinor willoughby"]
    with Context(appName="inverted-index") as sc:
        total, index, document_frequency = build_index(sc, args.input, args.partitions)
        print(f"{total} books, {index.count()} (word, book) entries, "
              f"{document_frequency.count()} distinct words")
        for query in queries:
            ranked = search(sc, index, document_frequency, total, query)
            shown = ", ".join(f"{book} ({score:.2f})" for book, score in ranked) or "no match"
            print(f"query {query!r}: {shown}")
        for word in args.where:
            hits = sorted(index.lookup(word.lower()))        # one partition: the word's
            print(f"{word}: " + (", ".join(f"{book} x{n} (first at line {line})"
                                           for book, n, line in hits) or "nowhere"))
        for book, words in distinctive_words(index, document_frequency):
            print(f"only in {book}: {' '.join(words)}")


if __name__ == "__main__":
    main()
