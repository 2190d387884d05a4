"""The data source's options, checked once where Spark builds the source (the driver), so a
typo fails the query at once with a message naming the option, not later in a task."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
from collections.abc import Mapping

GATEWAY_SCHEMES = ("grpc://", "grpc+tcp://", "grpc+tls://")

Position = str | int | bytes
"""A start or an end: "earliest" / "latest", a publish time (ms since the epoch, int), or
a serialized Pulsar message id (bytes)."""


def _publish_time_ms(text: str) -> int | None:
    """Milliseconds since the epoch from digits or an RFC 3339 time (naive = UTC)."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1000)


def _position(name: str, text: str, words: tuple[str, ...]) -> Position:
    value = text.strip()
    if value.lower() in words:
        return value.lower()
    if value.lower().startswith("id:"):
        try:
            return base64.b64decode(value[3:], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"option {name}: {value[3:]!r} is not base64 (a serialized Pulsar MessageId)") from None
    ms = _publish_time_ms(value)
    if ms is None:
        raise ValueError(
            f"option {name} = {value!r}: expected {' or '.join(words)}, a publish time "
            "(RFC 3339 such as 2026-11-05T00:00:00Z, or milliseconds since the epoch), "
            "or id:<base64 of a serialized Pulsar MessageId>"
        )
    return ms


def _flag(name: str, text: str) -> bool:
    if text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    raise ValueError(f"option {name} = {text!r}: expected true or false")


@dataclasses.dataclass(frozen=True)
class SourceOptions:
    """What `spark.read.format("seam").option(...)` said, checked. Picklable: it travels
    to the executors, which open their own connections with it."""

    gateway: str
    topic: str
    start: Position = "earliest"
    end: Position = "latest"
    end_given: bool = False
    columns: tuple[str, ...] = ()
    tls: dict = dataclasses.field(default_factory=dict)
    tls_server_name: str | None = None
    token: str | None = None
    token_file: str | None = None
    max_entries_per_trigger: int | None = None
    fail_on_data_loss: bool = True

    @staticmethod
    def parse(options: Mapping[str, str]) -> SourceOptions:
        # Spark passes a case-insensitive mapping; lower-case keys make the checks plain.
        given = {k.lower(): v for k, v in options.items()}
        known = {"gateway", "topic", "start", "end", "columns", "tlsca", "tlscert", "tlskey",
                 "tlsservername", "token", "tokenfile", "maxentriespertrigger", "failondataloss", "path"}
        if "maxrecordspertrigger" in given:
            raise ValueError(
                "option maxRecordsPerTrigger: Seam cannot cap records ahead of reading them, since "
                "a Pulsar entry (one producer batch) holds an unknown number of messages; use "
                "maxEntriesPerTrigger (entries = batches, or messages when the producer does not batch)"
            )
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known - {'path'}))}")
        gateway = given.get("gateway", "")
        if not gateway.startswith(GATEWAY_SCHEMES):
            raise ValueError(
                f"option gateway = {gateway!r}: expected grpc://host:port or grpc+tls://host:port"
            )
        topic = given.get("topic") or given.get("path") or ""
        if not topic:
            raise ValueError('option topic is required (e.g. .option("topic", "orders"))')
        if "token" in given and "tokenfile" in given:
            raise ValueError("give token or tokenFile, not both")
        if ("tlscert" in given) != ("tlskey" in given):
            raise ValueError("options tlsCert and tlsKey go together (a client certificate and its key)")
        tls = {name: given[name.lower()] for name in ("tlsCa", "tlsCert", "tlsKey") if name.lower() in given}
        if tls and not gateway.startswith("grpc+tls://"):
            raise ValueError(f"TLS options need a grpc+tls:// gateway, not {gateway!r}")
        limit = given.get("maxentriespertrigger")
        if limit is not None and not (limit.isdigit() and int(limit) > 0):
            raise ValueError(f"option maxEntriesPerTrigger = {limit!r}: expected a positive integer")
        columns = tuple(c.strip() for c in given.get("columns", "").split(",") if c.strip())
        return SourceOptions(
            gateway=gateway,
            topic=topic,
            start=_position("start", given.get("start", "earliest"), ("earliest", "latest")),
            end=_position("end", given.get("end", "latest"), ("latest",)),
            end_given="end" in given,
            columns=columns,
            tls=tls,
            tls_server_name=given.get("tlsservername"),
            token=given.get("token"),
            token_file=given.get("tokenfile"),
            max_entries_per_trigger=int(limit) if limit is not None else None,
            fail_on_data_loss=_flag("failOnDataLoss", given.get("failondataloss", "true")),
        )

    def pem(self, name: str) -> bytes | None:
        """A TLS option's PEM: the option's text when it is PEM, else the file it names
        (read where the connection is made, so executors need the file at that path)."""
        value = self.tls.get(name)
        if value is None:
            return None
        if value.lstrip().startswith("-----BEGIN"):
            return value.encode()
        with open(value, "rb") as file:
            return file.read()

    def current_token(self) -> str | None:
        """The token for the next call: tokenFile is read again each time, so a renewed
        token is used by the next call and the next task."""
        if self.token_file:
            with open(self.token_file, encoding="utf-8") as file:
                return file.read().strip()
        return self.token

    def start_request(self) -> dict:
        """The start of a ReadStreamRequest in proto3 JSON."""
        return _start(self.start)

    def request(self) -> dict:
        """A bounded ReadStreamRequest (proto3 JSON) for a batch read."""
        command = {"topic": self.topic, **self.start_request()}
        if self.end == "latest":
            command["atOpen"] = {}
        elif isinstance(self.end, int):
            command["endPublishTime"] = _rfc3339(self.end)
        else:
            # One inclusive end: the partition is the id's own (-1 when not partitioned).
            from ._flight import MessageId

            partition = MessageId.parse(self.end).partition
            command["endPositions"] = {
                "ends": [{"partition": partition, "lastMessageId": base64.b64encode(self.end).decode()}]
            }
        if self.columns:
            command["columns"] = list(self.columns)
        return command


def _start(start: Position) -> dict:
    if start == "earliest":
        return {"earliest": {}}
    if start == "latest":
        return {"latest": {}}
    if isinstance(start, int):
        return {"startPublishTime": _rfc3339(start)}
    return {"messageId": base64.b64encode(start).decode()}


def _rfc3339(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
