"""Redis clients as the settings describe them (URL, Cluster, timeout, password, TLS),
and the first contact that tells refused credentials from a Redis that is away."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from rater.config import Settings
from rater.errors import Refused, Unavailable


def redis_client(
    url: str,
    cluster: bool = False,
    timeout_s: float = 10.0,
    *,
    password: str | None = None,
    tls_ca_file: Path | None = None,
    tls_cert_file: Path | None = None,
    tls_key_file: Path | None = None,
) -> Any:
    """A client for `url` (standalone or Cluster); a URL it cannot use is refused with
    the setting's name, not a traceback. Every call gives up after `timeout_s`
    (`redis_timeout_s`): a Redis that hangs (paused, a network partition) must end the
    session like one that refuses connections, not block the loop.

    Secured: `password` for a URL without one (`rediss://user@host:port/0`, the password
    from `redis_password_file`); the TLS files for a `rediss://` URL: the CA that signed
    the server's certificate, and a client certificate and key when the server asks for
    one (`tls-auth-clients`)."""
    where = url.split("@")[-1]
    kwargs: dict[str, Any] = {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": min(timeout_s, 5.0),
    }
    if password is not None:
        if urlsplit(url).password:
            raise Refused(
                f"REDIS_URL (redis_url) {where!r} has a password and redis_password_file "
                "is set too: keep one"
            )
        kwargs["password"] = password
    files = {
        "redis_tls_ca_file": ("ssl_ca_certs", tls_ca_file),
        "redis_tls_cert_file": ("ssl_certfile", tls_cert_file),
        "redis_tls_key_file": ("ssl_keyfile", tls_key_file),
    }
    for setting, (arg, path) in files.items():
        if path is None:
            continue
        if not url.startswith("rediss://"):
            raise Refused(
                f"{setting} is set but REDIS_URL (redis_url) {where!r} is not TLS: "
                "use a rediss:// URL"
            )
        if not path.is_file():
            raise Refused(f"{setting} {path}: no such file")
        kwargs[arg] = str(path)
    try:
        if cluster:
            return redis.RedisCluster.from_url(url, **kwargs)
        return redis.Redis.from_url(url, **kwargs)
    except ValueError as e:
        raise Refused(f"REDIS_URL (redis_url) {where!r}: {e}") from None


def settings_client(s: Settings) -> Any:
    """`redis_client` as the settings say: URL, Cluster or not, timeout, password file
    and TLS files."""
    return redis_client(
        s.redis_url.get_secret_value(),
        s.redis_cluster,
        s.redis_timeout_s,
        password=s.redis_password(),
        tls_ca_file=s.redis_tls_ca_file,
        tls_cert_file=s.redis_tls_cert_file,
        tls_key_file=s.redis_tls_key_file,
    )


def first_contact(client: Any, url: str) -> None:
    """Before a service starts: Redis refusing the credentials (a wrong password, a user
    that is off) or a certificate that is not trusted ends it at once with `Unavailable`,
    instead of the retries due to a Redis that is away. A Redis that is away passes:
    the session loop retries it."""
    where = url.split("@")[-1]
    try:
        client.ping()
    except redis.exceptions.AuthenticationError as e:
        raise Unavailable(
            f"Redis at {where} refused the credentials: {e} "
            "(check the user and password: redis_url, redis_password_file)"
        ) from None
    except redis.exceptions.ResponseError as e:
        if "NOAUTH" in str(e) or "WRONGPASS" in str(e):
            raise Unavailable(f"Redis at {where} refused the credentials: {e}") from None
        raise
    except redis.exceptions.ConnectionError as e:
        if "certificate" in str(e).lower():
            raise Unavailable(
                f"Redis at {where}: TLS refused: {e} (check redis_tls_ca_file, and "
                "redis_tls_cert_file and redis_tls_key_file when Redis asks for a client "
                "certificate)"
            ) from None
