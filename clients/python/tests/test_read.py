"""The Python client against the real gateway and Pulsar, compared with the official client."""

import threading

import grpc
import pyarrow as pa
import pytest

import pulsar_seam

from conftest import fresh_topic, produce, read_official


def test_read_all_equals_the_official_reader(gateway, pulsar_client):
    topic = fresh_topic("readall")
    produce(pulsar_client, topic, 800)
    table = pulsar_seam.read(gateway.address, topic).read_all()
    official = read_official(pulsar_client, topic)
    assert table.num_rows == len(official) == 800
    assert table.column_names == [
        "value", "__key", "__topic", "__messageId", "__publishTime", "__eventTime", "__messageProperties",
    ]
    assert table.column("__messageId").to_pylist() == [m.message_id().serialize() for m in official]
    assert table.column("value").to_pylist() == [m.data() for m in official]
    assert table.column("__key").to_pylist() == [m.partition_key() for m in official]
    publish = [int(t.timestamp() * 1000) for t in table.column("__publishTime").to_pylist()]
    assert publish == [m.publish_timestamp() for m in official]
    properties = [dict(p) for p in table.column("__messageProperties").to_pylist()]
    assert properties == [m.properties() for m in official]


def test_pandas_in_one_line(gateway, pulsar_client):
    topic = fresh_topic("pandas")
    produce(pulsar_client, topic, 50)
    frame = pulsar_seam.read(gateway.address, topic, columns=["value", "__key"]).read_all().to_pandas()
    assert list(frame.columns) == ["value", "__key"]
    assert len(frame) == 50
    assert frame["__key"].iloc[8] == "k1"


def test_follow_crosses_the_seam_into_live_rows(gateway, pulsar_client):
    topic = fresh_topic("follow")
    produce(pulsar_client, topic, 100)
    phases, rows = [], 0
    live = None
    for batch, info in pulsar_seam.stream(gateway.address, topic, end="follow"):
        phases.append(info.phase)
        rows += batch.num_rows
        if live is None and rows >= 100:
            live = threading.Thread(target=produce, args=(pulsar_client, topic, 30))
            live.start()
        if rows >= 130:
            break
    live.join()
    assert rows == 130
    assert phases[0] == "history" and phases[-1] == "tail"
    assert phases == sorted(phases)  # every history batch before every tail batch


def test_phases_belong_to_the_read_across_a_resume(gateway, pulsar_client):
    """Rows published while the gateway was away are history to the resumed stream, but the
    read is past its seam: they come as "tail"."""
    topic = fresh_topic("phases")
    produce(pulsar_client, topic, 100)
    phases, seen = [], []
    restarted = False
    for batch, info in pulsar_seam.stream(gateway.address, topic, end="follow", max_rows=50):
        phases.append(info.phase)
        seen.extend(batch.column("__messageId").to_pylist())
        if len(seen) == 50:
            produce(pulsar_client, topic, 10)  # after the stream opened: its tail
        if not restarted and info.phase == "tail":
            restarted = True
            gateway.stop()
            produce(pulsar_client, topic, 120)
            gateway.start()  # same port
        if len(seen) >= 230:
            break
    assert restarted
    assert seen == [m.message_id().serialize() for m in read_official(pulsar_client, topic)]
    assert phases[:2] == ["history", "history"]
    assert set(phases[2:]) == {"tail"}


def test_resumes_by_itself_when_the_gateway_restarts(gateway, pulsar_client):
    topic = fresh_topic("restart")
    produce(pulsar_client, topic, 5000)
    expected = [m.message_id().serialize() for m in read_official(pulsar_client, topic)]
    seen, restarted = [], False
    for batch, _ in pulsar_seam.stream(gateway.address, topic, end="at_open", max_rows=250):
        seen.extend(batch.column("__messageId").to_pylist())
        if not restarted and len(seen) >= 1000:
            restarted = True
            gateway.stop()  # open streams end with OK and a resume token
            gateway.start()  # same port
    assert restarted
    assert seen == expected


def test_errors_are_typed(gateway):
    with pytest.raises(pulsar_seam.SeamError) as caught:
        pulsar_seam.read(gateway.address, fresh_topic("missing")).read_all()
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(pulsar_seam.SeamError) as caught:
        pulsar_seam.read(gateway.address, "kafka://a/b/c").read_all()
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_plain_ipc_decoding_of_flight_data(gateway, pulsar_client):
    """What any client does without Seam's package: frame data_header/data_body back into
    an Arrow IPC stream and hand it to pyarrow."""
    topic = fresh_topic("plain")
    produce(pulsar_client, topic, 20)
    from pulsar_seam._generated.seam.v1 import seam_pb2

    channel = grpc.insecure_channel(gateway.address)
    call = channel.unary_stream(
        "/seam.v1.SeamService/ReadStream",
        request_serializer=seam_pb2.ReadStreamRequest.SerializeToString,
        response_deserializer=seam_pb2.ReadStreamResponse.FromString,
    )
    request = seam_pb2.ReadStreamRequest(topic=topic)
    request.at_open.SetInParent()
    stream = b""
    for response in call(request):
        if response.data_header:
            stream += b"\xff\xff\xff\xff" + len(response.data_header).to_bytes(4, "little")
            stream += response.data_header + response.data_body
    channel.close()
    table = pa.ipc.open_stream(stream + b"\xff\xff\xff\xff\x00\x00\x00\x00").read_all()
    assert table.num_rows == 20
    assert table.column("value").to_pylist()[3] == b"message 3"


def test_same_table_as_the_typescript_client(gateway, pulsar_client, tmp_path):
    """The TypeScript SDK (through `seam read --output`) and this client read the same table."""
    import subprocess

    from conftest import NODE, ROOT

    topic = fresh_topic("same-table")
    produce(pulsar_client, topic, 300)
    file = tmp_path / "ts.arrow"
    subprocess.run(
        [NODE, str(ROOT / "server/cli.ts"), "read", topic, "--end", "at_open", "--address", gateway.address,
         "--output", str(file)],
        check=True,
        capture_output=True,
    )
    from_ts = pa.ipc.open_file(str(file)).read_all()
    from_python = pulsar_seam.read(gateway.address, topic).read_all()
    assert from_ts.num_rows == from_python.num_rows == 300
    assert from_ts.schema.names == from_python.schema.names
    for name in from_python.schema.names:
        assert from_ts.column(name).to_pylist() == from_python.column(name).to_pylist(), name
