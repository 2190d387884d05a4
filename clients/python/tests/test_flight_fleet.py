"""Two gateway processes as one fleet against one Pulsar, read by pyarrow.flight alone (no
Seam import): `--flight-locations` names both in every endpoint, rotated, and they share one
`--flight-ticket-keys` file, so a ticket either gateway signed redeems on the other. Reading
every endpoint at its first location gives the single gateway's table and the official
reader's rows."""

import base64
import contextlib
import socket
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest
from pyarrow import flight
from test_flight import admin, by_partition, official_by_partition, read_flight

from conftest import ADMIN_URL, ROOT, SERVICE_URL, Gateway, fresh_topic


def free_ports(count):
    # Each gateway is told the other's address before either starts: ports picked up front,
    # all held at once while picking (one closed before the next is picked can be picked
    # again: CI once got the same port twice).
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def key_file(seed):
    path = Path(tempfile.mkdtemp()) / "ticket-keys"
    path.write_text(f"1:{base64.b64encode(bytes((seed + i) % 256 for i in range(32))).decode()}\n")
    return path


def serve(port, *args):
    gw = Gateway("--plaintext", "--pulsar-url", SERVICE_URL, "--pulsar-admin-url", ADMIN_URL, *args)
    gw.port = port
    gw.start()
    return gw


@pytest.fixture(scope="module")
def fleet():
    ports = free_ports(2)
    locations = [f"grpc://127.0.0.1:{port}" for port in ports]
    keys = key_file(1)
    gateways = []
    try:
        for port in ports:
            gateways.append(serve(port, "--flight-locations", ",".join(locations),
                                  "--flight-ticket-keys", str(keys)))
        yield locations
    finally:
        for gw in gateways:
            gw.stop()


def ledgers_of_two_partitions(pulsar_client, label, per_round):
    """A topic of two partitions of three ledgers each (unloads close them): six endpoints."""
    name = fresh_topic(label)
    local = name.rsplit("/", 1)[1]
    admin("PUT", f"persistent/public/default/{local}/partitions", 2)
    for _ in range(3):
        producer = pulsar_client.create_producer(name, batching_max_publish_delay_ms=5)
        for i in range(per_round):
            producer.send_async(f"message {i}".encode(), None, partition_key=f"key{i % 20}")
        producer.flush()
        producer.close()
        for p in range(2):
            admin("PUT", f"persistent/public/default/{local}-partition-{p}/unload")
    return name


@pytest.fixture(scope="module")
def topic(pulsar_client):
    return ledgers_of_two_partitions(pulsar_client, "fleet", 200)


def read_at_first_locations(info):
    """Each endpoint read at its first location, all at once, in endpoint order."""
    clients = {}
    for endpoint in info.endpoints:
        uri = endpoint.locations[0].uri.decode()
        clients.setdefault(uri, flight.FlightClient(uri))
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            tables = list(pool.map(
                lambda e: clients[e.locations[0].uri.decode()].do_get(e.ticket).read_all(), info.endpoints))
    finally:
        for c in clients.values():
            c.close()
    return pa.concat_tables(tables)


def test_endpoints_name_the_fleet_and_reading_each_at_its_first_location_gives_the_table(
        fleet, topic, gateway, pulsar_client):
    with flight.FlightClient(fleet[0]) as first:
        info = first.get_flight_info(flight.FlightDescriptor.for_path(topic))
    assert len(info.endpoints) == 6
    lists = [[location.uri.decode() for location in e.locations] for e in info.endpoints]
    # Every endpoint names both gateways; consecutive endpoints start at alternate ones.
    assert all(sorted(uris) == sorted(fleet) for uris in lists)
    assert [uris[0] for uris in lists[1::2]] == [lists[1][0]] * 3
    assert [uris[0] for uris in lists[0::2]] == [lists[0][0]] * 3
    assert lists[0][0] != lists[1][0]
    # Planned by the other gateway: the same locations, in the same order.
    with flight.FlightClient(fleet[1]) as second:
        again = second.get_flight_info(flight.FlightDescriptor.for_path(topic))
    assert [[loc.uri.decode() for loc in e.locations] for e in again.endpoints] == lists

    table = read_at_first_locations(info)
    with flight.FlightClient(f"grpc://{gateway.address}") as single:
        single_info, single_table = read_flight(single, flight.FlightDescriptor.for_path(topic))
    assert [e.locations for e in single_info.endpoints] == [[]] * 6  # no fleet: "this service"
    assert table.schema == single_table.schema
    assert table.to_pylist() == single_table.to_pylist()
    assert table.num_rows == 600
    assert by_partition(table) == official_by_partition(pulsar_client, topic, 2)


def test_a_ticket_signed_by_one_gateway_redeems_on_the_other(fleet, topic):
    with flight.FlightClient(fleet[0]) as first, flight.FlightClient(fleet[1]) as second:
        info = first.get_flight_info(flight.FlightDescriptor.for_path(topic))
        assert all(e.ticket.ticket[2] == 1 for e in info.endpoints)  # signed with key 1
        at_first = [first.do_get(e.ticket).read_all() for e in info.endpoints]
        at_second = [second.do_get(e.ticket).read_all() for e in info.endpoints]
    assert [t.num_rows for t in at_first] == [t.num_rows for t in at_second]
    assert all(a.equals(b) for a, b in zip(at_first, at_second))


def test_a_gateway_with_another_key_refuses_the_fleet_s_tickets(fleet, topic):
    other = serve(0, "--flight-ticket-keys", str(key_file(99)))  # key id 1 too, other bytes
    try:
        with flight.FlightClient(fleet[0]) as first, flight.FlightClient(f"grpc://{other.address}") as c:
            ticket = first.get_flight_info(flight.FlightDescriptor.for_path(topic)).endpoints[0].ticket
            with pytest.raises(pa.ArrowInvalid, match="invalid argument: not a ticket of this Seam"):
                c.do_get(ticket).read_all()
    finally:
        other.stop()


EXAMPLES = ROOT / "clients/python/examples"


def test_the_duckdb_and_polars_examples_read_the_fleet(fleet, topic):
    """The examples of docs/flight.md, as they are, against the fleet."""
    address = fleet[0].removeprefix("grpc://")
    run = lambda name: subprocess.run([sys.executable, str(EXAMPLES / name), topic, address],
                                      check=True, capture_output=True, text=True, timeout=120).stdout
    duck = run("flight_duckdb.py")
    assert duck.startswith("6 endpoints, ")
    # 600 messages over 20 keys: the five customers it shows have 30 orders each.
    assert [int(line.split("│")[2]) for line in duck.splitlines() if line.startswith("│ key")] == [30] * 5
    polars = run("flight_polars.py")
    endpoints = [line for line in polars.splitlines() if line.startswith("endpoint ")]
    assert len(endpoints) == 6
    assert {line.rsplit(" at ", 1)[1] for line in endpoints} == set(fleet)
    assert sum(int(line.split(": ")[1].split(" rows")[0]) for line in endpoints) == 600
