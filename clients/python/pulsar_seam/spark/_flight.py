"""The Flight calls the data source makes, through pyarrow.flight alone (no generated gRPC
code): GetSchema, GetFlightInfo with a ReadStreamRequest in proto3 JSON, DoGet, and the
action `seam.LastMessageIds`. Also the few protobuf messages the source reads or writes
itself (EndpointInfo, Pulsar's MessageIdData), decoded by hand: they are small and stable,
and this keeps Spark's executors free of protobuf runtime version checks."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator

import pyarrow as pa
from pyarrow import flight

from ._options import SourceOptions

# Planning calls (schema, plan, last message ids) are short; a stuck gateway fails the query
# instead of hanging the driver. DoGet has no deadline: a range may take long to stream.
PLAN_TIMEOUT_S = 120.0


class DataLossError(RuntimeError):
    """The gateway answered DATA_LOSS: retention or truncation removed messages the read
    needed. pyarrow folds DATA_LOSS into FlightInternalError; Seam's status messages start
    with the code in words (docs/flight.md, "Errors"), which is how it is told apart."""


def _is_data_loss(error: Exception) -> bool:
    return isinstance(error, flight.FlightInternalError) and "data loss" in str(error)


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One Flight endpoint: a range of one partition, inside one ledger (segment)."""

    ticket: bytes
    topic: str
    partition: int
    ledger_id: int | None
    first_entry: int
    last_entry: int
    stored_bytes: int
    last_message_id: bytes

    @property
    def entries(self) -> int:
        return self.last_entry - self.first_entry + 1


class Gateway:
    """A connection to one Seam gateway, made where it is used (driver or executor): a
    FlightClient is not picklable, the options are."""

    def __init__(self, options: SourceOptions):
        self.options = options
        tls = options.gateway.startswith("grpc+tls://")
        kwargs = {}
        if tls:
            kwargs["tls_root_certs"] = options.pem("tlsCa")
            kwargs["cert_chain"] = options.pem("tlsCert")
            kwargs["private_key"] = options.pem("tlsKey")
            kwargs["override_hostname"] = options.tls_server_name
            kwargs = {k: v for k, v in kwargs.items() if v is not None}
        self.client = flight.FlightClient(options.gateway, **kwargs)

    def __enter__(self) -> Gateway:  # noqa: PYI034 (no typing_extensions dependency)
        return self

    def __exit__(self, *_exc) -> None:
        self.client.close()

    def _call_options(self, timeout: float | None) -> flight.FlightCallOptions:
        token = self.options.current_token()
        headers = [(b"authorization", b"Bearer " + token.encode())] if token else []
        return flight.FlightCallOptions(headers=headers, timeout=timeout)

    def schema(self, command: dict) -> pa.Schema:
        descriptor = flight.FlightDescriptor.for_command(json.dumps(command))
        return self.client.get_schema(descriptor, self._call_options(PLAN_TIMEOUT_S)).schema

    def plan(self, command: dict) -> list[Endpoint]:
        """GetFlightInfo of `command` (a ReadStreamRequest in proto3 JSON): its endpoints."""
        descriptor = flight.FlightDescriptor.for_command(json.dumps(command))
        try:
            info = self.client.get_flight_info(descriptor, self._call_options(PLAN_TIMEOUT_S))
        except Exception as error:
            if _is_data_loss(error):
                raise DataLossError(str(error)) from error
            raise
        return [_endpoint(e) for e in info.endpoints]

    def last_message_ids(self, topic: str) -> dict[int, bytes]:
        """The last message of each partition now (b"" for an empty partition)."""
        action = flight.Action("seam.LastMessageIds", json.dumps({"topic": topic}).encode())
        [result] = list(self.client.do_action(action, self._call_options(PLAN_TIMEOUT_S)))
        ends = json.loads(result.body.to_pybytes())["endPositions"].get("ends", [])
        return {int(e.get("partition", 0)): base64.b64decode(e.get("lastMessageId", "")) for e in ends}

    def read(self, ticket: bytes) -> Iterator[pa.RecordBatch]:
        """DoGet of one endpoint: its record batches (heartbeats and markers skipped)."""
        try:
            reader = self.client.do_get(flight.Ticket(ticket), self._call_options(None))
            while True:
                try:
                    chunk = reader.read_chunk()
                except StopIteration:
                    return
                if chunk.data is not None and chunk.data.num_rows > 0:
                    yield chunk.data
        except Exception as error:
            if _is_data_loss(error):
                raise DataLossError(str(error)) from error
            raise


# -- protobuf, by hand -------------------------------------------------------------------


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, object]]:
    """(field number, value) of a protobuf message: ints for varints, bytes otherwise."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            length, i = _varint(data, i)
            value, i = data[i : i + length], i + length
        elif wire == 1:
            value, i = data[i : i + 8], i + 8
        elif wire == 5:
            value, i = data[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, value


def _int32(value: int) -> int:
    """A protobuf int32 read as a varint: negative numbers travel as 64-bit two's complement."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _endpoint(endpoint: flight.FlightEndpoint) -> Endpoint:
    """An endpoint with its `seam.v1.EndpointInfo` (the endpoint's app_metadata) decoded."""
    fields = {"topic": "", "partition": 0, "ledger_id": None, "first_entry": 0, "last_entry": 0,
              "stored_bytes": 0, "last_message_id": b""}
    names = {1: "topic", 2: "partition", 3: "ledger_id", 4: "first_entry", 5: "last_entry",
             6: "stored_bytes", 8: "last_message_id"}
    for number, value in _fields(endpoint.app_metadata or b""):
        if number in names:
            fields[names[number]] = value
    fields["topic"] = bytes(fields["topic"]).decode()
    fields["partition"] = _int32(fields["partition"])
    fields["last_message_id"] = bytes(fields["last_message_id"])
    return Endpoint(ticket=endpoint.ticket.ticket, **fields)


@dataclasses.dataclass(frozen=True)
class MessageId:
    """The parts of Pulsar's MessageIdData the source needs to cut a range at an entry."""

    ledger_id: int
    entry_id: int
    partition: int = -1
    batch_index: int = -1

    @staticmethod
    def parse(data: bytes) -> MessageId:
        parts = {1: 0, 2: 0, 3: -1, 4: -1}
        for number, value in _fields(data):
            if number in parts and isinstance(value, int):
                parts[number] = _int32(value) if number in (3, 4) else value
        return MessageId(parts[1], parts[2], parts[3], parts[4])

    def entry(self) -> bytes:
        """This id's whole entry, serialized: as an end, inclusive of every message in the
        entry; as a start after it, the next entry's first message."""
        out = bytearray()
        for number, value in ((1, self.ledger_id), (2, self.entry_id), (3, self.partition)):
            value &= (1 << 64) - 1
            out.append(number << 3)
            while value >= 0x80:
                out.append((value & 0x7F) | 0x80)
                value >>= 7
            out.append(value)
        return bytes(out)
