"""Run a program on every partition in this process, superstep by superstep.

The same loop the cluster runs, without processes: each superstep calls
`run_superstep` on every partition, moves each outbox batch (and mutation
request) to its destination partition's inbox, then calls `master_step`.
Tests use it as the reference engine; `shuffle_seed` shuffles the order of
the batches and of the messages inside them, and `combine_on_sender=False`
sends every message uncombined, to show neither changes the answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from minibig.graph.barrier import Barrier, master_step
from minibig.graph.messages import Messages
from minibig.graph.partition import restore, snapshot
from minibig.graph.pregel import PyMessages
from minibig.graph.superstep import as_runnable, prepare, run_superstep


@dataclass
class LocalRun:
    """The partitions' final states and how the run ended."""

    states: list
    supersteps: int                  # number of supersteps executed (0..supersteps-1)
    barrier: Barrier


def run_local(partitions, program, *, index=None, max_supersteps: int | None = None,
              combine_on_sender: bool = True, shuffle_seed: int | None = None,
              checkpoint_every: int | None = None) -> LocalRun:
    """Run `program` to its end over `partitions` (a graph's list of `Partition`)."""
    program = as_runnable(program)
    states = [prepare(part, program, index) for part in partitions]
    inboxes: list[list] = [[] for _ in states]
    mutations: list[list] = [[] for _ in states]
    aggregates: dict = {}
    rng = random.Random(shuffle_seed) if shuffle_seed is not None else None
    superstep = 0
    while True:
        results = [run_superstep(state, program, inboxes[i], superstep, aggregates,
                                 mutations=mutations[i], combine_on_sender=combine_on_sender)
                   for i, state in enumerate(states)]
        inboxes = [[] for _ in states]
        mutations = [[] for _ in states]
        for result in results:
            for p, batch in result.outbox.items():
                inboxes[p].append(batch)
            for p, requests in result.mutations.items():
                mutations[p].extend(requests)
        if rng is not None:
            inboxes = [_shuffled(inbox, rng) for inbox in inboxes]
        barrier = master_step(program, superstep, results, max_supersteps)
        aggregates = barrier.aggregates
        if checkpoint_every and (superstep + 1) % checkpoint_every == 0 and not barrier.halt:
            states, inboxes = _through_checkpoint(states, inboxes)
        if barrier.halt:
            return LocalRun(states, superstep + 1, barrier)
        superstep += 1


def _shuffled(inbox: list, rng: random.Random) -> list:
    """The batches in a random order, each with its messages in a random order."""
    out = []
    for batch in inbox:
        if isinstance(batch, Messages):
            order = np.random.default_rng(rng.randrange(2**32)).permutation(len(batch))
            out.append(Messages(batch.dst[order], batch.values[order]))
        else:
            pairs = list(zip(batch.dst, batch.values))
            rng.shuffle(pairs)
            out.append(PyMessages([d for d, _ in pairs], [v for _, v in pairs]))
    rng.shuffle(out)
    return out


def _through_checkpoint(states, inboxes):
    """Snapshot and restore every partition, as a recovery from the checkpoint would."""
    restored = [restore(snapshot(state, inbox)) for state, inbox in zip(states, inboxes)]
    return [s for s, _ in restored], [i for _, i in restored]
