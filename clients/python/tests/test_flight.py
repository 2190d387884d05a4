"""Seam as an Arrow Flight service, read by pyarrow.flight alone: no Seam import here. A topic
is planned with get_flight_info, its endpoints are read in parallel with do_get, and the
table equals ReadStream's (`seam read`, the CLI) and the official reader's, row for row."""

import base64
import json
import struct
import subprocess
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pulsar
import pyarrow as pa
import pytest
from pulsar.schema import AvroSchema, Integer, Record, String
from pyarrow import flight

from conftest import (
    ADMIN_URL,
    NODE,
    ROOT,
    SERVICE_URL,
    Gateway,
    fresh_topic,
    produce,
    read_official,
)


class Order(Record):
    name = String()
    amount = Integer()


@pytest.fixture(scope="module")
def client(gateway):
    with flight.FlightClient(f"grpc://{gateway.address}") as c:
        yield c


def read_endpoints(client, info):
    """Every endpoint of `info` read at once, one do_get per endpoint, in endpoint order."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda e: client.do_get(e.ticket).read_all(), info.endpoints))


def read_flight(client, descriptor):
    info = client.get_flight_info(descriptor)
    tables = read_endpoints(client, info)
    return info, pa.concat_tables(tables) if tables else info.schema.empty_table()


def read_stream(gateway, topic):
    """ReadStream's rows, as `seam read` (the CLI over ReadStream) writes them to a file."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "read.arrow"
        subprocess.run(
            [NODE, str(ROOT / "server/cli.ts"), "read", topic, "--address", gateway.address,
             "--end", "at_open", "--output", str(out)],
            check=True, capture_output=True, timeout=120,
        )
        with pa.ipc.open_file(out) as reader:
            return reader.read_all()


def admin(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{ADMIN_URL}/admin/v2/{path}", data=data, method=method,
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


def by_partition(table):
    """Message ids and values per partition topic, in order."""
    rows = {}
    for topic, mid, value in zip(table.column("__topic").to_pylist(), table.column("__messageId").to_pylist(),
                                 table.column("value").to_pylist()):
        rows.setdefault(topic, []).append((mid, value))
    return rows


def official_by_partition(pulsar_client, topic, partitions):
    names = [f"{topic}-partition-{i}" for i in range(partitions)] if partitions else [topic]
    return {name: [(m.message_id().serialize(), m.data()) for m in read_official(pulsar_client, name)]
            for name in names}


def assert_same_rows(flight_table, stream_table, official):
    """The same message ids and values per partition, in order, as ReadStream and the official
    reader (whose empty partitions have no rows to show)."""
    assert by_partition(flight_table) == by_partition(stream_table)
    assert by_partition(flight_table) == {name: rows for name, rows in official.items() if rows}


def test_a_bytes_topic_read_by_parallel_endpoints_equals_readstream_and_the_official_reader(
        gateway, client, pulsar_client):
    topic = fresh_topic("flight-bytes")
    produce(pulsar_client, topic, 800)
    info, table = read_flight(client, flight.FlightDescriptor.for_path(topic))
    assert info.total_records == -1
    assert info.total_bytes > 0
    assert len(info.endpoints) >= 1
    assert info.schema == table.schema
    stream = read_stream(gateway, topic)
    assert table.schema == stream.schema
    assert table.num_rows == stream.num_rows == 800
    assert table.to_pylist() == stream.to_pylist()
    official = read_official(pulsar_client, topic)
    assert table.column("__messageId").to_pylist() == [m.message_id().serialize() for m in official]
    assert table.column("value").to_pylist() == [m.data() for m in official]


def test_an_avro_topic_has_its_fields_as_columns(gateway, client, pulsar_client):
    topic = fresh_topic("flight-avro")
    producer = pulsar_client.create_producer(topic, schema=AvroSchema(Order))
    for i in range(120):
        producer.send(Order(name=f"order {i}", amount=i * 10))
    producer.close()
    info, table = read_flight(client, flight.FlightDescriptor.for_path(topic))
    assert table.column_names[:2] == ["name", "amount"]
    assert info.schema == table.schema
    stream = read_stream(gateway, topic)
    assert table.to_pylist() == stream.to_pylist()
    reader = pulsar_client.create_reader(topic, pulsar.MessageId.earliest, schema=AvroSchema(Order))
    official = []
    while reader.has_message_available():
        official.append(reader.read_next(10_000))
    reader.close()
    assert table.column("__messageId").to_pylist() == [m.message_id().serialize() for m in official]
    assert table.column("name").to_pylist() == [m.value().name for m in official]
    assert table.column("amount").to_pylist() == [m.value().amount for m in official]


def test_a_four_partition_topic_has_endpoints_per_partition_in_pulsar_order(gateway, client, pulsar_client):
    topic = fresh_topic("flight-partitioned")
    admin("PUT", f"persistent/public/default/{topic.rsplit('/', 1)[1]}/partitions", 4)
    producer = pulsar_client.create_producer(topic, batching_max_publish_delay_ms=5)
    for i in range(1000):  # 40 keys: every partition gets some
        producer.send_async(f"message {i}".encode(), None, partition_key=f"key{i % 40}")
    producer.flush()
    producer.close()
    info, table = read_flight(client, flight.FlightDescriptor.for_path(topic))
    assert info.ordered is False  # 4 partitions: no single order
    assert {e for e in table.column("__topic").to_pylist()} == {f"{topic}-partition-{i}" for i in range(4)}
    assert table.num_rows == 1000
    assert_same_rows(table, read_stream(gateway, topic), official_by_partition(pulsar_client, topic, 4))


def test_a_topic_of_six_ledgers_has_an_endpoint_per_ledger(gateway, client, pulsar_client):
    topic = fresh_topic("flight-ledgers")
    path = f"persistent/public/default/{topic.rsplit('/', 1)[1]}"
    for _ in range(6):
        produce(pulsar_client, topic, 150)
        admin("PUT", f"{path}/unload")  # closes the ledger: the topic reopens on a new one
    ledgers = [ledger for ledger in admin("GET", f"{path}/internalStats")["ledgers"] if ledger["entries"] > 0]
    assert len(ledgers) >= 5
    info, table = read_flight(client, flight.FlightDescriptor.for_path(topic))
    assert info.ordered is True  # one partition: the endpoints' concatenation is Pulsar order
    assert len(info.endpoints) == len(ledgers)
    assert all(t.num_rows > 0 for t in read_endpoints(client, info))
    assert table.num_rows == 900
    assert_same_rows(table, read_stream(gateway, topic), official_by_partition(pulsar_client, topic, 0))


def test_the_json_command_of_the_issue_is_bounded(client, pulsar_client):
    topic = fresh_topic("flight-json")
    produce(pulsar_client, topic, 50)  # event times 1_700_000_000_000 + i; publish times now
    start = time.time() - 3600
    command = {"topic": topic, "startPublishTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
               "atOpen": {}, "columns": ["value", "__messageId"]}
    info, table = read_flight(client, flight.FlightDescriptor.for_command(json.dumps(command)))
    # It ends (at_open), and has only the asked columns.
    assert table.column_names == ["value", "__messageId"]
    assert table.num_rows == 50
    produce(pulsar_client, topic, 5)  # after the plan: not in its endpoints
    assert sum(t.num_rows for t in read_endpoints(client, info)) == 50


def test_last_message_ids_make_a_command_that_reads_up_to_them(client, pulsar_client):
    topic = fresh_topic("flight-last")
    produce(pulsar_client, topic, 40)
    [result] = list(client.do_action(flight.Action("seam.LastMessageIds", json.dumps({"topic": topic}).encode())))
    ends = json.loads(result.body.to_pybytes())
    produce(pulsar_client, topic, 10)
    _, table = read_flight(client, flight.FlightDescriptor.for_command(json.dumps(ends)))
    official = read_official(pulsar_client, topic)
    assert table.column("__messageId").to_pylist() == [m.message_id().serialize() for m in official[:40]]


def test_segments_are_the_ledgers_get_flight_info_plans(client, pulsar_client):
    topic = fresh_topic("flight-segments")
    path = f"persistent/public/default/{topic.rsplit('/', 1)[1]}"
    for _ in range(2):
        produce(pulsar_client, topic, 30, batching_enabled=False)
        admin("PUT", f"{path}/unload")
    produce(pulsar_client, topic, 20, batching_enabled=False)  # into the open ledger

    def segments(body):
        return [json.loads(r.body.to_pybytes()) for r in client.do_action(flight.Action("seam.Segments", body))]

    listed = segments(topic.encode())
    stats = admin("GET", f"{path}/internalStats")
    closed = [ledger["ledgerId"] for ledger in stats["ledgers"] if ledger["entries"] > 0]
    open_ledger = int(stats["lastConfirmedEntry"].split(":")[0])
    assert [s["ledgerId"] for s in listed] == [*closed, open_ledger]
    assert [(s["firstEntry"], s["lastEntry"], s["entries"]) for s in listed] == [(0, 29, 30), (0, 29, 30), (0, 19, 20)]
    assert [s["open"] for s in listed] == [False, False, True]
    assert all(s["topic"] == topic and s["partition"] == -1 and s["bytes"] > 0 for s in listed)
    info = client.get_flight_info(flight.FlightDescriptor.for_path(topic))
    assert sum(s["bytes"] for s in listed) == info.total_bytes
    # A JSON command, as GetFlightInfo takes it: an end position cuts the last segment.
    ends = json.loads(next(iter(client.do_action(flight.Action(
        "seam.LastMessageIds", json.dumps({"topic": topic}).encode())))).body.to_pybytes())
    produce(pulsar_client, topic, 5, batching_enabled=False)
    # (The open ledger's bytes are an average over what it holds now: left out.)
    def without_bytes(listing):
        return [{key: value for key, value in s.items() if key != "bytes"} for s in listing]

    assert without_bytes(segments(json.dumps(ends).encode())) == without_bytes(listed)
    with pytest.raises(pa.ArrowInvalid, match="invalid argument"):
        segments(b'{"topic": "x", "atopen": {}}')


def test_get_schema_is_the_schema_of_the_read(client, pulsar_client):
    topic = fresh_topic("flight-schema")
    produce(pulsar_client, topic, 5)
    schema = client.get_schema(flight.FlightDescriptor.for_path(topic)).schema
    _, table = read_flight(client, flight.FlightDescriptor.for_path(topic))
    assert schema == table.schema
    command = json.dumps({"topic": topic, "columns": ["__key", "value"]})
    assert client.get_schema(flight.FlightDescriptor.for_command(command)).schema.names == ["value", "__key"]


def test_list_flights_names_the_namespace_topics_with_their_schemas(client, pulsar_client):
    topic = fresh_topic("flight-list")
    produce(pulsar_client, topic, 3)
    listed = {f.descriptor.path[0].decode(): f for f in client.list_flights(b"public/default")}
    assert topic in listed
    assert listed[topic].endpoints == [] and listed[topic].total_records == -1
    assert listed[topic].schema == client.get_schema(flight.FlightDescriptor.for_path(topic)).schema
    assert topic in {f.descriptor.path[0].decode() for f in client.list_flights()}  # empty = public/default


def test_actions_are_listed_and_an_unknown_one_names_them(client):
    assert [a.type for a in client.list_actions()] == ["seam.PollFlightInfo", "seam.LastMessageIds", "seam.Segments"]
    with pytest.raises(pa.ArrowInvalid, match="unknown action .*seam.LastMessageIds"):
        list(client.do_action(flight.Action("LastMessageIds", b"{}")))


def test_seam_is_read_only(client):
    schema = pa.schema([("value", pa.binary())])
    with pytest.raises(pa.ArrowNotImplementedError, match="Seam is read-only"):
        writer, _ = client.do_put(flight.FlightDescriptor.for_path("anything"), schema)
        writer.write_table(schema.empty_table())
        writer.close()


def test_handshake_takes_bearer_tokens_not_passwords(client):
    with pytest.raises(flight.FlightUnauthenticatedError, match='send "authorization: Bearer <token>"'):
        client.authenticate_basic_token("alice", "secret")


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def retopic(ticket, topic):
    """A CRC ticket rewritten to name another topic, its CRC made right again: what a client
    that read the (opaque) bytes could forge. The envelope: "T1", key id 0, CRC32C, body."""
    assert ticket[:3] == b"T1\x00"
    body = ticket[7:]
    assert body[0] == 0x08 and body[2] == 0x12  # version = 1, then field 2 (topic)
    length = body[3]
    name = topic.encode()
    body = body[:2] + bytes([0x12, len(name)]) + name + body[4 + length:]
    return b"T1\x00" + struct.pack(">I", crc32c(body)) + body


def test_edited_and_foreign_tickets_are_refused(client, pulsar_client):
    topic, other = fresh_topic("flight-ticket"), fresh_topic("flight-other")
    produce(pulsar_client, topic, 20)
    produce(pulsar_client, other, 20)
    info = client.get_flight_info(flight.FlightDescriptor.for_path(topic))
    ticket = info.endpoints[0].ticket.ticket
    edited = bytearray(ticket)
    edited[-1] ^= 0x01
    with pytest.raises(pa.ArrowInvalid, match="not a ticket of this Seam"):
        client.do_get(flight.Ticket(bytes(edited))).read_all()
    with pytest.raises(pa.ArrowInvalid, match="not a ticket of this Seam"):
        client.do_get(flight.Ticket(b"garbage")).read_all()
    # A well-formed ticket naming another topic: its ledger is not that topic's.
    with pytest.raises(pa.ArrowInvalid, match="invalid argument: "):
        client.do_get(flight.Ticket(retopic(ticket, other))).read_all()
    # The ticket as issued still reads.
    assert client.do_get(flight.Ticket(ticket)).read_all().num_rows == 20


def test_tickets_signed_with_keys_are_refused_by_a_gateway_without_them(pulsar_client, gateway):
    keys = Path(tempfile.mkdtemp()) / "ticket-keys"
    keys.write_text(f"1:{base64.b64encode(bytes(range(32))).decode()}\n")
    signed = Gateway("--plaintext", "--pulsar-url", SERVICE_URL, "--pulsar-admin-url", ADMIN_URL,
                     "--flight-ticket-keys", str(keys))
    signed.start()
    try:
        topic = fresh_topic("flight-hmac")
        produce(pulsar_client, topic, 10)
        with flight.FlightClient(f"grpc://{signed.address}") as c, \
                flight.FlightClient(f"grpc://{gateway.address}") as plain:
            info = c.get_flight_info(flight.FlightDescriptor.for_path(topic))
            ticket = info.endpoints[0].ticket
            assert ticket.ticket[2] == 1  # key id 1
            assert c.do_get(ticket).read_all().num_rows == 10
            with pytest.raises(pa.ArrowInvalid, match="signed with key 1, unknown here"):
                plain.do_get(ticket).read_all()
            unsigned = plain.get_flight_info(flight.FlightDescriptor.for_path(topic)).endpoints[0].ticket
            with pytest.raises(pa.ArrowInvalid, match="unsigned"):
                c.do_get(unsigned).read_all()
    finally:
        signed.stop()


JAVA_CLIENT = ROOT / "clients/java/target"


def test_arrow_java_flight_client_reads_the_same_rows_per_endpoint(gateway, client, pulsar_client):
    """clients/java's SeamFlightRead (Arrow Java's FlightClient, no Seam code) reads every
    endpoint in parallel: the same rows per endpoint as pyarrow."""
    if not (JAVA_CLIENT / "classes").is_dir() or not (JAVA_CLIENT / "lib").is_dir():
        pytest.skip("SKIPPED, NOT PASSED: clients/java is not built (npm run setup builds it with Maven): "
                    "Arrow Java was not checked")
    topic = fresh_topic("flight-java")
    path = f"persistent/public/default/{topic.rsplit('/', 1)[1]}"
    for _ in range(3):
        produce(pulsar_client, topic, 100)
        admin("PUT", f"{path}/unload")
    info = client.get_flight_info(flight.FlightDescriptor.for_path(topic))
    tables = read_endpoints(client, info)
    assert len(tables) >= 3
    with tempfile.TemporaryDirectory() as folder:
        ids = Path(folder) / "ids.txt"
        result = subprocess.run(
            ["java", "-cp", f"{JAVA_CLIENT / 'classes'}:{JAVA_CLIENT / 'lib'}/*", "dev.seam.flight.SeamFlightRead",
             f"grpc://{gateway.address}", topic, "--parallelism", "4", "--ids", str(ids)],
            check=False, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        java_ids = [line.split("\t") for line in ids.read_text().splitlines()]
    counts = [int(line.split(": ")[1].split(" rows")[0]) for line in result.stdout.splitlines()
              if line.startswith("endpoint ")]
    assert counts == [t.num_rows for t in tables]
    table = pa.concat_tables(tables)
    expected = [[t, base64.b64encode(m).decode()]
                for t, m in zip(table.column("__topic").to_pylist(), table.column("__messageId").to_pylist())]
    assert java_ids == expected
    assert len(java_ids) == 300


def test_a_sealed_endpoint_sends_rows_only_no_seam_marker(client, pulsar_client):
    """read_chunk shows metadata-only messages (heartbeats, markers) as chunks without data; a
    sealed range has no tail, so no seam marker either."""
    topic = fresh_topic("flight-chunks")
    produce(pulsar_client, topic, 30)
    info = client.get_flight_info(flight.FlightDescriptor.for_path(topic))
    reader = client.do_get(info.endpoints[0].ticket)
    chunks = []
    while True:
        try:
            chunks.append(reader.read_chunk())
        except StopIteration:
            break
    assert [chunk.data is not None for chunk in chunks] == [True] * len(chunks)
    assert sum(chunk.data.num_rows for chunk in chunks) == 30
    assert all(chunk.app_metadata is not None for chunk in chunks)  # BatchInfo on each batch


READING_V1 = {"type": "record", "name": "Reading", "namespace": "seam.test",
              "fields": [{"name": "sensor", "type": "string"}]}
READING_V2 = {**READING_V1, "fields": [*READING_V1["fields"], {"name": "celsius", "type": "double", "default": -273.15}]}


def test_a_ticket_reads_with_the_schema_its_flight_info_announced(client, pulsar_client):
    """The schema evolves between GetFlightInfo and DoGet: the ticket still reads with the
    version it was planned with, so the endpoints of one FlightInfo concatenate."""
    topic = fresh_topic("flight-evolve")
    producer = pulsar_client.create_producer(topic, schema=AvroSchema(None, schema_definition=READING_V1))
    producer.send({"sensor": "s0"})
    producer.close()
    info = client.get_flight_info(flight.FlightDescriptor.for_path(topic))
    producer = pulsar_client.create_producer(topic, schema=AvroSchema(None, schema_definition=READING_V2))
    producer.send({"sensor": "s1", "celsius": 21.5})
    producer.close()
    old = client.do_get(info.endpoints[0].ticket).read_all()
    assert old.schema == info.schema and "celsius" not in old.column_names
    assert old.column("sensor").to_pylist() == ["s0"]
    # Planned again, the endpoints read both messages with the new schema.
    _, table = read_flight(client, flight.FlightDescriptor.for_path(topic))
    assert table.column("celsius").to_pylist() == [-273.15, 21.5]


def test_a_tail_endpoint_streams_heartbeats_then_live_rows(client, pulsar_client):
    """A read that follows has one more endpoint per partition, its tail: metadata-only
    heartbeats while idle (read_chunk shows them, with no data), then rows as they come."""
    topic = fresh_topic("flight-tail")
    produce(pulsar_client, topic, 10)
    command = json.dumps({"topic": topic, "follow": {}, "batching": {"heartbeatInterval": "0.2s"}})
    info = client.get_flight_info(flight.FlightDescriptor.for_command(command))
    *history, tail = info.endpoints
    assert sum(client.do_get(e.ticket).read_all().num_rows for e in history) == 10
    reader = client.do_get(tail.ticket)
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(reader.read_chunk)
        try:
            heartbeat = future.result(timeout=30)
        except TimeoutError:
            reader.cancel()  # a reader stuck on a message it cannot parse fails the test here
            raise
    assert heartbeat.data is None and heartbeat.app_metadata is not None
    produce(pulsar_client, topic, 5)
    rows = 0
    while rows < 5:
        chunk = reader.read_chunk()
        rows += chunk.data.num_rows if chunk.data is not None else 0
    reader.cancel()
    assert rows == 5
