"""The `minibig` command: submit, master, worker, status.

`minibig submit job.py [args]` runs a plain Python job file as `__main__`.
Without `--master` it first starts an embedded cluster (`--workers N`,
default: the machine's cores) and stops it afterwards; either way it exports
the cluster's URL as MINIBIG_MASTER, so every `Context()` in the job uses it,
and ships the job's folder so that modules beside the job file import on the
workers. `--engine spark[=URL]` runs the same job file on PySpark instead
(`Context()` is then a SparkContext shim: `minibig/rdd/spark_shim.py`).
Only the job writes to stdout; minibig's own messages go to stderr.
A user's mistake (missing job file or input, unreachable master, a bad
option value) is one line on stderr and exit status 2, without a traceback.
Output cut short by its reader (`minibig status | head`) ends quietly with
status 141, as a program killed by SIGPIPE does.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import time
import traceback

from minibig.cluster.client import ClusterBackend
from minibig.cluster.local import LocalCluster, worker_count
from minibig.cluster.runtime import check_master_url, known_masters
from minibig.conf import Conf
from minibig.errors import InvalidArgumentError, UserError, format_user_traceback
from minibig.net import protocol as P
from minibig.net.security import dealer, generate_key_file, unanswered_hint, use_key_file

USAGE = """minibig <command> [options]     (minibig --version: the installed version)

commands:
  submit job.py [args]     run a job file on a cluster (embedded unless --master)
  master                   start a master
  worker --master URL      start a worker and join a master
  status                   list a master's workers, jobs and stages
  bench job.py [args]      speedup vs worker count (--workers 1,2,4 --repeat 3 --compare), with a plot
  history DIR              the web UI over the event logs in DIR (`submit --event-log DIR`)
  keygen [FILE]            make the cluster key every process uses (default ~/.config/minibig/cluster.key)
"""


BROKEN_PIPE_STATUS = 128 + 13           # what a shell reports for a SIGPIPE death


def _fail(message: str) -> int:
    print(f"minibig: error: {message}", file=sys.stderr)
    return 2


def _reader_went_away() -> int:
    """stdout's reader closed it: stop quietly, and let exit not flush into the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return BROKEN_PIPE_STATUS


def submit(argv: list[str]) -> int:
    """`minibig submit`: run a job file on a cluster."""
    parser = argparse.ArgumentParser(prog="minibig submit", description="Run a job file on a cluster.")
    parser.add_argument("--master", help="URL of a running master (default: start an embedded cluster)")
    parser.add_argument("--engine", default="minibig", metavar="minibig|spark[=URL]",
                        help="run the job on minibig (default), or unchanged on PySpark: on local[N] "
                             "(N = --workers or cores), or on the Spark master URL given")
    parser.add_argument("--workers", type=int, help="workers of the embedded cluster (default: cores)")
    parser.add_argument("--key-file", help="the cluster's key file, with --master (default: "
                                           "$MINIBIG_KEY_FILE, else ~/.config/minibig/cluster.key)")
    parser.add_argument("--insecure", action="store_true",
                        help="no key: unauthenticated and unencrypted, open to every local user")
    parser.add_argument("--py-files", default="",
                        help="comma-separated .py/.zip files or folders to ship besides the job's folder")
    parser.add_argument("--event-log", metavar="DIR",
                        help="the embedded cluster writes the job's event log into DIR (docs/event-log.md)")
    parser.add_argument("job", help="the job file")
    # Optional: argparse counts a REMAINDER as required and named it in "required: job, args"
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments given to the job").required = False
    opts = parser.parse_args(argv)
    spark = _spark_master(opts)
    if spark and "PYTHONHASHSEED" not in os.environ:
        _restart_with_fixed_hash_seed(argv)
    if not spark and (opts.master or opts.insecure):   # Spark's security is Spark's; an
        use_key_file(opts.key_file, opts.insecure)      # embedded cluster makes its own key
    if opts.master:
        check_master_url(opts.master)
    count = None if opts.master or spark else worker_count(opts.workers, "--workers")
    job = os.path.abspath(opts.job)
    if not os.path.isfile(job):
        return _fail(f"job file not found: {opts.job}")
    syntax_error = _syntax_error_of(job)
    if syntax_error:                        # before any cluster starts, as python job.py says it
        sys.stderr.write(syntax_error)
        return 1
    job_dir = os.path.dirname(job)
    py_files = [job_dir] + [os.path.abspath(p) for p in opts.py_files.split(",") if p]
    os.environ["MINIBIG_PY_FILES"] = os.pathsep.join(py_files)
    if opts.event_log:
        if opts.master:
            return _fail("--event-log is for the embedded cluster: a running master writes the "
                         "event log given to `minibig master --event-log DIR`")
        os.environ["MINIBIG_EVENT_LOG"] = os.path.abspath(opts.event_log)
    cluster = None
    os.environ["MINIBIG_ENGINE"] = "spark" if spark else "minibig"
    try:
        if spark:
            os.environ["MINIBIG_SPARK_MASTER"] = spark     # Context() is then a SparkContext shim
        elif opts.master:
            os.environ["MINIBIG_MASTER"] = opts.master
        else:
            cluster = _start_cluster(count)
            os.environ["MINIBIG_MASTER"] = cluster.url
        sys.argv = [job, *opts.args]
        sys.path.insert(0, job_dir)
        runpy.run_path(job, run_name="__main__")
    except UserError as exc:
        return _fail(str(exc))
    except SystemExit as exc:
        # As the interpreter ends on it: sys.exit("usage: ...") prints its message and exits 1
        if exc.code is None or isinstance(exc.code, int):
            if exc.code == 2:                 # argparse's status for a bad command line
                _hint_misplaced_options(parser, opts)
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except BaseException as exc:              # the job's own failure: show the job's frames
        sys.stderr.write(format_user_traceback(exc))
        return 1
    finally:
        if cluster is not None:
            cluster.stop()
    return 0


def _hint_misplaced_options(parser: argparse.ArgumentParser, opts) -> None:
    """The job refused its command line, and it holds an option of `minibig submit`'s: say
    where that goes, since everything after the job file is the job's."""
    ours = {flag: action for action in parser._actions for flag in action.option_strings
            if flag not in ("-h", "--help")}
    for i, arg in enumerate(opts.args):
        flag = arg.split("=", 1)[0]
        if flag in ours:
            takes_value = "=" not in arg and ours[flag].nargs != 0 and i + 1 < len(opts.args)
            shown = f"{arg} {opts.args[i + 1]}" if takes_value else arg
            print(f"minibig: note: {flag} is an option of minibig submit, and what follows the "
                  f"job file goes to the job: write `minibig submit {shown} {opts.job} ...`",
                  file=sys.stderr)
            return


def _syntax_error_of(path: str) -> str | None:
    """What `python job.py` prints for a job file that does not compile, or None if it does.

    Run by runpy, such an error would come with a traceback of minibig's and
    runpy's frames only (the job has none yet), so format_user_traceback keeps them all.
    """
    with open(path, "rb") as f:
        source = f.read()
    try:
        compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return "".join(traceback.format_exception_only(type(exc), exc))
    return None


def _spark_master(opts) -> str | None:
    """The Spark master of `--engine spark[=URL]` (local[N]: N = --workers or cores); None for minibig."""
    name, _, url = opts.engine.partition("=")
    if opts.engine == "minibig":
        return None
    if name != "spark":
        raise InvalidArgumentError(f"--engine: expected minibig, spark or spark=URL, not {opts.engine!r}")
    if opts.master:
        raise InvalidArgumentError("--master names a minibig master; give a Spark master as --engine spark=URL")
    return url or f"local[{worker_count(opts.workers, '--workers')}]"


def _restart_with_fixed_hash_seed(argv: list[str]) -> None:
    """Run this submit again in a Python whose str hash is fixed, as Spark's launchers do.

    PySpark partitions by Python's hash(): the driver (lookup, partitionBy)
    must hash as its executors do, and a process's seed is chosen at start.
    """
    env = dict(os.environ, PYTHONHASHSEED="0")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "minibig", "submit", *argv], env)


def _start_cluster(count: int):
    conf = Conf.from_env()
    cluster = LocalCluster(count, conf)
    try:
        probe = ClusterBackend(cluster.url, conf, "minibig-submit", alive=cluster.alive)
        probe.wait_for_workers(count, conf.startup_timeout)
        probe.stop()
    except BaseException:
        cluster.kill()
        raise
    return cluster


def history(argv: list[str]) -> int:
    """`minibig history DIR`: the web UI over the event logs in DIR, finished or running."""
    # Imported by this command only: `minibig worker` starts through this module, and
    # http.server would add ~80 ms to each worker's start.
    from minibig.ui.server import HistorySource, serve, url_of
    parser = argparse.ArgumentParser(prog="minibig history", description=history.__doc__)
    parser.add_argument("dir", help="the event log folder (`--event-log DIR`)")
    parser.add_argument("--port", type=int, default=18080, help="port (default 18080; 0: any free port)")
    parser.add_argument("--bind", default="127.0.0.1", help="address (default: loopback only)")
    opts = parser.parse_args(argv)
    if not os.path.isdir(opts.dir):
        return _fail(f"no event log folder at {opts.dir}")
    try:
        server = serve(HistorySource(opts.dir), opts.bind, opts.port)
    except OSError as exc:
        return _fail(f"cannot serve on {opts.bind}:{opts.port}: {exc}")
    print(url_of(server), flush=True)
    print(f"minibig: the event logs of {opts.dir}, at {url_of(server)} (Ctrl-C stops)",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def keygen(argv: list[str]) -> int:
    """`minibig keygen FILE`: write a new cluster key (CurveZMQ key pair)."""
    parser = argparse.ArgumentParser(prog="minibig keygen", description=keygen.__doc__)
    parser.add_argument("file", nargs="?", help="where to write the key, owner-readable only "
                                                "(default: ~/.config/minibig/cluster.key, which "
                                                "every minibig process reads)")
    opts = parser.parse_args(argv)
    path = generate_key_file(opts.file)
    print(f"wrote cluster key {path}: copy it (owner-readable only) to every host of the "
          "cluster; processes read it there, or where --key-file / MINIBIG_KEY_FILE says",
          file=sys.stderr)
    return 0


def status(argv: list[str]) -> int:
    """`minibig status`: workers, jobs, stages and streams of one or all local masters."""
    parser = argparse.ArgumentParser(prog="minibig status", description="Show a cluster's state.")
    parser.add_argument("--master", help="master URL (default: $MINIBIG_MASTER, or every master "
                                         "running on this machine)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON")
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--key-file", help="the cluster's key file (default: $MINIBIG_KEY_FILE, "
                                           "else ~/.config/minibig/cluster.key)")
    parser.add_argument("--insecure", action="store_true", help="ask an --insecure master")
    opts = parser.parse_args(argv)
    use_key_file(opts.key_file, opts.insecure)
    if opts.timeout <= 0:
        raise InvalidArgumentError(f"--timeout {opts.timeout:g}: expected a number of seconds "
                                   "above 0")
    if opts.master:
        masters = [{"url": check_master_url(opts.master)}]
    elif os.environ.get("MINIBIG_MASTER"):
        masters = [{"url": check_master_url(os.environ["MINIBIG_MASTER"], "MINIBIG_MASTER")}]
    else:
        masters = known_masters()
    if not masters:
        return _fail("no master is running on this machine (start one with `minibig master`, "
                     "or pass --master URL)")
    code = 0
    for master in masters:
        url = master["url"]
        if master.get("private_key"):
            print(embedded_master_line(master))
            continue
        sock = dealer(url)
        P.send(sock, P.STATUS)
        if not sock.poll(int(opts.timeout * 1000)):
            code = _fail(f"no minibig master answered at {url} within {opts.timeout:g}s "
                         f"({unanswered_hint()})")
            sock.close()
            continue
        reply = P.recv(sock).header
        sock.close()
        print(json.dumps(reply, indent=2) if opts.json else format_status(reply))
    return code


def embedded_master_line(master: dict) -> str:
    """What status says of an embedded cluster's master, which only its driver can ask."""
    ui = f"; its web UI: {master['ui']}" if master.get("ui") else ""
    return (f"master {master['url']}  embedded cluster (pid {master['pid']}): keyed by its "
            f"driver alone, which shows its state (sc.uiWebUrl, sc.lastJob){ui}")


def format_status(s: dict) -> str:
    """A human-readable view of a master's status reply."""
    lines = [f"master {s['url']}  up {s['uptime']}s  workers {len(s['workers'])}"]
    lines.append(f"  {'WORKER':<28} {'HOST':<16} {'PID':>7} {'SLOTS':>5} {'MEMORY':>7} "
                 f"{'RUNNING':>7} {'DONE':>6} {'BLOCKS':>6} {'SHUFFLE':>7} {'CPU':>5} {'RSS':>6}"
                 "  BLOCK SERVER")
    for w in s["workers"]:
        lines.append(f"  {w['id']:<28} {w['host']:<16} {w['pid']:>7} {w['slots']:>5} "
                     f"{_size(w.get('memory', 0)):>7} {w['running']:>7} {w['tasks_done']:>6} "
                     f"{w.get('blocks', 0):>6} {w.get('map_outputs', 0):>7} {_percent(w.get('cpu_percent')):>5} "
                     f"{_size(w.get('rss_bytes') or 0):>6}  {w['block_addr']}")
    for d in s["drivers"]:
        lines.append(f"driver {d['id']} ({d['app']})")
        for job in d["jobs"]:
            lines.append(f"  job {job['id']}: {job['description']}")
    for st in s["stages"]:
        lines.append(f"  stage {st['key']} (job {st['job']}): {st['done']}/{st['tasks']} done, "
                     f"{st['running']} running, {st['pending']} pending  {st['description']}"
                     f"  [{_levels(st['locality'])}]")
    if s.get("finished_stages"):
        lines.append("recently finished stages:")
        for st in s["finished_stages"][-10:]:
            lines.append(f"  {st['stage']} (job {st['job']}): {st['tasks']} tasks  "
                         f"[{_levels(st['locality'])}]  {st['description']}")
    if s.get("excluded"):
        lines.append("excluded workers: " + ", ".join(s["excluded"]))
    lines.extend(format_streams(s.get("streams", [])))
    return "\n".join(lines)


def format_streams(streams: list) -> list[str]:
    """Lines of the running streaming jobs: one row per operator, then the last checkpoint."""
    lines = []
    for st in streams:
        lines.append(f"stream {st['name']} (driver {st['app']})")
        lines.append(f"  {'OPERATOR':<24} {'PAR':>3} {'IN':>10} {'OUT':>10} {'IN/S':>9} "
                     f"{'WATERMARK':>14} {'LAG S':>8} {'BACKPRESSURE':>12}")
        for op in st["operators"]:
            lag = "-" if op["watermark_lag_s"] is None else f"{op['watermark_lag_s']:.3g}"
            mark = _event_time(op["watermark"])
            lines.append(f"  {op['name']:<24} {op['parallelism']:>3} {op['records_in']:>10} "
                         f"{op['records_out']:>10} {op['rate_in']:>9.0f} {mark:>14} {lag:>8} "
                         f"{op['backpressure']:>11.0%}")
        cp = st.get("last_checkpoint")
        lines.append("  last checkpoint: " + ("none" if not cp else
                     f"{cp['id']} at {time.strftime('%H:%M:%S', time.localtime(cp['at']))}, "
                     f"{cp['duration_s'] * 1000:.0f} ms, {_size(cp['bytes'])}"))
    return lines


def _size(n: int) -> str:
    """Bytes as a short size (512M, 2.0G); '-' when unknown."""
    if not n:
        return "-"
    for unit, scale in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}" if n < 10 * scale else f"{n // scale}{unit}"
    return f"{n}B"


def _event_time(value) -> str:
    """A watermark: as a time of day when it looks like unix time, else the number; '-' if none."""
    if value is None:
        return "-"
    if 1e9 <= value < 1e10:
        return time.strftime("%H:%M:%S", time.localtime(value)) + f".{int(value * 1000) % 1000:03d}"
    return f"{value:g}"


def _percent(value) -> str:
    """A CPU percent as '87%'; '-' when unknown."""
    return "-" if value is None else f"{value:.0f}%"


def _levels(counts: dict) -> str:
    return ", ".join(f"{level} {n}" for level, n in sorted(counts.items())) or "no task launched"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `minibig` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0 if argv else 2
    if argv[0] == "--version":                  # as spark-submit --version: what a bug report needs
        from minibig import __version__
        print(f"minibig {__version__} (Python {sys.version.split()[0]})")
        return 0
    command, rest = argv[0], argv[1:]
    try:
        if command == "submit":
            return submit(rest)
        if command == "master":
            # A process loads only its own command's side: a worker never imports the master
            from minibig.cluster.master import main as master_main
            return master_main(rest)
        if command == "worker":
            from minibig.cluster.worker import main as worker_main
            return worker_main(rest)
        if command == "status":
            return status(rest)
        if command == "bench":
            # Imported by this command only: it brings numpy, which a worker starts without.
            from minibig.benchmark import main as bench_main
            return bench_main(rest)
        if command == "keygen":
            return keygen(rest)
        if command == "history":
            return history(rest)
    except UserError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_went_away()
    return _fail(f"unknown command {command!r}\n{USAGE}")

