"""The official Pulsar client (C++ inside the Python wheel) as test producer and reference reader.

Tests compare what Seam reads against what this writes and reads, so nothing here is ours
but the plumbing. Both commands speak JSON lines.

  produce TOPIC [options]   messages from stdin (one JSON object a line) or --count N;
                            prints one line per message: its id as the producer saw it
  read TOPIC [options]      reads from earliest (or --start) until nothing is left
                            (or --count); prints one line per message with every field
                            (with --until, only the messages up to given ids)

A message on stdin: {"value_b64": ..} or {"value_text": ..} or {"value": <json>} (for
AVRO/JSON schemas), and optionally "key", "ordering_key_b64", "properties" {str: str},
"event_time" (ms).
"""

import argparse
import base64
import json
import sys
import datetime
import decimal
import uuid
import time

import pulsar
from pulsar import schema as pulsar_schema

JSON_RECORD = None  # the Record class of a JSON-schema producer
PROTOBUF_CLASS = None  # the message class of a PROTOBUF_NATIVE producer

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

COMPRESSION = {
    "NONE": pulsar.CompressionType.NONE,
    "LZ4": pulsar.CompressionType.LZ4,
    "ZLIB": pulsar.CompressionType.ZLib,
    "ZSTD": pulsar.CompressionType.ZSTD,
    "SNAPPY": pulsar.CompressionType.SNAPPY,
}


def b64(data):
    return base64.b64encode(data).decode("ascii") if data is not None else None


def message_id_json(mid):
    return {
        "ledger": mid.ledger_id(),
        "entry": mid.entry_id(),
        "partition": mid.partition(),
        "batch_index": mid.batch_index(),
        "serialized_b64": b64(mid.serialize()),
    }


def make_schema(kind, definition):
    if kind == "bytes":
        return pulsar_schema.BytesSchema()
    if kind == "string":
        return pulsar_schema.StringSchema()
    if kind == "avro":
        return pulsar_schema.AvroSchema(None, schema_definition=json.loads(definition))
    if kind == "json":
        return pulsar_schema.JsonSchema(json_record_class(json.loads(definition)))
    if kind == "protobuf":
        return pulsar_schema.ProtobufNativeSchema(protobuf_class(json.loads(definition)))
    raise SystemExit(f"unknown schema kind {kind!r}: use bytes, string, avro, json or protobuf")


def protobuf_class(definition):
    """The message class for {"file": <FileDescriptorProto as JSON>, "message": full name}:
    built at run time from the descriptor, as protoc's generated module would be."""
    from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

    pool = descriptor_pool.DescriptorPool()
    pool.Add(json_format.ParseDict(definition["file"], descriptor_pb2.FileDescriptorProto()))
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(definition["message"]))


JSON_FIELD_TYPES = {
    "string": pulsar_schema.String,
    "int": pulsar_schema.Integer,
    "long": pulsar_schema.Long,
    "double": pulsar_schema.Double,
    "float": pulsar_schema.Float,
    "boolean": pulsar_schema.Boolean,
}


def json_record_class(definition):
    """A pulsar.schema.Record class for a flat Avro-style record definition: the official
    client's JSON schema needs one (primitive fields; ["null", T] for optional ones)."""
    fields = {}
    for field in definition["fields"]:
        kind = field["type"]
        optional = isinstance(kind, list)
        if optional:
            kind = next(k for k in kind if k != "null")
        fields[field["name"]] = JSON_FIELD_TYPES[kind](required=not optional)
    return type(definition["name"], (pulsar_schema.Record,), fields)


def generated_messages(count, size, keys):
    for i in range(count):
        body = f"{i:010d}".encode()
        message = {"value_bytes": body + b"." * max(0, size - len(body))}
        if keys:
            message["key"] = f"k{i % keys}"
        yield message


def stdin_messages():
    for line in sys.stdin:
        if line.strip():
            yield json.loads(line)


def from_tagged(value):
    """JSON to Avro values: {"$decimal": "12.34"} becomes a Decimal; the rest as is."""
    if isinstance(value, dict):
        if set(value) == {"$decimal"}:
            return decimal.Decimal(value["$decimal"])
        return {k: from_tagged(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_tagged(v) for v in value]
    return value


def to_json(value):
    """Decoded Avro values as JSON: times as epoch ms (µs for microsecond types), dates as
    epoch days, decimals and UUIDs as strings."""
    if isinstance(value, datetime.datetime):
        delta = value - EPOCH if value.tzinfo else value - EPOCH.replace(tzinfo=None)
        return delta // datetime.timedelta(microseconds=1)
    if isinstance(value, datetime.date):
        return (value - EPOCH.date()).days
    if isinstance(value, datetime.time):
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, bytes):
        return {"$b64": b64(value)}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def message_value(message, schema_kind):
    if "value_bytes" in message:
        return message["value_bytes"]
    if "value_b64" in message:
        return base64.b64decode(message["value_b64"])
    if "value_text" in message:
        text = message["value_text"]
        return text if schema_kind == "string" else text.encode()
    value = from_tagged(message["value"])
    if schema_kind == "protobuf":
        from google.protobuf import json_format

        return json_format.ParseDict(value, PROTOBUF_CLASS())
    if schema_kind == "json":
        return JSON_RECORD(**value)
    return value


def produce(client, args):
    global JSON_RECORD, PROTOBUF_CLASS
    schema = make_schema(args.schema, args.schema_definition)
    if args.schema == "json":
        JSON_RECORD = schema._record_cls
    if args.schema == "protobuf":
        PROTOBUF_CLASS = schema._record_cls
    producer = client.create_producer(
        args.topic,
        schema=schema,
        producer_name=args.producer_name,
        batching_enabled=args.batching and not args.chunking,
        batching_max_messages=args.batch_max_messages,
        batching_max_publish_delay_ms=args.batch_delay_ms,
        batching_type=pulsar.BatchingType.KeyBased if args.key_based_batching else pulsar.BatchingType.Default,
        compression_type=COMPRESSION[args.compression],
        chunking_enabled=args.chunking,
        block_if_queue_full=True,
        max_pending_messages=10000,
    )
    messages = generated_messages(args.count, args.size, args.keys) if args.count is not None else stdin_messages()
    results = []
    errors = []

    def on_sent(index):
        def callback(result, message_id):
            if result != pulsar.Result.Ok:
                errors.append(f"message {index}: {result}")
            else:
                results[index] = message_id

        return callback

    started = time.monotonic()
    for index, message in enumerate(messages):
        if args.rate:
            # Pace to --rate messages/s: sleep until this message's slot.
            delay = started + index / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        results.append(None)
        extra = {}
        if "ordering_key_b64" in message:
            extra["ordering_key"] = base64.b64decode(message["ordering_key_b64"]).decode()
        producer.send_async(
            message_value(message, args.schema),
            on_sent(index),
            partition_key=message.get("key"),
            properties=message.get("properties"),
            event_timestamp=message.get("event_time"),
            **extra,
        )
    producer.flush()
    producer.close()
    if errors:
        raise SystemExit("produce failed: " + "; ".join(errors[:5]))
    if args.quiet:
        print(json.dumps({"count": len(results), "last": message_id_json(results[-1]) if results else None}))
        return
    out = sys.stdout
    for message_id in results:
        out.write(json.dumps(message_id_json(message_id)) + "\n")


def read(client, args):
    start = pulsar.MessageId.earliest
    if args.start:
        start = pulsar.MessageId.deserialize(base64.b64decode(args.start))
    reader = client.create_reader(
        args.topic,
        start,
        start_message_id_inclusive=args.inclusive,
        receiver_queue_size=args.receiver_queue_size,
        schema=make_schema(args.schema, args.schema_definition),
    )
    if args.quiet:
        return read_quietly(reader, args)
    until = parse_until(args.until)
    out = sys.stdout
    seen = 0
    while (args.count is None and reader.has_message_available()) or (args.count is not None and seen < args.count):
        msg = reader.read_next(args.timeout_ms)
        seen += 1
        if until is not None and not at_or_before(msg, until):
            continue
        out.write(
            json.dumps(
                {
                    "message_id": message_id_json(msg.message_id()),
                    "topic": msg.topic_name(),
                    "key": msg.partition_key() or None,
                    "properties": msg.properties(),
                    "publish_time": msg.publish_timestamp(),
                    "event_time": msg.event_timestamp() or None,
                    "value_b64": b64(msg.data()),
                    **({"value": to_json(msg.value())} if args.schema == "avro" else {}),
                    **({"value": protobuf_json(msg.value())} if args.schema == "protobuf" else {}),
                }
            )
            + "\n"
        )
    reader.close()


def protobuf_json(message):
    """A decoded protobuf message as JSON: field names as declared, unset scalars with their
    defaults, 64-bit integers as strings (protobuf's JSON mapping), enums by name."""
    from google.protobuf import json_format

    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def parse_until(values):
    """--until TOPIC=ID_B64 values as {topic: (ledger, entry, batch index)}; None without any."""
    if not values:
        return None
    until = {}
    for value in values:
        # Topic names hold no "=", base64 may end with some: split at the first.
        topic, _, id_b64 = value.partition("=")
        mid = pulsar.MessageId.deserialize(base64.b64decode(id_b64))
        until[topic] = (mid.ledger_id(), mid.entry_id(), mid.batch_index())
    return until


def at_or_before(msg, until):
    """Whether a message is at or before the --until id of its (partition) topic; a topic
    without one had nothing read, so none of its messages count."""
    last = until.get(msg.topic_name())
    mid = msg.message_id()
    return last is not None and (mid.ledger_id(), mid.entry_id(), mid.batch_index()) <= last


def read_quietly(reader, args):
    """The plain reader loop a Python user writes, timed: --count messages, values kept."""
    started = time.perf_counter()
    values = []
    size = 0
    for _ in range(args.count):
        data = reader.read_next(args.timeout_ms).data()
        values.append(data)
        size += len(data)
    seconds = time.perf_counter() - started
    reader.close()
    print(json.dumps({"count": len(values), "bytes": size, "seconds": seconds}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="pulsar://127.0.0.1:6650")
    parser.add_argument("--token", help="a JWT to authenticate with (brokers with authentication on)")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("produce")
    p.add_argument("topic")
    p.add_argument("--count", type=int, help="generate N messages instead of reading stdin")
    p.add_argument("--size", type=int, default=16, help="payload bytes of generated messages")
    p.add_argument("--keys", type=int, default=0, help="give generated messages keys k0..k(N-1)")
    p.add_argument("--schema", default="bytes", choices=["bytes", "string", "avro", "json", "protobuf"])
    p.add_argument("--schema-definition", help="the AVRO schema as JSON")
    p.add_argument("--no-batching", dest="batching", action="store_false")
    p.add_argument("--batch-max-messages", type=int, default=1000)
    p.add_argument("--batch-delay-ms", type=int, default=10)
    p.add_argument("--key-based-batching", action="store_true")
    p.add_argument("--compression", default="NONE", choices=sorted(COMPRESSION))
    p.add_argument("--chunking", action="store_true", help="chunk messages over maxMessageSize (disables batching)")
    p.add_argument("--producer-name")
    p.add_argument("--quiet", action="store_true", help="print only the count and the last id")
    p.add_argument("--rate", type=float, help="messages per second (default: as fast as possible)")

    r = commands.add_parser("read")
    r.add_argument("topic")
    r.add_argument("--start", help="serialized message id (base64) to start from")
    r.add_argument("--inclusive", action="store_true")
    r.add_argument("--receiver-queue-size", type=int, default=1000)
    r.add_argument("--schema", default="bytes", choices=["bytes", "string", "avro", "protobuf"])
    r.add_argument("--schema-definition", help="the AVRO schema (or protobuf definition) as JSON (decodes `value`)")
    r.add_argument("--count", type=int, help="read exactly N messages, waiting for them")
    r.add_argument("--timeout-ms", type=int, default=30000)
    r.add_argument("--quiet", action="store_true", help="with --count: time the read, print only figures")
    r.add_argument(
        "--until",
        action="append",
        help="TOPIC=ID_B64 (repeatable, one per partition topic): keep only the messages at or before that"
        " serialized message id; partitions not named keep none",
    )

    args = parser.parse_args()
    # Logs go to stderr: stdout carries only the JSON lines tests parse. (A Python
    # logging.Logger here makes the C++ client abort at exit.)
    client = pulsar.Client(
        args.url,
        authentication=pulsar.AuthenticationToken(args.token) if args.token else None,
        logger=pulsar.FileLogger(pulsar.LoggerLevel.Warn, "/dev/stderr"),
    )
    try:
        (produce if args.command == "produce" else read)(client, args)
    finally:
        client.close()


if __name__ == "__main__":
    main()
