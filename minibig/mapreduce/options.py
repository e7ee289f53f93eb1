"""The command line of an MRJob: runner switches, jobconf, and the job's own arguments.

Every job accepts, besides its input paths (stdin when there are none, or
for `-`) and the arguments it adds in `configure_args`:

    -r inline|local       inline: every task in this process (Context(master="inline"));
                          local (default): a cluster (Context(): $MINIBIG_MASTER,
                          as set by `minibig submit`, or an embedded one)
    --master URL          run on an already running cluster
    --workers N           size of the embedded cluster (mrjob's local runner calls it
                          --num-cores, accepted too)
    -o, --output-dir DIR  write part-NNNNN files and _SUCCESS there (not to stdout)
    --cat-output / --no-cat-output
                          stream the output to stdout (default: unless -o); --no-output is
                          mrjob's older name for --no-cat-output, accepted too
    --num-reducers N      reducers per step (same as -D mapreduce.job.reduces=N)
    -D, --jobconf K=V     Hadoop-style settings; minibig reads mapreduce.job.reduces
                          (mapred.reduce.tasks), mapreduce.job.maps (mapred.map.tasks)
                          and minibig.combine.min.values (see below)
    -q, --quiet / -v, --verbose
    -c, --conf-path / --no-conf   accepted for mrjob compatibility, ignored

`minibig.combine.min.values` (default 16): a map task runs the combiner only
on keys with at least that many values and sends the other keys' values as
they are, since a Python combiner call costs more than sending a few values.
Combiners may run zero or more times, so the output is the same; 1 runs the
combiner on every key, a very large number never.

Arguments are parsed with `parse_intermixed_args`, so options may follow the
input paths, as with mrjob.

>>> parser = argparse.ArgumentParser(); add_runner_args(parser)
>>> command_line_jobconf(parser.parse_args(["-D", "mapreduce.job.reduces=3", "-D", "a.b=x=y"]))
{'mapreduce.job.reduces': '3', 'a.b': 'x=y'}
>>> reducers_from({"mapred.reduce.tasks": "4"}), reducers_from({})
(4, None)
"""

from __future__ import annotations

import argparse

RUNNERS = ("inline", "local")
REDUCES_KEYS = ("mapreduce.job.reduces", "mapred.reduce.tasks")
MAPS_KEYS = ("mapreduce.job.maps", "mapred.map.tasks")
#: A map task runs the combiner on the keys with at least this many values (default 16).
COMBINE_MIN_KEY = "minibig.combine.min.values"
COMBINE_MIN_DEFAULT = 16


def _jobconf_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"jobconf must look like KEY=VALUE, not {text!r}")
    return key, value


class _JobconfAction(argparse.Action):
    """-D KEY=VALUE into a dict, later ones winning: `options.jobconf` is mrjob's dict
    (None when no -D is given), which a job may read."""

    def __call__(self, parser, namespace, value, option_string=None):
        key, value = value
        conf = dict(getattr(namespace, self.dest, None) or {})
        conf[key] = value
        setattr(namespace, self.dest, conf)


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """Add the input paths and the switches every job accepts."""
    parser.add_argument(dest="args", nargs="*", metavar="input",
                        help="input files, folders or globs (stdin when none, or for '-')")
    parser.add_argument("-r", "--runner", choices=RUNNERS, default=None,
                        help="inline: run every task in this process; local (default): on a "
                             "cluster ($MINIBIG_MASTER, --master, or an embedded one)")
    parser.add_argument("--master", default=None, help="URL of a running minibig master")
    parser.add_argument("--workers", type=int, default=None,
                        help="workers of the embedded cluster (default: the machine's cores)")
    # mrjob's local runner sizes its pool of task processes with --num-cores.
    parser.add_argument("--num-cores", dest="workers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("-o", "--output-dir", dest="output_dir", default=None,
                        help="write the output as part files in this (new) folder")
    parser.add_argument("--cat-output", dest="cat_output", action="store_true", default=None,
                        help="stream the output to stdout (the default unless -o is given)")
    parser.add_argument("--no-cat-output", dest="cat_output", action="store_false",
                        help="do not stream the output to stdout")
    # mrjob's deprecated alias of --no-cat-output, still in its docs' examples.
    parser.add_argument("--no-output", dest="cat_output", action="store_false",
                        help=argparse.SUPPRESS)
    parser.add_argument("--num-reducers", dest="num_reducers", type=int, default=None,
                        help="reducers per step (default: the cluster's task slots)")
    parser.add_argument("-D", "--jobconf", dest="jobconf", action=_JobconfAction, default=None,
                        type=_jobconf_pair, metavar="KEY=VALUE",
                        help="a Hadoop-style setting, e.g. mapreduce.job.reduces=4 (repeatable)")
    parser.add_argument("-q", "--quiet", action="store_true", help="log nothing to stderr")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more to stderr")
    parser.add_argument("-c", "--conf-path", dest="conf_paths", action="append", default=[],
                        help=argparse.SUPPRESS)
    parser.add_argument("--no-conf", dest="conf_paths", action="store_const", const=[],
                        help=argparse.SUPPRESS)


#: optparse's type names, which mrjob 0.5's add_passthrough_option took, as argparse types.
_OPTPARSE_TYPES = {"string": str, "str": str, "int": int, "long": int, "float": float,
                   "complex": complex}


def optparse_kwargs(kwargs: dict, names: tuple = ()) -> dict:
    """mrjob 0.5's optparse-style keywords (`type="int"`, `type="choice"`, `%default` in the
    help) as argparse's; an error names the option (`names`, its switches).

    >>> optparse_kwargs({"type": "int", "default": 5}), optparse_kwargs({"type": "choice", "choices": "ab"})
    ({'type': <class 'int'>, 'default': 5}, {'choices': 'ab'})
    """
    option = "/".join(map(str, names)) or "an option"
    if kwargs.get("action") == "callback":
        raise TypeError(f"{option}: optparse callbacks are not supported: use an argparse action")
    kwargs = {k: v for k, v in kwargs.items() if k not in ("opt_group", "callback_args")}
    kind = kwargs.get("type")
    if kind == "choice":
        del kwargs["type"]
    elif isinstance(kind, str):
        if kind not in _OPTPARSE_TYPES:
            raise TypeError(f"{option}: unknown option type {kind!r}")
        kwargs["type"] = _OPTPARSE_TYPES[kind]
    if isinstance(kwargs.get("help"), str):
        # optparse prints help as written but for %default; argparse %-formats it
        # (a lone % made --help raise TypeError).
        kwargs["help"] = kwargs["help"].replace("%", "%%").replace("%%default", "%(default)s")
    return kwargs


def _int_setting(conf: dict, keys: tuple) -> int | None:
    for key in keys:
        if conf.get(key) not in (None, ""):
            try:
                return int(conf[key])
            except (TypeError, ValueError):
                raise ValueError(f"jobconf {key} must be an integer, not {conf[key]!r}") from None
    return None


def reducers_from(conf: dict) -> int | None:
    """The number of reducers a jobconf asks for, or None."""
    return _int_setting(conf, REDUCES_KEYS)


def maps_from(conf: dict) -> int | None:
    """The number of map tasks a jobconf asks for (a lower bound, as in Hadoop), or None."""
    return _int_setting(conf, MAPS_KEYS)


def combine_min_values_from(conf: dict) -> int:
    """How many values a key needs in a map task for the combiner to run on it."""
    found = _int_setting(conf, (COMBINE_MIN_KEY,))
    return COMBINE_MIN_DEFAULT if found is None else found


def command_line_jobconf(options) -> dict:
    """The jobconf given on the command line (`-D`: a dict already, see `_JobconfAction`),
    with --num-reducers folded in."""
    conf = dict(getattr(options, "jobconf", None) or {})
    if getattr(options, "num_reducers", None) is not None:
        conf[REDUCES_KEYS[0]] = str(options.num_reducers)
        conf.pop(REDUCES_KEYS[1], None)
    return conf


def raising_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make `parser` raise ValueError instead of exiting (for jobs built with args=[...])."""
    def error(message):
        raise ValueError(message)
    parser.error = error
    return parser
