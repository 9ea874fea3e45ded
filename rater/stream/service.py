"""`rater run`: the streaming rater built from the settings and run."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Any

from rater import metrics
from rater.config import Settings
from rater.core.engine import Rater
from rater.gc_tuning import tune_gc
from rater.store.redis import RedisStore, first_contact, settings_client
from rater.stream.kafka import check_topics
from rater.stream.processor import StreamRater

log = logging.getLogger("rater.stream")


def _exit_clean(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)  # nothing consumed or written yet


def run_service(settings: Settings, drain: bool = False) -> None:
    """Build the service from settings and run it (the body of `rater run`).

    A SIGTERM or SIGINT before the service has its own handlers (loading the catalog,
    checking the topics and Redis: seconds on a loaded box, more for a `--workers`
    process, which imports everything anew) ends it at once with status 0, as one a
    moment later would, instead of the signal's default death (status 143)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_clean)

    from rater.catalog import load_catalog

    catalog = load_catalog(settings.catalog)
    check_topics(settings)
    client: Any = settings_client(settings)
    first_contact(client, settings.redis_url.get_secret_value())
    health = metrics.Health()
    server = (
        metrics.serve(settings.metrics_host, settings.metrics_port, health)
        if settings.metrics_port
        else None
    )
    rater = Rater(catalog, settings.duplicate_window_ms)
    svc = StreamRater(settings, rater, RedisStore(client, settings.namespace), health)
    tune_gc(settings.gc_gen0_threshold)
    svc.install_signal_handlers()
    log.info(
        "rater %s: catalog %s (version %s), group %s, instance %s",
        "run",
        settings.catalog,
        catalog.version,
        settings.group_id,
        settings.instance_id,
    )
    try:
        svc.run(drain)
    finally:
        if server is not None:
            server.shutdown()
