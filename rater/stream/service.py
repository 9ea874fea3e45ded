"""`rater run`: the streaming rater built from the settings and run."""

from __future__ import annotations

import logging
from typing import Any

from rater import metrics
from rater.config import Settings
from rater.core.engine import Rater
from rater.gc_tuning import tune_gc
from rater.store.redis import RedisStore, first_contact, settings_client
from rater.stream.kafka import check_topics
from rater.stream.processor import StreamRater

log = logging.getLogger("rater.stream")


def run_service(settings: Settings, drain: bool = False) -> None:
    """Build the service from settings and run it (the body of `rater run`)."""

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
