"""Every Prometheus metric of the service, in one place (the core never touches them),
and the small HTTP endpoint that serves /metrics, /healthz and /readyz."""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString

RECORDS = Counter("rater_records_total", "Input messages processed", ["topic", "outcome"])
DEAD_LETTERS = Counter(
    "rater_dead_letters_total", "Messages sent to the dead-letter topic", ["reason"]
)
EVENTS = Counter("rater_events_total", "Output events written", ["type"])
FEN = Counter("rater_fen_total", "Money rated, in fen", ["kind"])
THROTTLES = Counter("rater_throttle_events_total", "Throttle and restore events", ["action"])
UNRATED = Counter("rater_unrated_total", "Records not rated, by reason", ["reason"])
BATCH_SECONDS = Histogram(
    "rater_batch_seconds",
    "Time to rate, store and commit one batch (from consume to committed)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH_RECORDS = Histogram(
    "rater_batch_records",
    "Input messages per batch",
    buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000),
)


class BatchHistogram:
    """A Prometheus histogram observed a batch of values at a time, for per-record
    figures: one `bisect` per value, one lock per batch (prometheus_client's
    `Histogram.observe` locks and walks the buckets for every call)."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name, self.documentation = name, documentation
        self.bounds = sorted(buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above every bound (+Inf)
        self.sum = 0.0
        self._lock = threading.Lock()
        REGISTRY.register(self)

    def observe_many(self, values: Iterable[float]) -> None:
        bounds, local = self.bounds, [0] * len(self.counts)
        total = 0.0
        for v in values:
            local[bisect_left(bounds, v)] += 1
            total += v
        with self._lock:
            self.counts = [a + b for a, b in zip(self.counts, local, strict=True)]
            self.sum += total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts, total = list(self.counts), self.sum
        cumulative, buckets = 0, []
        for bound, n in zip([*map(floatToGoString, self.bounds), "+Inf"], counts, strict=True):
            cumulative += n
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=total)


RECORD_LATENCY = BatchHistogram(
    "rater_record_latency_seconds",
    "Per input message: from its timestamp (when it was produced) to its batch's commit",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EVENT_TIME_LAG = BatchHistogram(
    "rater_event_time_lag_seconds",
    "Per usage record: from its start time (event time) to its batch's commit: how late "
    "mediation delivers, plus the rater's own delay",
    buckets=(1, 10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600),
)
RECOVERIES = Counter("rater_recoveries_total", "Batches re-emitted from Redis after a crash")
FENCED = Counter("rater_fenced_total", "Writes refused because a newer owner took over")
ABORTS = Counter("rater_transaction_aborts_total", "Kafka transactions aborted")
REDIS_BEHIND = Counter(
    "rater_redis_behind_kafka_total",
    "Partitions found with Redis behind Kafka's committed offsets (state re-rated)",
)
ALIGN_TIMEOUTS = Counter(
    "rater_align_timeouts_total",
    "Times a partition stopped waiting for its other input topic (align_max_wait_ms) and "
    "applied what had arrived, out of strict event-time order",
)
PARTITIONS = Gauge("rater_assigned_partitions", "Input partitions owned by this process")
LAG = Gauge(
    "rater_consumer_lag", "Messages behind the end of the input partition", ["topic", "partition"]
)
LAST_BATCH = Gauge("rater_last_batch_timestamp_seconds", "When the loop last completed a batch")


class Health:
    """Liveness: the loop turned recently. Readiness: it owns partitions or is idle."""

    def __init__(self, stale_after_s: float = 60.0) -> None:
        self.stale_after_s = stale_after_s
        self.beat = time.monotonic()
        self.ready = False

    def heartbeat(self) -> None:
        self.beat = time.monotonic()
        LAST_BATCH.set(time.time())

    def alive(self) -> bool:
        return time.monotonic() - self.beat < self.stale_after_s


def serve(host: str, port: int, health: Health) -> ThreadingHTTPServer:
    """Start the HTTP endpoint in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, status, ctype = generate_latest(), 200, CONTENT_TYPE_LATEST
            elif self.path == "/healthz":
                ok = health.alive()
                body, status, ctype = (
                    (b"ok\n" if ok else b"stale\n"),
                    (200 if ok else 503),
                    "text/plain",
                )
            elif self.path == "/readyz":
                ok = health.ready
                body, status, ctype = (
                    (b"ready\n" if ok else b"not ready\n"),
                    (200 if ok else 503),
                    "text/plain",
                )
            else:
                body, status, ctype = b"not found\n", 404, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
