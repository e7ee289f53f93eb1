"""The most used word: a two-step job, where the second step's key is None.

Shows `steps()` with two `MRStep`s. Step 1 counts words with a combiner, as
mr_word_freq.py does, but its reducer emits every count under the one key
None: (None, [count, word]). Step 2's reducer therefore receives all of them
at once and keeps the largest. Between the steps the pairs travel through
JSON, so the tuple (count, word) arrives as the list [count, word], and
`max` compares lists just as it compares tuples.

    python jobs/mr_most_used_word.py datasets/text
    minibig submit --workers 2 jobs/mr_most_used_word.py datasets/text/austen_emma.txt
"""

import re

from minibig.mapreduce import MRJob, MRStep

WORD_RE = re.compile(r"[\w']+")


class MRMostUsedWord(MRJob):
    """Output one line: the most used word (lowercased) and how often it occurs."""

    def steps(self):
        return [
            MRStep(mapper=self.mapper_get_words, combiner=self.combiner_count_words,
                   reducer=self.reducer_count_words),
            MRStep(reducer=self.reducer_find_max_word),
        ]

    def mapper_get_words(self, _, line):
        for word in WORD_RE.findall(line):
            yield word.lower(), 1

    def combiner_count_words(self, word, counts):
        yield word, sum(counts)

    def reducer_count_words(self, word, counts):
        yield None, (sum(counts), word)

    def reducer_find_max_word(self, _, count_word_pairs):
        count, word = max(count_word_pairs)
        yield word, count


if __name__ == "__main__":
    MRMostUsedWord.run()
