"""How fast a player's history is (SPEC §15): GET /api/v1/users/{id}/history for a player with
100,000 score events, on PostgreSQL, beside a plain index lookup in the same run.

    .venv/bin/python bench/history.py [--events 100000] [--db postgresql://127.0.0.1/bench_history]

Makes a scratch database (dropped afterwards), runs the migrations, writes the events in one
statement (one player, one every 30 s for ~35 days), then times the history queries the endpoint
makes (2,000 hour points; 90 day points) in-process through app.scoring.history, and prints the
PostgreSQL plan of one point's lookup. Prints everything; writes nothing else.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from app.boards import periods as p  # noqa: E402
from app.scoring import history  # noqa: E402

ALL = p.Window(p.Period.ALL, "all", None, None)


def timed(fn, rounds: int = 15) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median and p95 wall time of `fn()` in ms."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--db", default="postgresql://127.0.0.1/bench_history")
    args = parser.parse_args()
    name = args.db.rsplit("/", 1)[1]
    admin = create_engine(args.db.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.db.replace("postgresql://", "postgresql+psycopg://")
    env = {**os.environ, "DATABASE_URL": args.db, "SECRET_KEY": "bench-" + "x" * 40, "REDIS_URL": ""}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi:app", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True)  # fmt: skip
    engine = create_engine(url)
    end = datetime.now(UTC).replace(microsecond=0)
    started = time.perf_counter()
    try:
        with engine.begin() as conn:
            uid = conn.execute(
                text(
                    "INSERT INTO users (username, display_name, role, score, score_updated_at, is_banned,"
                    " is_hidden, is_flagged, is_deleted, penalty_level, rank_version, created_at, updated_at)"
                    " VALUES ('heavy', 'Heavy', 'player', :n * 10, :end, false, false, false, false, 0, :n,"
                    " :end, :end) RETURNING id"
                ),
                {"n": args.events, "end": end},
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO score_events (user_id, board, action_id, action_type, points,"
                    " score_after, source, created_at) SELECT :uid, 'main', 'a' || i, 'complete_task',"
                    " 10, i * 10, 'action', CAST(:end AS timestamptz) - (:n - i) * interval '30 seconds'"
                    " FROM generate_series(1, :n) i"
                ),
                {"uid": uid, "n": args.events, "end": end},
            )
            conn.execute(text("ANALYZE score_events"))
        print(f"{args.events:,} score events of one player over {args.events * 30 / 86400:.1f} days "
              f"(written in {time.perf_counter() - started:.1f} s); PostgreSQL "
              f"{engine.connect().execute(text('SHOW server_version')).scalar()}")  # fmt: skip
        tz = p.zone("UTC")
        hours = history.span(ALL, "hour", tz, end, end - timedelta(hours=2000), None)
        days = history.span(ALL, "day", tz, end, end - timedelta(days=90), None)
        with engine.connect() as conn:
            for label, s in (("2,000 hour points", hours), ("90 day points", days)):
                got = history.points(conn, uid, "main", s)
                med, p95 = timed(lambda s=s: history.points(conn, uid, "main", s))
                print(
                    f"  history, {label}: median {med:.1f} ms, p95 {p95:.1f} ms (last score {got[-1][1]:,})"
                )
            one = text(
                "SELECT score_after FROM score_events WHERE user_id = :u AND board = 'main'"
                " AND created_at < :at ORDER BY created_at DESC, id DESC LIMIT 1"
            )
            at = end - timedelta(days=10)
            med, p95 = timed(lambda: conn.execute(one, {"u": uid, "at": at}).scalar(), rounds=200)
            print(f"  baseline, one point's lookup alone: median {med:.3f} ms, p95 {p95:.3f} ms")
            plan = conn.execute(
                text("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + str(one)), {"u": uid, "at": at}
            )
            print("  plan of one point's lookup:")
            for (line,) in plan:
                print("    " + line)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


if __name__ == "__main__":
    main()
