"""Passthrough and file arguments: tasks see self.options as the driver parsed them.

Counts the words of at least --min-length letters that are not in the
--stop-words file; load_args post-processes the options, as mrjob allows.
"""

from minibig.mapreduce import MRJob


class MRPassthruJob(MRJob):

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--min-length", type=int, default=1)
        self.add_passthru_arg("--upper", action="store_true")
        self.add_file_arg("--stop-words")

    def load_args(self, args):
        super().load_args(args)
        self.prefix = "TASK:" if self.is_task() else "DRIVER:"

    def mapper_init(self):
        self.stop = set()
        if self.options.stop_words:
            with open(self.options.stop_words, encoding="utf-8") as f:
                self.stop = set(f.read().split())

    def mapper(self, _, line):
        for word in line.split():
            if len(word) >= self.options.min_length and word not in self.stop:
                yield (word.upper() if self.options.upper else word), 1

    def reducer(self, word, counts):
        yield self.prefix + word, sum(counts)


if __name__ == "__main__":
    MRPassthruJob.run()
