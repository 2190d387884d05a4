/*
 * The tail's peer: the official Java consumer (Pulsar's own jars in pulsar/.lib) on the
 * live end of a topic, measured at the same time as Seam's stream on the same producer.
 * Latency is publish time to receive, the same clock as bench/peers.py's tail clients.
 *
 *   java -cp 'pulsar/.lib/*' bench/Tail.java URL TOPIC WARMUP_MS
 *
 * Prints "ready" on stderr once subscribed at the topic's end; when stdin closes, prints
 * one JSON line {"received": .., "histogram_us": {"<bucket>": count, ...}} and exits.
 * Messages published in the first WARMUP_MS after the first one are received but left out
 * of the histogram, as they are for Seam's client (JIT and connection warm-up).
 */
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.pulsar.client.api.Consumer;
import org.apache.pulsar.client.api.Message;
import org.apache.pulsar.client.api.PulsarClient;
import org.apache.pulsar.client.api.SubscriptionInitialPosition;
import org.apache.pulsar.client.api.SubscriptionMode;

public class Tail {
  /** Histogram buckets, µs: bench/peers.py's LATENCY_BUCKET_US. */
  static final long BUCKET_US = 100;

  public static void main(String[] args) throws Exception {
    String url = args[0];
    String topic = args[1];
    long warmupMs = Long.parseLong(args[2]);
    TreeMap<Long, Long> counts = new TreeMap<>();
    long[] received = {0};

    Thread report = new Thread(() -> {
      try {
        System.in.transferTo(java.io.OutputStream.nullOutputStream());
      } catch (java.io.IOException ignored) {
        // stdin gone: report all the same
      }
      StringBuilder json = new StringBuilder();
      synchronized (counts) {
        json.append("{\"received\": ").append(received[0]).append(", \"histogram_us\": {");
        String separator = "";
        for (var bucket : counts.entrySet()) {
          json.append(separator).append('"').append(bucket.getKey()).append("\": ").append(bucket.getValue());
          separator = ", ";
        }
      }
      System.out.println(json.append("}}"));
      System.out.flush();
      Runtime.getRuntime().halt(0);
    });
    report.setDaemon(true);

    try (PulsarClient client = PulsarClient.builder().serviceUrl(url).build();
        Consumer<byte[]> consumer = client.newConsumer()
            .topic(topic)
            .subscriptionName("seam-bench-tail")
            // Like Seam's stream: from the end, leaving no subscription behind.
            .subscriptionMode(SubscriptionMode.NonDurable)
            .subscriptionInitialPosition(SubscriptionInitialPosition.Latest)
            .subscribe()) {
      report.start();
      System.err.println("ready");
      long firstPublish = -1;
      while (true) {
        Message<byte[]> message = consumer.receive(1, TimeUnit.SECONDS);
        if (message == null) continue;
        long now = ChronoUnit.MICROS.between(Instant.EPOCH, Instant.now());
        long publish = message.getPublishTime();
        consumer.acknowledgeAsync(message);
        synchronized (counts) {
          received[0]++;
          if (firstPublish < 0) firstPublish = publish;
          if (publish >= firstPublish + warmupMs) {
            long micros = Math.max(0, now - publish * 1000);
            counts.merge(micros / BUCKET_US * BUCKET_US, 1L, Long::sum);
          }
        }
      }
    }
  }
}
