package dev.seam.flight;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.arrow.flight.CallOption;
import org.apache.arrow.flight.FlightCallHeaders;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightDescriptor;
import org.apache.arrow.flight.FlightEndpoint;
import org.apache.arrow.flight.FlightInfo;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.HeaderCallOption;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.PollInfo;
import org.apache.arrow.flight.LocationSchemes;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VarBinaryVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * Reads a Pulsar topic through Seam's Arrow Flight service with nothing but Arrow Java's
 * FlightClient: GetFlightInfo, then DoGet on every endpoint in parallel, each at its first
 * location (or on the gateway that planned it when the endpoint names none). Prints the rows
 * and Arrow bytes of each endpoint and the total.
 */
public final class SeamFlightRead {
  static final String USAGE =
      String.join(
          "\n",
          "usage: seam-flight-read LOCATION (TOPIC | --command JSON) [options]",
          "  LOCATION            grpc://host:port or grpc+tls://host:port of a Seam gateway",
          "  TOPIC               read the topic as it stands now (a PATH descriptor)",
          "  --command JSON      a ReadStreamRequest in JSON (a CMD descriptor), e.g.",
          "                      '{\"topic\":\"orders\",\"startPublishTime\":\"2026-11-05T00:00:00Z\",\"atOpen\":{}}'",
          "  --tls-ca FILE       PEM certificates to trust for grpc+tls (default: the JVM's)",
          "  --token TOKEN       bearer token, sent as 'authorization: Bearer TOKEN'",
          "  --token-file FILE   the same, read from FILE",
          "  --parallelism N     endpoints read at once (default 4)",
          "  --ids FILE          write 'topic<TAB>base64(message id)' per row, in endpoint order",
          "                      (needs the __topic and __messageId columns)",
          "  --poll              PollFlightInfo instead: read each poll's endpoints, then follow",
          "                      its next descriptor until the read is complete (a TOPIC grows",
          "                      for ever: bound it with --max-polls or --stop-when-idle)",
          "  --max-polls N       with --poll: stop after N polls",
          "  --poll-interval-ms MS  with --poll: pause between polls (default 500)",
          "  --stop-when-idle    with --poll: stop at the first poll without endpoints after",
          "                      one that had some");

  private SeamFlightRead() {}

  /** A usage error: the arguments, not the server. Exit code 2. */
  static class UsageException extends Exception {
    UsageException(String message) {
      super(message);
    }
  }

  /** --help: the usage on stdout, exit code 0. */
  static final class HelpRequested extends UsageException {
    HelpRequested() {
      super("help");
    }
  }

  /** What to read and how. */
  record Options(
      Location location,
      FlightDescriptor descriptor,
      Path tlsCa,
      String token,
      int parallelism,
      Path ids,
      Poll poll) {}

  /** How to poll (--poll); null = one GetFlightInfo. */
  record Poll(int maxPolls, long intervalMs, boolean stopWhenIdle) {}

  /** What one endpoint gave. */
  record EndpointResult(int index, Location location, long rows, long bytes, List<String> ids) {}

  public static void main(String[] args) {
    Options options;
    try {
      options = parse(args);
    } catch (HelpRequested e) {
      System.out.println(USAGE);
      return;
    } catch (UsageException e) {
      System.err.println("seam-flight-read: " + e.getMessage() + " (--help for usage)");
      System.exit(2);
      return;
    }
    try {
      run(options, System.out);
    } catch (FlightRuntimeException e) {
      System.err.println("seam-flight-read: " + describe(e));
      System.exit(1);
    } catch (ReadException e) {
      System.err.println("seam-flight-read: " + e.getMessage());
      System.exit(1);
    } catch (ExceptionInInitializerError | NoClassDefFoundError e) {
      // Arrow's Netty allocator needs sun.misc.Unsafe, which Java 24+ denies by default.
      if (Runtime.version().feature() < 24) throw e;
      System.err.println(
          "seam-flight-read: Arrow's memory allocator cannot start on Java "
              + Runtime.version().feature()
              + " without --sun-misc-unsafe-memory-access=allow ("
              + e
              + ")");
      System.exit(1);
    }
  }

  /** Parses the command line. */
  static Options parse(String[] args) throws UsageException {
    Location location = null;
    FlightDescriptor descriptor = null;
    Path tlsCa = null;
    String token = null;
    int parallelism = 4;
    Path ids = null;
    boolean poll = false;
    int maxPolls = Integer.MAX_VALUE;
    long intervalMs = 500;
    boolean stopWhenIdle = false;
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      switch (arg) {
        case "-h", "--help" -> throw new HelpRequested();
        case "--command" -> {
          if (descriptor != null) throw new UsageException("give a topic or --command, not both");
          descriptor = FlightDescriptor.command(value(args, ++i, arg).getBytes(StandardCharsets.UTF_8));
        }
        case "--tls-ca" -> tlsCa = Path.of(value(args, ++i, arg));
        case "--token" -> token = value(args, ++i, arg);
        case "--token-file" -> token = readToken(Path.of(value(args, ++i, arg)));
        case "--parallelism" -> parallelism = positive(value(args, ++i, arg), arg);
        case "--ids" -> ids = Path.of(value(args, ++i, arg));
        case "--poll" -> poll = true;
        case "--max-polls" -> maxPolls = positive(value(args, ++i, arg), arg);
        case "--poll-interval-ms" -> intervalMs = positive(value(args, ++i, arg), arg);
        case "--stop-when-idle" -> stopWhenIdle = true;
        default -> {
          if (arg.startsWith("-")) throw new UsageException("unknown option " + arg);
          if (location == null) location = location(arg);
          else if (descriptor == null) descriptor = FlightDescriptor.path(arg);
          else throw new UsageException("unexpected argument " + arg);
        }
      }
    }
    if (location == null) throw new UsageException("no LOCATION");
    if (descriptor == null) throw new UsageException("no TOPIC and no --command");
    if (!poll && (maxPolls != Integer.MAX_VALUE || stopWhenIdle)) {
      throw new UsageException("--max-polls and --stop-when-idle go with --poll");
    }
    return new Options(
        location,
        descriptor,
        tlsCa,
        token,
        parallelism,
        ids,
        poll ? new Poll(maxPolls, intervalMs, stopWhenIdle) : null);
  }

  private static String value(String[] args, int i, String option) throws UsageException {
    if (i >= args.length) throw new UsageException(option + " needs a value");
    return args[i];
  }

  private static int positive(String text, String option) throws UsageException {
    try {
      int n = Integer.parseInt(text);
      if (n >= 1) return n;
    } catch (NumberFormatException e) {
      // falls through to the usage error
    }
    throw new UsageException(option + " takes a positive integer, not '" + text + "'");
  }

  private static String readToken(Path file) throws UsageException {
    try {
      return Files.readString(file).strip();
    } catch (IOException e) {
      throw new UsageException("cannot read --token-file " + file + ": " + e);
    }
  }

  private static Location location(String text) throws UsageException {
    Location location;
    try {
      location = new Location(text);
    } catch (URISyntaxException | IllegalArgumentException e) {
      throw new UsageException("LOCATION '" + text + "' is not a URI: " + e.getMessage());
    }
    String scheme = location.getUri().getScheme();
    if (!LocationSchemes.GRPC_INSECURE.equals(scheme)
        && !LocationSchemes.GRPC.equals(scheme)
        && !LocationSchemes.GRPC_TLS.equals(scheme)) {
      throw new UsageException("LOCATION must be grpc://host:port or grpc+tls://host:port, not " + text);
    }
    return location;
  }

  /** A failure with its context (the call, the endpoint), as one line. */
  static final class ReadException extends RuntimeException {
    ReadException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /** One line naming the Flight status (Arrow Java's mapping of the gRPC code) and the message. */
  static String describe(FlightRuntimeException e) {
    String message = e.status().description();
    return e.status().code() + ": " + (message == null || message.isEmpty() ? e.getMessage() : message);
  }

  /** Plans and reads (or polls and reads); prints per endpoint and the total. */
  static void run(Options options, PrintStream out) {
    CallOption[] call = callOptions(options.token());
    try (BufferAllocator allocator = new RootAllocator();
        Clients clients = new Clients(allocator, options)) {
      if (options.poll() != null) {
        poll(options, clients, call, out);
        return;
      }
      FlightInfo info;
      try {
        info = clients.planner().getInfo(options.descriptor(), call);
      } catch (FlightRuntimeException e) {
        throw new ReadException("GetFlightInfo: " + describe(e), e);
      }
      Totals totals = readAll(info.getEndpoints(), options, clients, call, out);
      out.printf(
          "total: %d rows, %d bytes in %d endpoints%n",
          totals.rows(), totals.bytes(), info.getEndpoints().size());
      if (options.ids() != null) writeIds(options.ids(), totals.ids());
    }
  }

  /** Rows, bytes and ids read. */
  record Totals(long rows, long bytes, List<String> ids) {}

  /**
   * PollFlightInfo, then every endpoint of its FlightInfo once, then the next descriptor, until
   * a PollInfo has none (the read is complete) or a --max-polls / --stop-when-idle bound.
   * Each FlightInfo covers the rows since the descriptor's position: read once, never mixed
   * with another info of the same descriptor.
   */
  static void poll(Options options, Clients clients, CallOption[] call, PrintStream out) {
    Poll poll = options.poll();
    FlightDescriptor descriptor = options.descriptor();
    long rows = 0;
    long bytes = 0;
    int polls = 0;
    boolean seenRows = false;
    List<String> ids = new ArrayList<>();
    while (descriptor != null && polls < poll.maxPolls()) {
      if (polls > 0) pause(poll.intervalMs());
      PollInfo info;
      try {
        info = clients.planner().pollInfo(descriptor, call);
      } catch (FlightRuntimeException e) {
        throw new ReadException("PollFlightInfo: " + describe(e), e);
      }
      List<FlightEndpoint> endpoints = info.getFlightInfo().getEndpoints();
      Totals totals = readAll(endpoints, options, clients, call, null);
      descriptor = info.getFlightDescriptor().orElse(null);
      out.printf(
          "poll %d: %d rows, %d bytes in %d endpoints%s%s%n",
          polls,
          totals.rows(),
          totals.bytes(),
          endpoints.size(),
          info.getProgress().map(p -> String.format(", progress %.2f", p)).orElse(""),
          descriptor == null ? ", complete" : "");
      polls++;
      rows += totals.rows();
      bytes += totals.bytes();
      ids.addAll(totals.ids());
      if (poll.stopWhenIdle() && seenRows && endpoints.isEmpty()) break;
      seenRows |= !endpoints.isEmpty();
    }
    out.printf("total: %d rows, %d bytes in %d polls%n", rows, bytes, polls);
    if (options.ids() != null) writeIds(options.ids(), ids);
  }

  private static void pause(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ReadException("interrupted", e);
    }
  }

  /** DoGet of every endpoint, `parallelism` at once; prints each endpoint unless `out` is null. */
  static Totals readAll(
      List<FlightEndpoint> endpoints,
      Options options,
      Clients clients,
      CallOption[] call,
      PrintStream out) {
    ExecutorService pool = Executors.newFixedThreadPool(options.parallelism());
    try {
      List<Future<EndpointResult>> futures = new ArrayList<>();
      for (int i = 0; i < endpoints.size(); i++) {
        int index = i;
        futures.add(
            pool.submit(
                () -> read(index, endpoints.get(index), clients, call, options.ids() != null)));
      }
      long rows = 0;
      long bytes = 0;
      List<String> ids = new ArrayList<>();
      for (Future<EndpointResult> future : futures) {
        EndpointResult r = await(future);
        if (out != null) {
          out.printf(
              "endpoint %d: %d rows, %d bytes%s%n",
              r.index(),
              r.rows(),
              r.bytes(),
              r.location() == null ? "" : " from " + r.location().getUri());
        }
        rows += r.rows();
        bytes += r.bytes();
        ids.addAll(r.ids());
      }
      return new Totals(rows, bytes, ids);
    } finally {
      pool.shutdownNow();
    }
  }

  private static EndpointResult await(Future<EndpointResult> future) {
    try {
      return future.get();
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException cause) throw cause;
      throw new ReadException(String.valueOf(e.getCause()), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ReadException("interrupted", e);
    }
  }

  private static CallOption[] callOptions(String token) {
    if (token == null) return new CallOption[0];
    FlightCallHeaders headers = new FlightCallHeaders();
    headers.insert("authorization", "Bearer " + token);
    return new CallOption[] {new HeaderCallOption(headers)};
  }

  /** DoGet of one endpoint: rows and Arrow buffer bytes, skipping metadata-only messages. */
  static EndpointResult read(
      int index, FlightEndpoint endpoint, Clients clients, CallOption[] call, boolean wantIds) {
    Location location = endpoint.getLocations().isEmpty() ? null : endpoint.getLocations().get(0);
    if (location != null && location.equals(Location.reuseConnection())) location = null;
    long rows = 0;
    long bytes = 0;
    List<String> ids = new ArrayList<>();
    try (FlightStream stream = clients.forLocation(location).getStream(endpoint.getTicket(), call)) {
      while (stream.next()) {
        VectorSchemaRoot root = stream.getRoot();
        int count = root.getRowCount();
        // Heartbeats and markers are FlightData without rows (app_metadata only).
        if (count == 0) continue;
        rows += count;
        for (FieldVector vector : root.getFieldVectors()) bytes += vector.getBufferSize();
        if (wantIds) collectIds(index, root, ids);
      }
    } catch (FlightRuntimeException e) {
      String at = location == null ? "" : " at " + location.getUri();
      throw new ReadException("endpoint " + index + at + ": DoGet: " + describe(e), e);
    } catch (Exception e) {
      if (e instanceof ReadException r) throw r;
      throw new ReadException("endpoint " + index + ": " + e, e);
    }
    return new EndpointResult(index, location, rows, bytes, ids);
  }

  private static void collectIds(int index, VectorSchemaRoot root, List<String> ids) {
    if (!(root.getVector("__topic") instanceof VarCharVector topics)
        || !(root.getVector("__messageId") instanceof VarBinaryVector messageIds)) {
      throw new ReadException(
          "endpoint " + index + ": --ids needs the __topic (utf8) and __messageId (binary) columns",
          null);
    }
    Base64.Encoder base64 = Base64.getEncoder();
    for (int row = 0; row < root.getRowCount(); row++) {
      ids.add(topics.getObject(row) + "\t" + base64.encodeToString(messageIds.get(row)));
    }
  }

  private static void writeIds(Path file, List<String> ids) {
    try {
      Files.write(file, ids, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new ReadException("cannot write --ids " + file + ": " + e, e);
    }
  }

  /** One FlightClient per location, all with the same TLS settings, closed together. */
  static final class Clients implements AutoCloseable {
    private final BufferAllocator allocator;
    private final Options options;
    private final Map<Location, FlightClient> clients = new ConcurrentHashMap<>();

    Clients(BufferAllocator allocator, Options options) {
      this.allocator = allocator;
      this.options = options;
    }

    /** The client of the gateway given on the command line. */
    FlightClient planner() {
      return forLocation(null);
    }

    /** The client for `location`; null = the planning gateway (Flight's "same service"). */
    FlightClient forLocation(Location location) {
      return clients.computeIfAbsent(location == null ? options.location() : location, this::open);
    }

    private FlightClient open(Location location) {
      FlightClient.Builder builder = FlightClient.builder(allocator, location);
      if (options.tlsCa() != null
          && LocationSchemes.GRPC_TLS.equals(location.getUri().getScheme())) {
        try (InputStream pem = Files.newInputStream(options.tlsCa())) {
          builder.trustedCertificates(pem);
        } catch (IOException e) {
          throw new UncheckedIOException("cannot read --tls-ca " + options.tlsCa(), e);
        }
      }
      return builder.build();
    }

    @Override
    public void close() {
      for (FlightClient client : clients.values()) {
        try {
          client.close();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }
  }
}
