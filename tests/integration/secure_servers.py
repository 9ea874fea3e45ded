"""A Kafka broker with a SASL_SSL listener (SCRAM-SHA-512) and a Redis with TLS and an ACL
user, of a test's own, with certificates made for the occasion.

Nothing here touches the shared services of scripts/services.sh: both servers run under
a temporary folder on free ports and are stopped and deleted at the end.

* Certificates: a throwaway CA, a server certificate for 127.0.0.1 / localhost and a
  client certificate (Redis asks for one: `tls-auth-clients yes`), made with the
  openssl command line, valid for two days.
* Kafka: the jars of scripts/kafka.sh (`scripts/kafka.sh run-class`), KRaft, one node.
  The client listener is SASL_SSL with SCRAM-SHA-512 (also between brokers, as user
  `broker`); the controller listener stays PLAINTEXT on the loopback. The SCRAM
  credentials of `rater` and `broker` are written at format time
  (`StorageTool format --add-scram`), before the broker first starts.
* Redis: Debian's redis-server with `port 0` (no plain port), `tls-port`, and the user
  `rater` (all keys, all commands) while `default` is off. Its password is in the
  configuration as a SHA-256 only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from confluent_kafka.admin import AdminClient

from tests.faults.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
KAFKA_USER = "rater"
REDIS_USER = "rater"


class Unsupported(RuntimeError):
    """This machine cannot run the secured servers (the reason says why): tests skip."""


def _run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> str:
    res = subprocess.run(
        args,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])}...: exit {res.returncode}: {res.stderr[-2000:]}")
    return res.stdout


@dataclass(frozen=True)
class Certs:
    ca: Path  # the CA certificate (PEM): what clients trust
    server_cert: Path
    server_key: Path
    server_p12: Path  # the server's key and certificate for Kafka (PKCS#12)
    p12_password: str
    client_cert: Path
    client_key: Path


def make_certs(folder: Path) -> Certs:
    """A CA, a server certificate (127.0.0.1, localhost) and a client certificate."""
    if shutil.which("openssl") is None:
        raise Unsupported("no openssl command to make the test certificates")
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        _run(["openssl", *args], folder)

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
        "-subj", "/CN=rater test CA", "-keyout", "ca.key", "-out", "ca.pem",
    )  # fmt: skip
    exts = {
        "server": "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "extendedKeyUsage=serverAuth,clientAuth\n",
        "client": "extendedKeyUsage=clientAuth\n",
    }
    for name, ext in exts.items():
        (folder / f"{name}.ext").write_text(ext)
        openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-subj", f"/CN=rater {name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr",
        )  # fmt: skip
        openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", str(secrets.randbits(63)), "-days", "2", "-sha256",
            "-extfile", f"{name}.ext", "-out", f"{name}.pem",
        )  # fmt: skip
    p12_password = secrets.token_hex(12)
    openssl(
        "pkcs12", "-export", "-in", "server.pem", "-inkey", "server.key", "-name", "broker",
        "-out", "server.p12", "-passout", f"pass:{p12_password}",
    )  # fmt: skip
    for key in folder.glob("*.key"):
        key.chmod(0o600)
    return Certs(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        server_p12=folder / "server.p12",
        p12_password=p12_password,
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )


@dataclass
class SecureServers:
    root: Path
    certs: Certs
    kafka_port: int
    controller_port: int
    redis_port: int
    kafka_password: str = field(default_factory=lambda: "kafka-" + secrets.token_hex(16))
    redis_password: str = field(default_factory=lambda: "redis-" + secrets.token_hex(16))
    broker_password: str = field(default_factory=lambda: secrets.token_hex(16))
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def kafka_settings(self) -> dict[str, str]:
        """What an operator puts in `Settings.kafka`: everything but the password."""
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": KAFKA_USER,
            "ssl.ca.location": str(self.certs.ca),
        }

    def kafka_client_config(self, password: str | None = None) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap,
            **self.kafka_settings(),
            "sasl.password": self.kafka_password if password is None else password,
        }

    def redis_url(self, password: str | None = None) -> str:
        pw = self.redis_password if password is None else password
        return f"rediss://{REDIS_USER}:{pw}@127.0.0.1:{self.redis_port}/0"

    def redis_tls(self) -> dict[str, Path]:
        """The TLS files of the client, by their setting names."""
        return {
            "redis_tls_ca_file": self.certs.ca,
            "redis_tls_cert_file": self.certs.client_cert,
            "redis_tls_key_file": self.certs.client_key,
        }

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.redis_url(),
            ssl_ca_certs=str(self.certs.ca),
            ssl_certfile=str(self.certs.client_cert),
            ssl_keyfile=str(self.certs.client_key),
            socket_timeout=5,
        )

    # -- Kafka ---------------------------------------------------------------------------

    def _kafka_env(self) -> dict[str, str]:
        # run-class takes its classpath and log folder from these; JDK_JAVA_OPTIONS is read
        # by the java launcher itself (a small heap: this machine runs other brokers too)
        return {
            **os.environ,
            "RATER_VAR": str(self.root),
            "JDK_JAVA_OPTIONS": "-Xms128m -Xmx512m -XX:+UseG1GC",
        }

    def _write_kafka_props(self) -> Path:
        kdir = self.root / "kafka"
        (kdir / "data").mkdir(parents=True, exist_ok=True)
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="broker" password="{self.broker_password}";'
        )
        props = f"""\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{self.controller_port}
listeners=SASL_SSL://127.0.0.1:{self.kafka_port},CONTROLLER://127.0.0.1:{self.controller_port}
advertised.listeners=SASL_SSL://127.0.0.1:{self.kafka_port}
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_SSL
controller.listener.names=CONTROLLER
log.dirs={kdir / "data"}

sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}
ssl.keystore.type=PKCS12
ssl.keystore.location={self.certs.server_p12}
ssl.keystore.password={self.certs.p12_password}
ssl.key.password={self.certs.p12_password}
ssl.truststore.type=PEM
ssl.truststore.location={self.certs.ca}
ssl.client.auth=none

num.partitions=4
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
"""
        path = kdir / "server.properties"
        path.write_text(props)
        path.chmod(0o600)
        return path

    def _kafka_tool(self, *args: str) -> str:
        return _run(
            [str(ROOT / "scripts" / "kafka.sh"), "run-class", *args],
            ROOT,
            self._kafka_env(),
            timeout=300,
        )

    def kafka_start(self, timeout: float = 120) -> None:
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            raise Unsupported("no java to run the Kafka broker")
        props = self._write_kafka_props()
        cluster_id = self._kafka_tool("kafka.tools.StorageTool", "random-uuid").split()[-1]
        self._kafka_tool(
            "kafka.tools.StorageTool", "format", "--config", str(props),
            "--cluster-id", cluster_id, "--ignore-formatted",
            "--add-scram", f"SCRAM-SHA-512=[name={KAFKA_USER},password={self.kafka_password}]",
            "--add-scram", f"SCRAM-SHA-512=[name=broker,password={self.broker_password}]",
        )  # fmt: skip
        out = (self.root / "kafka" / "broker.out").open("ab")
        self._procs["kafka"] = subprocess.Popen(
            [str(ROOT / "scripts" / "kafka.sh"), "run-class", "kafka.Kafka", str(props)],
            cwd=ROOT,
            env=self._kafka_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        self._wait("kafka", self.kafka_up, timeout)

    def kafka_up(self) -> bool:
        try:
            admin = AdminClient({**self.kafka_client_config(), "log_level": 0})
            md = admin.list_topics(timeout=3)
            return bool(md.brokers) and md.controller_id >= 0
        except Exception:  # starting: not up yet
            return False

    # -- Redis ---------------------------------------------------------------------------

    def redis_start(self, timeout: float = 30) -> None:
        if shutil.which("redis-server") is None:
            raise Unsupported("no redis-server")
        rdir = self.root / "redis"
        rdir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(self.redis_password.encode()).hexdigest()
        conf = f"""\
bind 127.0.0.1
port 0
tls-port {self.redis_port}
tls-cert-file {self.certs.server_cert}
tls-key-file {self.certs.server_key}
tls-ca-cert-file {self.certs.ca}
tls-auth-clients yes
protected-mode no
daemonize no
dir {rdir}
logfile {rdir / "redis.log"}
save ""
appendonly no
user default off
user {REDIS_USER} on #{digest} ~* &* +@all
"""
        path = rdir / "redis.conf"
        path.write_text(conf)
        path.chmod(0o600)
        err = (rdir / "redis.err").open("ab")  # a configuration error goes to stderr
        self._procs["redis"] = subprocess.Popen(
            ["redis-server", str(path)],
            cwd=rdir,
            stdout=err,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        err.close()
        try:
            self._wait("redis", self.redis_up, timeout)
        except RuntimeError:
            said = (rdir / "redis.err").read_text(errors="replace")
            if "Bad directive" in said and "tls" in said:
                raise Unsupported(
                    "redis-server here is built without TLS (it refuses tls-port): "
                    + said.strip().splitlines()[-1]
                ) from None
            raise

    def redis_up(self) -> bool:
        try:
            return bool(self.redis().ping())
        except redis.exceptions.RedisError:
            return False

    # -- both ----------------------------------------------------------------------------

    def _wait(self, name: str, up: Any, timeout: float) -> None:
        proc = self._procs[name]
        deadline = time.monotonic() + timeout
        while not up():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited during startup:\n{self.log_tail(name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not up within {timeout} s:\n{self.log_tail(name)}")
            time.sleep(0.3)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = {
            "kafka": self.root / "kafka" / "broker.out",
            "redis": self.root / "redis" / "redis.log",
        }[name]
        if name == "redis" and not path.exists():
            path = self.root / "redis" / "redis.err"
        with contextlib.suppress(OSError):
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        for proc in self._procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)
        self._procs.clear()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_secure_servers(root: Path) -> SecureServers:
    """Certificates, a SASL_SSL Kafka and a TLS Redis with an ACL user under `root`."""
    certs = make_certs(root / "certs")
    s = SecureServers(root, certs, free_port(), free_port(), free_port())
    try:
        s.redis_start()
        s.kafka_start()
    except BaseException:
        s.remove()
        raise
    return s
