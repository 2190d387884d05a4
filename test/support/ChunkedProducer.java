// The official Java client writing chunked messages small enough for a test corpus: its
// chunkMaxMessageSize splits a message into chunks of a few hundred bytes, where the broker's
// maxMessageSize (1 MiB here) would need a megabyte a message. The Python client has no such
// setting. Run from source with Pulsar's jars (test/support/capture-fixtures.ts does):
//
//   java -cp 'pulsar/.lib/*' test/support/ChunkedProducer.java URL TOPIC
//
// Writes three messages: 2,000 bytes in chunks of 600 (uncompressed), a small one, then
// 3,000 bytes LZ4-compressed as a whole before being cut into chunks of 600.

import java.nio.charset.StandardCharsets;
import org.apache.pulsar.client.api.CompressionType;
import org.apache.pulsar.client.api.Producer;
import org.apache.pulsar.client.api.PulsarClient;

public class ChunkedProducer {
  public static void main(String[] args) throws Exception {
    try (PulsarClient client = PulsarClient.builder().serviceUrl(args[0]).build()) {
      send(client, args[1], CompressionType.NONE, text(2000, 1), text(20, 2));
      send(client, args[1], CompressionType.LZ4, text(3000, 3));
    }
  }

  /** Deterministic text that LZ4 compresses to about half. */
  static byte[] text(int size, int seed) {
    StringBuilder out = new StringBuilder();
    long x = seed;
    while (out.length() < size) {
      x = (x * 6364136223846793005L + 1442695040888963407L);
      out.append(Long.toString((x >>> 40) % 100_000, 16)).append(x % 3 == 0 ? " " : ".");
    }
    return out.substring(0, size).getBytes(StandardCharsets.UTF_8);
  }

  static void send(PulsarClient client, String topic, CompressionType codec, byte[]... values)
      throws Exception {
    try (Producer<byte[]> producer =
        client
            .newProducer()
            .topic(topic)
            .enableBatching(false)
            .enableChunking(true)
            .chunkMaxMessageSize(600)
            .compressionType(codec)
            .create()) {
      for (byte[] value : values)
        producer.newMessage().key("chunked").property("size", "" + value.length).value(value).send();
    }
  }
}
