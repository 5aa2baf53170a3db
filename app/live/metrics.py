"""Prometheus metrics of the live transports. Under gunicorn /metrics sums every worker's series
(multiprocess mode): the connections gauge counts the live workers' connections."""

from prometheus_client import Gauge, Histogram

CONNECTIONS = Gauge(
    "scoreboard_live_connections", "Open live connections", ["transport"], multiprocess_mode="livesum"
)
BROADCAST = Histogram(
    "scoreboard_broadcast_seconds",
    "Time to write one leaderboard_update to every connection of one process",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
