/**
 * `--flight-locations` (server/flight/locations.ts): only locations Arrow Java can connect to
 * start a gateway, and endpoints name the fleet rotated so that first locations spread
 * round-robin from a point the topic alone decides. Pure: no Pulsar, no gRPC.
 */
import test from 'ava';
import fc from 'fast-check';
import { ConfigError, configWith, gatewayOptions, startupWarnings } from '../../server/config.ts';
import {
  endpointLocations,
  LocationError,
  parseLocation,
  parseLocations,
  withLocations,
} from '../../server/flight/locations.ts';
import { crc32c } from '../../server/pulsar/protocol/checksum.ts';

// What java.net.URI and Arrow Java 19's FlightClient.builder(...).build() made of each
// (OpenJDK 17.0.15, flight-core 19.0.0, run once by hand): "ok" connected, else the error.
const javaAccepts = [
  'grpc://a:50051',
  'grpc+tls://b:50051',
  'grpc+tcp://seam-1.example.com:1',
  'grpc://127.0.0.1:50051',
  'grpc://[::1]:50051',
  'grpc://1abc:50051', // one label may start with a digit
  'grpc://a.:50051', // a fully qualified name's trailing dot
  'grpc://a:50051/',
];
const javaRefuses: [string, RegExp][] = [
  ['grpc://my_host:50051', /not a host name/], // hostname can't be null
  ['grpc://host-:50051', /not a host name/], // hostname can't be null
  ['grpc://-a:1', /not a host name/], // hostname can't be null
  ['grpc://a.1b:50051', /not a host name/], // the last of several labels starts with a digit
  ['grpc://999.1.1.1:50051', /not a host name/], // hostname can't be null
  ['grpc://a', /needs a port/], // port out of range:-1
  ['grpc://a:', /needs a port/], // port out of range:-1
  ['GRPC+TLS://a:50051', /the scheme is GRPC\+TLS/], // Scheme is not supported: GRPC+TLS
  ['grpc://a b:1', /not a host name/], // URISyntaxException: Illegal character in authority
  ['grpc://[zz]:1', /not a host name/], // URISyntaxException: Malformed IPv6 address
];
// Not gRPC locations, though Java parses them.
const notGrpc: [string, RegExp][] = [
  ['http://a:80', /the scheme is http/],
  ['grpc+unix:///tmp/seam.sock', /the scheme is grpc\+unix/],
  ['grpc://a:0', /needs a port/],
  ['grpc://a:65536', /needs a port/],
  ['grpc://a:50051/path', /not a location/],
  ['grpc://a:50051?x=1', /not a location/],
  ['grpc://user@a:50051', /not a host name/],
  ['a:50051', /not a location/],
  ['arrow-flight-reuse-connection://?', /the scheme is arrow-flight-reuse-connection/],
];

test('locations Arrow Java connects to are taken as written', (t) => {
  for (const uri of javaAccepts) t.is(parseLocation(uri), uri);
});

test('locations Arrow Java cannot connect to, and other schemes, stop start-up saying why', (t) => {
  for (const [uri, why] of [...javaRefuses, ...notGrpc]) {
    const error = t.throws(() => parseLocation(uri), { instanceOf: LocationError }, uri);
    t.regex(error.message, why, uri);
  }
});

test('a list: comma-separated, spaces allowed; empty is none; no empty item, no repeat', (t) => {
  t.deepEqual(parseLocations(undefined), []);
  t.deepEqual(parseLocations(' '), []);
  t.deepEqual(parseLocations('grpc://a:50051, grpc+tls://b:50051'), [
    'grpc://a:50051',
    'grpc+tls://b:50051',
  ]);
  t.throws(() => parseLocations('grpc://a:50051,'), { message: /an empty location/ });
  t.throws(() => parseLocations('grpc://a:1,grpc://A:1'), { message: /listed twice/ });
});

test('the setting is checked at start-up and named in the error', (t) => {
  const error = t.throws(() => configWith({ flightLocations: 'grpc://a:1,grpc://my_host:2' }), {
    instanceOf: ConfigError,
  });
  t.regex(error.message, /flightLocations \(--flight-locations, SEAM_FLIGHT_LOCATIONS\)/);
  t.regex(error.message, /my_host/);
  const options = gatewayOptions(
    configWith({ plaintext: 'true', flightLocations: 'grpc://a:1,grpc://b:2' }),
  );
  t.deepEqual(options.flightLocations, ['grpc://a:1', 'grpc://b:2']);
  t.deepEqual(gatewayOptions(configWith({ plaintext: 'true' })).flightLocations, []);
});

test('a TLS gateway advertising plaintext locations is warned at start-up', (t) => {
  const tls = { tlsCert: 'cert.pem', tlsKey: 'key.pem' };
  const [warning, ...rest] = startupWarnings(
    configWith({ ...tls, flightLocations: 'grpc+tls://a:1,grpc://b:2,grpc+tcp://c:3' }),
  );
  t.deepEqual(rest, []);
  t.regex(
    warning ?? '',
    /advertises grpc:\/\/b:2, grpc\+tcp:\/\/c:3 while this gateway serves TLS/,
  );
  t.deepEqual(startupWarnings(configWith({ ...tls, flightLocations: 'grpc+tls://a:1' })), []);
  // Plaintext gateways may sit behind TLS-terminating proxies: no warning either way.
  t.deepEqual(startupWarnings(configWith({ flightLocations: 'grpc://a:1,grpc+tls://b:2' })), []);
});

const fleet = fc
  .uniqueArray(fc.integer({ min: 1, max: 65_535 }), { minLength: 1, maxLength: 9 })
  .map((ports) => ports.map((port) => `grpc://seam:${port}`));

test('endpoint j lists every location, starting at (crc32c(topic) + j) mod n', (t) => {
  fc.assert(
    fc.property(fleet, fc.string(), fc.nat(1000), (locations, topic, j) => {
      const n = locations.length;
      const listed = endpointLocations(locations, topic, j);
      const first = (crc32c(Buffer.from(topic)) + j) % n;
      t.deepEqual([...listed].sort(), [...locations].sort());
      t.deepEqual(listed, [...locations.slice(first), ...locations.slice(0, first)]);
      // The next endpoint starts at the next gateway: n endpoints cover the fleet once.
      t.is(endpointLocations(locations, topic, j + 1)[0], locations[(first + 1) % n]);
    }),
  );
  t.deepEqual(endpointLocations([], 'orders', 3), []);
});

test('a FlightInfo: each endpoint names the rotated fleet; no fleet, no locations', (t) => {
  const ticket = (i: number) => ({ ticket: { ticket: Buffer.from([i]) }, location: [] });
  const info = { endpoint: [0, 1, 2, 3, 4].map(ticket), total_records: -1 };
  const topic = 'persistent://public/default/orders';
  const locations = ['grpc://a:1', 'grpc://b:2', 'grpc://c:3'];
  const named = withLocations(info, topic, locations);
  const start = crc32c(Buffer.from(topic)) % 3;
  t.deepEqual(
    named.endpoint?.map((e) => e.location?.[0]?.uri),
    [0, 1, 2, 3, 4].map((j) => locations[(start + j) % 3]),
  );
  t.true(named.endpoint?.every((e) => e.location?.length === 3));
  t.deepEqual(
    named.endpoint?.map((e) => e.ticket),
    info.endpoint.map((e) => e.ticket),
  );
  t.is(withLocations(info, topic, []), info);
});
