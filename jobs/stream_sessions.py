"""Sessionisation of a click log read from Redis Streams: each user's bursts of activity.

Shows a replayable broker source and session windows: clicks are entries of
a Redis stream (``XADD clicks * ts <ms> user <id> page <path>``), read by
``RedisStreamSource`` from an entry id (the checkpointed offset, so a killed
worker rewinds and rereads); keyed by user, a ``SessionWindow(gap)`` closes
a session after ``--gap`` ms without a click (sessions that come closer
merge); each session becomes ``(user, start, end, clicks, pages)``, written
to another Redis stream with an exactly-once sink (``--out``) or printed.
``--fill N`` first writes N seeded clicks, so the job runs on an empty
server; ``--follow SECONDS`` keeps reading new clicks that long instead of
stopping at the entries present at the start.

    redis-server --port 6390 --save '' --appendonly no --daemonize yes
    minibig submit --workers 2 jobs/stream_sessions.py --redis redis://127.0.0.1:6390/0 --fill 20000 --out sessions
    redis-cli -p 6390 XLEN sessions
    redis-cli -p 6390 shutdown nosave
"""

import argparse
import random

from minibig import Context
from minibig.streaming import RedisStreamSink, RedisStreamSource, SessionWindow, StreamingContext
from minibig.streaming.sinks import redis_client

PAGES = ["/", "/search", "/item", "/cart", "/checkout", "/help"]


def clicks(n, users=200, seed=0):
    """``n`` seeded clicks ``(ts_ms, user, page)`` in time order, each user in bursts."""
    rng = random.Random(seed)
    now = {u: rng.randrange(60_000) for u in range(users)}
    out = []
    for _ in range(n):
        user = rng.randrange(users)
        # Mostly a few seconds between a user's clicks, sometimes minutes: a new session.
        now[user] += rng.randrange(500, 5_000) if rng.random() < 0.9 else rng.randrange(60_000, 300_000)
        out.append((now[user], f"u{user}", rng.choice(PAGES)))
    return sorted(out)


def fill(url, stream, n, seed=0):
    """Write ``n`` seeded clicks to ``stream`` (one transaction)."""
    client = redis_client(url)
    with client.pipeline() as pipe:
        for ts, user, page in clicks(n, seed=seed):
            pipe.xadd(stream, {"ts": ts, "user": user, "page": page})
        pipe.execute()
    client.close()


def session(user, window, records):
    """One session's summary: ``(clicks, distinct pages)``."""
    return (len(records), len({r["page"] for r in records}))


def build(ssc, source, gap):
    """The dataflow: a stream of ``(user, start, end, (clicks, pages))``."""
    return (ssc.source(source, timestamp=lambda c: int(c["ts"]), max_out_of_orderness=1_000)
               .key_by(lambda c: c["user"]).window(SessionWindow(gap)).process(session))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", required=True, help="redis://HOST:PORT/DB of the server")
    parser.add_argument("--stream", default="clicks", help="the click log's stream")
    parser.add_argument("--fill", type=int, default=0, help="first write this many seeded clicks to --stream")
    parser.add_argument("--gap", type=float, default=30_000, help="session gap, ms")
    parser.add_argument("--out", help="write sessions to this stream (default: print them)")
    parser.add_argument("--follow", type=float, help="read new clicks for this many seconds, then drain")
    parser.add_argument("--parallelism", type=int, default=None, help="window instances (default: all slots)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.fill:
        fill(args.redis, args.stream, args.fill)
    with Context(appName="stream-sessions") as sc:
        ssc = StreamingContext(sc, parallelism=args.parallelism or sc.defaultParallelism, checkpoint_interval=1.0)
        source = RedisStreamSource(args.redis, args.stream, bounded=args.follow is None)
        sessions = build(ssc, source, args.gap)
        if args.out:
            sessions.map(lambda s: {"user": s[0], "start": s[1], "end": s[2], "clicks": s[3][0],
                                    "pages": s[3][1]}).sink_to(RedisStreamSink(args.redis, args.out))
        counted = sessions.collect()
        metrics = ssc.run(timeout=args.follow)
        if not args.out:
            for user, start, end, (n, pages) in sorted(counted.result()):
                print(f"{user} [{start}, {end}) {n} clicks, {pages} pages")
        where = f" into the stream {args.out!r}" if args.out else ""
        print(f"{len(counted.result())} sessions{where}, {metrics['late_records']} late clicks, "
              f"{ssc.executor.checkpoints} checkpoints")


if __name__ == "__main__":
    main()
