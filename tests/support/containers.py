"""The testcontainers path (a Docker engine answers): the same PostgreSQL and Kafka images as compose, one of
each for the whole session.

testcontainers-python 4.x has no container for the official ``apache/kafka`` image: its ``KafkaContainer``
drives Confluent's start scripts (``/etc/confluent/docker/...``) and refuses KRaft below tag 7.0.0, so
``KafkaContainer("apache/kafka:4.1.1")`` cannot start. ``ApacheKafkaContainer`` configures the official
image the way testcontainers-java's ``org.testcontainers.kafka.KafkaContainer`` does: a single KRaft node
configured by ``KAFKA_*`` variables, whose host-facing advertised listener (the mapped port, known only once
the container runs) is written into a start script the container waits for.
"""

from __future__ import annotations

import io
import re
import tarfile
import time
from functools import cache
from pathlib import Path

import yaml
from testcontainers.core.container import DockerContainer

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@cache
def compose_image(service: str) -> str:
    """The image compose runs for ``service``: the tests use exactly what production does."""
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    return compose["services"][service]["image"]


class ApacheKafkaContainer(DockerContainer):
    """One KRaft broker+controller of the official ``apache/kafka`` image, reachable from the host."""

    PORT = 9092  # host-facing listener
    READY_LOG = re.compile(rb"Transitioning from RECOVERY to RUNNING")
    START_SCRIPT = "/tmp/cxc_start.sh"
    READY_FLAG = "/tmp/cxc_start.ready"

    def __init__(self, image: str, **kwargs) -> None:
        super().__init__(image, **kwargs)
        self.with_exposed_ports(self.PORT)
        for name, value in {
            "CLUSTER_ID": "EHE_ELaXUTiSmd4eWGGc5Q",  # any base64url UUID (KRaft formats its storage with it)
            "KAFKA_NODE_ID": "1",
            "KAFKA_PROCESS_ROLES": "broker,controller",
            "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9094",
            "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
            "KAFKA_LISTENERS": f"PLAINTEXT://:{self.PORT},BROKER://:9093,CONTROLLER://:9094",
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
            # One node: internal topics cannot have more replicas than brokers (as in compose).
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "1",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
            "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
            # Unlike compose, topics may be created on first use, as the embedded broker does: tests that
            # feed a service directly do not create the registry's topics first.
        }.items():
            self.with_env(name, value)
        # `sh script`, not exec: a script still being copied in could fail with "text file busy"; the flag
        # is copied after the script, so the script is complete when the loop ends.
        self.with_command(
            f'sh -c "while [ ! -f {self.READY_FLAG} ]; do sleep 0.1; done; exec sh {self.START_SCRIPT}"'
        )

    def get_bootstrap_server(self) -> str:
        return f"{self.get_container_host_ip()}:{self.get_exposed_port(self.PORT)}"

    def start(self, timeout: float = 120) -> ApacheKafkaContainer:
        super().start()
        advertised = f"PLAINTEXT://{self.get_bootstrap_server()},BROKER://$(hostname):9093"
        self._put(self.START_SCRIPT, f"export KAFKA_ADVERTISED_LISTENERS={advertised}\nexec /etc/kafka/docker/run\n")
        self._put(self.READY_FLAG, "")
        # Polled here rather than with testcontainers' wait helpers, whose API changed within 4.x.
        deadline = time.monotonic() + timeout
        while not any(self.READY_LOG.search(out or b"") for out in self.get_logs()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.image} did not report RUNNING within {timeout:.0f}s")
            self.get_wrapped_container().reload()
            if self.get_wrapped_container().status == "exited":
                raise RuntimeError(f"{self.image} exited: {b''.join(o or b'' for o in self.get_logs())[-2000:]!r}")
            time.sleep(0.5)
        return self

    def _put(self, path: str, text: str) -> None:
        data = text.encode()
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o755
            tar.addfile(info, io.BytesIO(data))
        self.get_wrapped_container().put_archive("/", archive.getvalue())
