"""The demo's producer: merchant transactions written by the official Pulsar client (AVRO).

  history N   N transactions with event times spread over the past 30 days, as fast as possible
  live R      R transactions a second with event time now, until stopped

Prints one JSON line when done (history) or every second (live).
"""

import json
import random
import signal
import sys
import time

import pulsar
from pulsar.schema import AvroSchema

SCHEMA = {
    "type": "record",
    "name": "Transaction",
    "namespace": "seam.demo",
    "fields": [
        {"name": "merchant", "type": "string"},
        {"name": "amount_cents", "type": "long"},
        {"name": "card", "type": "string"},
    ],
}
MERCHANTS = [f"merchant-{i:02d}" for i in range(40)]
DAY_MS = 86_400_000


def transaction(rng):
    # A few merchants take most of the volume, as in real payment data.
    merchant = MERCHANTS[min(int(rng.paretovariate(1.2)) - 1, len(MERCHANTS) - 1)]
    return {"merchant": merchant, "amount_cents": rng.randint(100, 50_000), "card": f"card-{rng.randint(0, 99999):05d}"}


def main():
    url, topic, mode, amount = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    client = pulsar.Client(url, logger=pulsar.FileLogger(pulsar.LoggerLevel.Warn, "/dev/stderr"))
    producer = client.create_producer(
        topic,
        schema=AvroSchema(None, schema_definition=SCHEMA),
        batching_enabled=True,
        batching_max_publish_delay_ms=1 if mode == "live" else 10,
        block_if_queue_full=True,
    )
    rng = random.Random(7 if mode == "history" else None)
    try:
        if mode == "history":
            now = int(time.time() * 1000)
            for _ in range(int(amount)):
                producer.send_async(transaction(rng), None, event_timestamp=now - rng.randint(0, 30 * DAY_MS))
            producer.flush()
            print(json.dumps({"produced": int(amount)}), flush=True)
        else:
            sent = 0
            started = time.monotonic()
            while True:
                producer.send_async(transaction(rng), None, event_timestamp=int(time.time() * 1000))
                sent += 1
                delay = started + sent / amount - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
    except KeyboardInterrupt:
        # Ctrl-C reaches us twice (terminal and demo): finish closing regardless.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    finally:
        producer.flush()
        client.close()


if __name__ == "__main__":
    main()
