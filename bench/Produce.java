/*
 * The benchmark's producer: the official Java client (Pulsar's own jars in pulsar/.lib),
 * batching on, writing small AVRO records (bench/order.avsc, 110-170 bytes each) under the
 * topic's AVRO schema. Java, not the Python client: the Python binding's send_async tops
 * out near 30 K msg/s here, below the tail scenario's first rate.
 *
 *   java -cp 'pulsar/.lib/*' bench/Produce.java AVSC URL TOPIC COUNT [RATE]
 *   java -cp 'pulsar/.lib/*' bench/Produce.java bytes:SIZE URL TOPIC COUNT [RATE]
 *
 * The second form writes random payloads of SIZE bytes under the BYTES schema (large
 * messages: the gateway's cost per byte). RATE is messages/s (0 or absent: as fast as
 * possible). Prints one JSON line:
 * {"count": .., "bytes": .., "seconds": ..}.
 */
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongFunction;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.pulsar.client.api.Producer;
import org.apache.pulsar.client.api.PulsarClient;
import org.apache.pulsar.client.api.Schema;

public class Produce {
  static final String[] SYMBOLS = {"AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "ORCL"};
  static final String[] VENUES = {"XNAS", "XNYS", "BATS", "ARCX"};
  static final int POOL = 4096; // distinct records; each message still gets its own id

  public static void main(String[] args) throws Exception {
    String url = args[1];
    String topic = args[2];
    long count = Long.parseLong(args[3]);
    double rate = args.length > 4 ? Double.parseDouble(args[4]) : 0;
    try (PulsarClient client = PulsarClient.builder().serviceUrl(url).build()) {
      if (args[0].startsWith("bytes:")) {
        // Random payloads, a pool of them: the bytes count, not their making. Fewer pending:
        // each is large.
        Random random = new Random(8);
        byte[][] pool = new byte[16][Integer.parseInt(args[0].substring(6))];
        for (byte[] payload : pool) random.nextBytes(payload);
        send(client, Schema.BYTES, 200, topic, count, rate, i -> pool[(int) (i % pool.length)]);
      } else {
        org.apache.avro.Schema schema =
            new org.apache.avro.Schema.Parser().parse(Files.readString(Path.of(args[0])));
        send(client, Schema.NATIVE_AVRO(schema), 20_000, topic, count, rate, orders(schema));
      }
    }
  }

  /** Order records, AVRO-encoded: the i-th message's payload. */
  static LongFunction<byte[]> orders(org.apache.avro.Schema schema) {
    Random random = new Random(8);
    GenericRecord[] pool = new GenericRecord[POOL];
    for (int i = 0; i < POOL; i++) {
      GenericRecord r = new GenericData.Record(schema);
      r.put("customer", String.format("customer-%06d", random.nextInt(100_000)));
      r.put("symbol", SYMBOLS[random.nextInt(SYMBOLS.length)]);
      r.put("side", random.nextBoolean() ? "buy" : "sell");
      r.put("price", Math.round(random.nextDouble(10, 1000) * 100) / 100.0);
      r.put("quantity", 1 + random.nextInt(9_999));
      r.put("venue", VENUES[random.nextInt(VENUES.length)]);
      StringBuilder note = new StringBuilder();
      int length = 40 + random.nextInt(60);
      for (int c = 0; c < length; c++) note.append("abcdefghijklmnopqrstuvwxyz ".charAt(random.nextInt(27)));
      r.put("note", note.toString());
      pool[i] = r;
    }
    GenericDatumWriter<GenericRecord> writer = new GenericDatumWriter<>(schema);
    ByteArrayOutputStream buffer = new ByteArrayOutputStream(256);
    BinaryEncoder[] encoder = {null};
    return i -> {
      GenericRecord record = pool[(int) (i % POOL)];
      record.put("id", i);
      buffer.reset();
      encoder[0] = EncoderFactory.get().binaryEncoder(buffer, encoder[0]);
      try {
        writer.write(record, encoder[0]);
        encoder[0].flush();
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
      return buffer.toByteArray();
    };
  }

  /**
   * Sends `count` payloads with batching on, paced at `rate` msg/s in steps of 100 (0: as
   * fast as it can), then prints the JSON line.
   */
  static void send(PulsarClient client, Schema<byte[]> schema, int maxPending, String topic,
      long count, double rate, LongFunction<byte[]> payload) throws Exception {
    AtomicReference<Throwable> failure = new AtomicReference<>();
    long bytes = 0;
    try (Producer<byte[]> producer = client.newProducer(schema)
        .topic(topic)
        .enableBatching(true)
        .batchingMaxMessages(1000)
        .batchingMaxPublishDelay(5, TimeUnit.MILLISECONDS)
        .blockIfQueueFull(true)
        .maxPendingMessages(maxPending)
        .create()) {
      long started = System.nanoTime();
      for (long i = 0; i < count; i++) {
        if (rate > 0 && i % 100 == 0) {
          // Paced in steps of 100 messages: wait for this step's slot.
          long wait = started + (long) (i / rate * 1e9) - System.nanoTime();
          if (wait > 0) TimeUnit.NANOSECONDS.sleep(wait);
        }
        byte[] value = payload.apply(i);
        bytes += value.length;
        producer.sendAsync(value).exceptionally(error -> {
          failure.compareAndSet(null, error);
          return null;
        });
        if (failure.get() != null) break;
      }
      producer.flush();
      double seconds = (System.nanoTime() - started) / 1e9;
      if (failure.get() != null) throw new RuntimeException("produce failed", failure.get());
      System.out.printf("{\"count\": %d, \"bytes\": %d, \"seconds\": %.3f}%n", count, bytes, seconds);
    }
  }
}
