"""Prometheus metrics of the live transports (per process, like the others on /metrics)."""

from prometheus_client import Gauge, Histogram

CONNECTIONS = Gauge("scoreboard_live_connections", "Open live connections in this process", ["transport"])
BROADCAST = Histogram(
    "scoreboard_broadcast_seconds",
    "Time to write one leaderboard_update to every connection of this process",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
