"""A Redis that hangs (accepts, never answers: paused, behind a partition) fails a call
after `redis_timeout_s`, as one that refuses connections does, so the session restarts
instead of the loop blocking."""

from __future__ import annotations

import socket
import time

import pytest
import redis

from rater.store.redis import redis_client


def test_a_redis_that_never_answers_times_out() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()  # the kernel completes the handshake; nobody ever replies
        port = server.getsockname()[1]
        client = redis_client(f"redis://127.0.0.1:{port}/0", timeout_s=0.5)
        t0 = time.monotonic()
        with pytest.raises(redis.exceptions.TimeoutError):
            client.ping()
        assert time.monotonic() - t0 < 5
