"""MRStep: one map, combine and reduce round of a job, as in mrjob.

A step names the job's functions it runs: `mapper` (or `mapper_raw`),
`combiner`, `reducer`, each with optional `*_init` and `*_final` hooks, and an
optional `jobconf` dict (`mapreduce.job.reduces` sets this step's number of
reducers). A step without a mapper passes its input through unchanged; a
step without a reducer (and without a combiner) is map-only and shuffles
nothing.

>>> def m(key, line): yield line, 1
>>> step = MRStep(mapper=m)
>>> step.has_explicit_mapper, step.has_explicit_reducer, step["combiner"] is None
(True, False, True)
>>> MRStep()
Traceback (most recent call last):
  ...
ValueError: Step has no mappers and no reducers
"""

from __future__ import annotations

MAPPER_FUNCS = ("mapper", "mapper_init", "mapper_final", "mapper_cmd", "mapper_pre_filter",
                "mapper_raw")
COMBINER_FUNCS = ("combiner", "combiner_init", "combiner_final", "combiner_cmd",
                  "combiner_pre_filter")
REDUCER_FUNCS = ("reducer", "reducer_init", "reducer_final", "reducer_cmd", "reducer_pre_filter")
#: The functions a step may name; a job's methods of these names make its default step.
STEP_FUNCS = MAPPER_FUNCS + COMBINER_FUNCS + REDUCER_FUNCS
STEP_PARAMS = STEP_FUNCS + ("jobconf",)
#: Shell-command steps and filters: mrjob runs them through Hadoop Streaming; minibig does not.
UNSUPPORTED = tuple(name for name in STEP_FUNCS if name.endswith(("_cmd", "_pre_filter")))


class MRStep:
    """One step of a job: which mapper, combiner and reducer functions it runs."""

    def __init__(self, **kwargs):
        unknown = sorted(set(kwargs) - set(STEP_PARAMS))
        if unknown:
            raise TypeError(f"MRStep() got an unexpected keyword argument {unknown[0]!r}")
        if not set(kwargs) & set(STEP_FUNCS):
            raise ValueError("Step has no mappers and no reducers")
        self._funcs = {name: None for name in STEP_PARAMS}
        self._funcs.update(kwargs)
        if self._funcs["mapper_raw"] and self._funcs["mapper"]:
            raise ValueError("Can't specify both mapper_raw and mapper")
        self.has_explicit_mapper = any(self._funcs[n] for n in MAPPER_FUNCS)
        self.has_explicit_combiner = any(self._funcs[n] for n in COMBINER_FUNCS)
        self.has_explicit_reducer = any(self._funcs[n] for n in REDUCER_FUNCS)

    def __getitem__(self, name: str):
        return self._funcs[name]

    def get(self, name: str, default=None):
        """The function (or jobconf) given for `name`, or `default`."""
        value = self._funcs.get(name)
        return default if value is None else value

    @property
    def jobconf(self) -> dict:
        """This step's jobconf (settings such as `mapreduce.job.reduces`)."""
        return dict(self._funcs["jobconf"] or {})

    @property
    def has_shuffle(self) -> bool:
        """True if the step has a reduce side: a reducer, or a combiner (which needs one)."""
        return self.has_explicit_reducer or self.has_explicit_combiner

    def unsupported(self) -> list[str]:
        """Names of shell-command functions this step uses (minibig runs Python only)."""
        return [name for name in UNSUPPORTED if self._funcs[name]]

    def description(self, step_num: int = 0) -> dict:
        """A summary of the step: which phases it has (mrjob's step description)."""
        desc = {"type": "streaming"}
        # As mrjob's: the first step always reads its input through a mapper (the identity
        # when none is given), and a combiner needs a mapper before it.
        mapper = step_num == 0 or self.has_explicit_mapper or self.has_explicit_combiner
        for phase, present in (("mapper", mapper),
                               ("combiner", self.has_explicit_combiner),
                               ("reducer", self.has_explicit_reducer)):
            if present:
                desc[phase] = {"type": "script"}
        if self._funcs["jobconf"]:
            desc["jobconf"] = self.jobconf
        return desc

    def __eq__(self, other) -> bool:
        return isinstance(other, MRStep) and self._funcs == other._funcs

    def __repr__(self) -> str:
        given = ", ".join(f"{k}={getattr(v, '__name__', v)!s}" for k, v in self._funcs.items() if v)
        return f"MRStep({given})"
