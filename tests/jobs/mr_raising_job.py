"""Raises in the phase named by --fail-in when it meets the word --fail-on."""

from minibig.mapreduce import MRJob


class MRRaisingJob(MRJob):

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--fail-in", choices=["mapper", "combiner", "reducer"],
                              default="mapper")
        self.add_passthru_arg("--fail-on", default="boom")

    def mapper(self, _, line):
        for word in line.split():
            if self.options.fail_in == "mapper" and word == self.options.fail_on:
                raise ValueError(f"mapper met {word!r}")
            yield word, 1

    def combiner(self, word, counts):
        if self.options.fail_in == "combiner" and word == self.options.fail_on:
            raise KeyError(f"combiner met {word!r}")
        yield word, sum(counts)

    def reducer(self, word, counts):
        if self.options.fail_in == "reducer" and word == self.options.fail_on:
            raise ZeroDivisionError(f"reducer met {word!r}")
        yield word, sum(counts)


if __name__ == "__main__":
    MRRaisingJob.run()
