"""pulsar_seam.read_parallel: a bounded read over the gateway's Flight endpoints, several at
once, equal to ReadStream's table (pulsar_seam.read) and the official reader's rows, in
Pulsar order per partition; over TLS with a token as the other calls take them."""

import base64
import json

import pyarrow as pa
import pytest
from pyarrow import flight
from test_flight import by_partition, official_by_partition
from test_flight_fleet import ledgers_of_two_partitions
from test_secure import certificates  # noqa: F401 (a fixture: a CA and a 127.0.0.1 certificate)

import pulsar_seam

from conftest import ADMIN_URL, SERVICE_URL, Gateway, fresh_topic, produce, read_official


def test_a_partitioned_topic_of_several_ledgers_reads_as_readstream_and_the_official_reader(
        gateway, pulsar_client):
    topic = ledgers_of_two_partitions(pulsar_client, "parallel", 150)
    table = pulsar_seam.read_parallel(gateway.address, topic, max_workers=3)
    stream = pulsar_seam.read(gateway.address, topic).read_all()
    assert table.num_rows == 450
    assert table.schema == stream.schema
    assert by_partition(table) == by_partition(stream)
    assert by_partition(table) == official_by_partition(pulsar_client, topic, 2)
    # Partition 0's endpoints come first, each partition's rows in Pulsar order.
    topics = table.column("__topic").to_pylist()
    assert topics == sorted(topics)


def test_columns_start_and_a_request_dict(gateway, pulsar_client):
    topic = fresh_topic("parallel-options")
    produce(pulsar_client, topic, 40)
    official = read_official(pulsar_client, topic)
    columns = pulsar_seam.read_parallel(gateway.address, topic, columns=["value", "__messageId"])
    assert columns.column_names == ["value", "__messageId"]
    assert columns.column("value").to_pylist() == [m.data() for m in official]
    later = pulsar_seam.read_parallel(gateway.address, topic, start={"message_id": official[25].message_id().serialize()})
    assert later.column("__messageId").to_pylist() == [m.message_id().serialize() for m in official[25:]]
    # The seam.LastMessageIds action's answer is a request: up to those messages, not later ones.
    with flight.FlightClient(f"grpc://{gateway.address}") as c:
        [result] = c.do_action(flight.Action("seam.LastMessageIds", json.dumps({"topic": topic}).encode()))
    ends = json.loads(result.body.to_pybytes())
    produce(pulsar_client, topic, 5)
    upto = pulsar_seam.read_parallel(gateway.address, ends)
    assert upto.num_rows == 40
    with pytest.raises(ValueError, match="never ends"):
        pulsar_seam.read_parallel(gateway.address, topic, end="follow")


def unsigned_token(role):
    """A JWT the gateway takes unverified (--trust-unverified-tokens): the standalone here checks
    no tokens, so what matters is that it arrives."""
    part = lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'HS256'})}.{part({'sub': role})}.c2ln"


TOKEN = unsigned_token("py-parallel")


@pytest.fixture(scope="module")
def tls_gateway(certificates):  # noqa: F811
    """A gateway serving TLS that reads as its callers: a call without a token is refused."""
    gw = Gateway("--caller-auth", "forward", "--trust-unverified-tokens",
                 "--tls-cert", str(certificates / "server.pem"), "--tls-key", str(certificates / "server.key"),
                 "--pulsar-url", SERVICE_URL, "--pulsar-admin-url", ADMIN_URL)
    gw.start()
    yield gw
    gw.stop()


def test_tls_and_a_token_as_the_other_calls_take_them(tls_gateway, certificates, pulsar_client):  # noqa: F811
    topic = fresh_topic("parallel-tls")
    produce(pulsar_client, topic, 30)
    ca = certificates / "ca.pem"
    table = pulsar_seam.read_parallel(tls_gateway.address, topic, ca=ca, token=TOKEN)
    assert table.num_rows == 30
    asked = []
    table = pulsar_seam.read_parallel(tls_gateway.address, topic, ca=ca.read_bytes(),
                                      token=lambda: asked.append(1) or TOKEN)
    assert table.num_rows == 30 and len(asked) >= 2  # planning and each endpoint ask for it
    with pytest.raises(flight.FlightUnauthenticatedError):
        pulsar_seam.read_parallel(tls_gateway.address, topic, ca=ca)
    with pytest.raises(ValueError, match="only sent over TLS"):
        pulsar_seam.read_parallel(tls_gateway.address, topic, token=TOKEN)
    with pytest.raises(pa.ArrowException):
        pulsar_seam.read_parallel(tls_gateway.address, topic, token=TOKEN, tls=True)  # the system's CAs
