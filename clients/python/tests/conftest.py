"""Fixtures: the real gateway (`seam serve`) as a subprocess, a Pulsar standalone already
running (scripts/test.sh and .ci/run start it), and topics written by the official client."""

import os
import re
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pulsar
import pytest

ROOT = Path(__file__).resolve().parents[3]
# The project's own Node 24 (npm install puts it there), which runs TypeScript directly.
NODE = str(ROOT / "node_modules/.bin/node")
SERVICE_URL = f"pulsar://127.0.0.1:{os.environ.get('SEAM_PULSAR_BROKER_PORT', '6650')}"
ADMIN_URL = f"http://127.0.0.1:{os.environ.get('SEAM_PULSAR_WEB_PORT', '8080')}"


class Gateway:
    """`node server/cli.ts serve` on a port of its own; restartable on the same port.

    `args` are extra `seam serve` flags; without any the gateway serves plaintext and reads
    the standalone pulsar.sh runs (SEAM_PULSAR_BROKER_PORT, SEAM_PULSAR_WEB_PORT)."""

    def __init__(self, *args):
        self.process = None
        self.port = 0
        self.args = list(args) or ["--plaintext", "--pulsar-url", SERVICE_URL, "--pulsar-admin-url", ADMIN_URL]

    def start(self):
        self.process = subprocess.Popen(
            [NODE, str(ROOT / "server/cli.ts"), "serve", *self.args, "--port", str(self.port), "--metrics-port", "0", "--shutdown-grace-ms", "1000"],
            stdout=subprocess.PIPE,
            text=True,
        )
        lines = []  # log lines (warnings) may come before the one saying where it serves
        while not (match := re.search(r"on [\d.]+:(\d+),", lines[-1] if lines else "")):
            line = self.process.stdout.readline()
            assert line and len(lines) < 20, f"seam serve did not start: {lines!r}"
            lines.append(line)
        self.port = int(match.group(1))
        # Keep reading its log: a full pipe (64 KiB, a few hundred stream lines) would block
        # the gateway's writes, and its shutdown with them.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


@pytest.fixture(scope="session")
def gateway():
    gw = Gateway()
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture(scope="session")
def pulsar_client():
    client = pulsar.Client(SERVICE_URL, logger=pulsar.FileLogger(pulsar.LoggerLevel.Warn, "/dev/stderr"))
    yield client
    client.close()


def fresh_topic(label):
    return f"persistent://public/default/py-{label}-{uuid.uuid4().hex[:8]}"


def produce(client, topic, count, **options):
    """Writes `count` messages (value "message i", key k(i%7), a property on some)."""
    producer = client.create_producer(topic, batching_max_publish_delay_ms=5, **options)
    for i in range(count):
        producer.send_async(
            f"message {i}".encode(),
            None,
            partition_key=f"k{i % 7}",
            properties={"i": str(i)} if i % 3 == 0 else None,
            event_timestamp=1_700_000_000_000 + i,
        )
    producer.flush()
    producer.close()


def read_official(client, topic):
    reader = client.create_reader(topic, pulsar.MessageId.earliest)
    messages = []
    while reader.has_message_available():
        messages.append(reader.read_next(10_000))
    reader.close()
    return messages


def wait_until(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
