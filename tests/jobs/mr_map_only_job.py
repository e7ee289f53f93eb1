"""Map-only steps: no shuffle, output in input order; the second step sees JSON-decoded pairs."""

from minibig.mapreduce import MRJob, MRStep


class MRMapOnlyJob(MRJob):

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--two-steps", action="store_true")

    def steps(self):
        first = MRStep(mapper=self.mapper_split)
        if self.options.two_steps:
            return [first, MRStep(mapper=self.mapper_describe)]
        return [first]

    def mapper_split(self, _, line):
        words = line.split()
        yield len(words), tuple(words)

    def mapper_describe(self, count, words):
        yield type(words).__name__, [count, words]


if __name__ == "__main__":
    MRMapOnlyJob.run()
