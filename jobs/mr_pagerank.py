"""PageRank as iterated MapReduce steps, with dangling vertices done right.

Shows a job whose steps come from a loop, and how MapReduce hands a global
value (the number of vertices, the rank mass of vertices without out-links)
to every reducer: the value is sent once to each of a fixed number of
*bucket* keys, and each vertex is sent to the bucket its id hashes to, so
every bucket's reducer sees the global value next to its vertices.

The rank follows networkx.pagerank: start at 1/N, and on each iteration

    rank(v) = (1 - d) / N + d * (sum of rank(u) / outdegree(u) over edges u -> v
                                 + (rank mass of dangling vertices) / N)

so the ranks always sum to 1. The input is an edge file: one "src dst" per
line, '#' starts a comment, a duplicate edge counts once. The steps:

    edges       each edge to its source; reducer: vertex -> its out-links
    count       every vertex counts 1 under the key "*"; the total is N
    spread N    N to every bucket; reducer: vertex -> [1/N, out-links, N]
    then, --iterations times:
      send      a vertex sends rank/outdegree along its out-links, or its
                whole rank to "*" if it has none; reducer: the sum it received
      spread    the dangling mass to every bucket; reducer: the new rank
    output      vertex -> rank

    python jobs/mr_pagerank.py datasets/graphs/roget.txt --iterations 30 > /tmp/ranks.txt
    sort -t$'\\t' -k2 -g -r /tmp/ranks.txt | head
"""

import zlib

from minibig.mapreduce import MRJob, MRStep

EVERYONE = "*"


class MRPageRank(MRJob):
    """Output vertex -> PageRank, after --iterations rounds with damping --damping."""

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--iterations", type=int, default=20,
                              help="number of PageRank iterations (default 20)")
        self.add_passthru_arg("--damping", type=float, default=0.85,
                              help="damping factor (default 0.85)")
        self.add_passthru_arg("--buckets", type=int, default=8,
                              help="how many groups of vertices share a global value (default 8)")

    def steps(self):
        iteration = [MRStep(mapper=self.mapper_send_rank, reducer=self.reducer_sum_received),
                     MRStep(mapper=self.mapper_spread_dangling, reducer=self.reducer_new_rank)]
        return ([MRStep(mapper=self.mapper_edges, reducer=self.reducer_out_links),
                 MRStep(mapper=self.mapper_count, reducer=self.reducer_count),
                 MRStep(mapper=self.mapper_spread_count, reducer=self.reducer_first_rank)]
                + iteration * self.options.iterations
                + [MRStep(mapper=self.mapper_output)])

    def bucket(self, vertex):
        return zlib.crc32(vertex.encode("utf-8")) % self.options.buckets

    # -- the graph: vertex -> sorted out-links ------------------------------------
    def mapper_edges(self, _, line):
        fields = line.split("#", 1)[0].split()
        if len(fields) == 1:
            raise ValueError(f"not an edge (expected 'src dst [weight]'): {line!r}")
        if fields:
            src, dst = fields[0], fields[1]
            yield src, dst
            yield dst, None                     # a vertex without out-links exists too

    def reducer_out_links(self, vertex, targets):
        yield vertex, sorted({t for t in targets if t is not None})

    # -- N, the number of vertices, sent to every bucket -----------------------------
    def mapper_count(self, vertex, out_links):
        yield vertex, out_links
        yield EVERYONE, 1

    def reducer_count(self, key, values):
        if key == EVERYONE:
            yield EVERYONE, sum(values)
        else:
            for out_links in values:
                yield key, out_links

    def mapper_spread_count(self, key, value):
        if key == EVERYONE:
            for bucket in range(self.options.buckets):
                yield bucket, ["N", value]
        else:
            yield self.bucket(key), ["vertex", key, value]

    def reducer_first_rank(self, bucket, values):
        vertices, n = [], 0
        for value in values:
            if value[0] == "N":
                n = value[1]
            else:
                vertices.append(value)
        for _, vertex, out_links in vertices:
            yield vertex, [1.0 / n, out_links, n]

    # -- one iteration ------------------------------------------------------------------
    def mapper_send_rank(self, vertex, state):
        rank, out_links, n = state
        yield vertex, ["links", out_links, n]
        if out_links:
            share = rank / len(out_links)
            for target in out_links:
                yield target, ["rank", share]
        else:
            yield EVERYONE, ["rank", rank]

    def reducer_sum_received(self, vertex, values):
        received, out_links, n = 0.0, None, None
        for value in values:
            if value[0] == "rank":
                received += value[1]
            else:
                out_links, n = value[1], value[2]
        if vertex == EVERYONE:
            yield EVERYONE, received
        else:
            yield vertex, [received, out_links, n]

    def mapper_spread_dangling(self, key, value):
        if key == EVERYONE:
            for bucket in range(self.options.buckets):
                yield bucket, ["dangling", value]
        else:
            yield self.bucket(key), ["vertex", key, value]

    def reducer_new_rank(self, bucket, values):
        damping, dangling, vertices = self.options.damping, 0.0, []
        for value in values:
            if value[0] == "dangling":
                dangling += value[1]
            else:
                vertices.append(value)
        for _, vertex, (received, out_links, n) in vertices:
            rank = (1.0 - damping) / n + damping * (received + dangling / n)
            yield vertex, [rank, out_links, n]

    # -- output -----------------------------------------------------------------------
    def mapper_output(self, vertex, state):
        yield vertex, state[0]


if __name__ == "__main__":
    MRPageRank.run()
