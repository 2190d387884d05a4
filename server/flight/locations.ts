/**
 * The gateways of a fleet as Flight locations (`--flight-locations`): validated once at
 * start-up, then named by every endpoint, rotated so that clients taking each endpoint's
 * first location spread over the fleet. No locations: endpoints carry none, which Flight
 * reads as "redeem at the service that planned it".
 */
import { isIPv6 } from 'node:net';
import type { FlightInfo } from '../grpc/generated/arrow/flight/protocol/FlightInfo.ts';
import { crc32c } from '../pulsar/protocol/checksum.ts';

/** The schemes a Flight gRPC location takes: Arrow's `grpc`, `grpc+tcp` and `grpc+tls`. */
export const locationSchemes = ['grpc', 'grpc+tcp', 'grpc+tls'] as const;

/** A location that cannot be advertised; the message says which and why. */
export class LocationError extends Error {
  override name = 'LocationError';
}

// RFC 2396's server authority, as java.net.URI parses it (Arrow Java's Location is a
// java.net.URI): a hostname of labels of letters, digits and inner hyphens, whose last
// label starts with a letter when there are several (Java lets a single label start with a
// digit), an IPv4 address, or an IPv6 address in brackets. Anything else (an underscore, a
// label ending in '-', an octet over 255) parses as a "registry" authority with no host,
// and Arrow Java's FlightClient then refuses it ("hostname can't be null").
const domainLabel = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const topLabel = '[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const hostname = new RegExp(`^(?:${domainLabel}|(?:${domainLabel}\\.)+${topLabel})\\.?$`);
const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const location = /^[a-z+]+:\/\/(\[[^\]]*\]|[^:/?#[\]]*)(?::(\d*))?(\/?)$/;

/** True when `host` is a server host java.net.URI accepts (not a registry authority). */
function javaHost(host: string): boolean {
  if (host.startsWith('[')) return isIPv6(host.slice(1, -1));
  const octets = ipv4.exec(host);
  if (octets) return octets.slice(1).every((o) => Number(o) <= 255);
  return hostname.test(host);
}

/**
 * One location, checked: `grpc://host:port`, `grpc+tcp://…` or `grpc+tls://…`, with a host
 * java.net.URI parses as a server (a hostname, IPv4, or [IPv6]) and a port 1..65535; no user,
 * path, query or fragment (a gRPC location has none). Returns it as given.
 */
export function parseLocation(uri: string): string {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(uri)?.[1];
  // Arrow Java compares schemes as written: GRPC+TLS would be no gRPC location to it.
  if (scheme !== undefined && !(locationSchemes as readonly string[]).includes(scheme)) {
    throw new LocationError(
      `${uri}: the scheme is ${scheme}; a Flight gRPC location is ${locationSchemes.join(', ')}`,
    );
  }
  const match = location.exec(uri);
  if (!match) {
    throw new LocationError(
      `${JSON.stringify(uri)} is not a location: write scheme://host:port, e.g. grpc+tls://seam-1.example:50051`,
    );
  }
  const [, host = '', port] = match;
  if (!javaHost(host)) {
    throw new LocationError(
      `${uri}: ${JSON.stringify(host)} is not a host name, IPv4 address or [IPv6] address (java.net.URI, which Arrow Java parses locations with, would find no host in it)`,
    );
  }
  const number = Number(port);
  if (port === undefined || port === '' || number < 1 || number > 65_535) {
    throw new LocationError(`${uri}: a location needs a port, 1 to 65535`);
  }
  return uri;
}

/**
 * The list of `--flight-locations`: comma-separated locations (spaces around them allowed),
 * each checked by `parseLocation`, none twice. An empty or blank value is no locations.
 */
export function parseLocations(value: string | undefined): string[] {
  if (value === undefined || value.trim() === '') return [];
  const locations = value.split(',').map((part) => part.trim());
  if (locations.includes('')) {
    throw new LocationError(
      `an empty location in ${JSON.stringify(value)}: remove the extra comma`,
    );
  }
  const seen = new Set<string>();
  for (const uri of locations) {
    parseLocation(uri);
    if (seen.has(uri.toLowerCase())) throw new LocationError(`${uri} is listed twice`);
    seen.add(uri.toLowerCase());
  }
  return locations;
}

/**
 * The locations of endpoint `index` of a read of `topic`: all of them, rotated to start at
 * (crc32c(topic) + index) mod n. Consecutive endpoints start at consecutive gateways, and
 * the order is a function of the topic alone, so every gateway of a fleet lists the same
 * order with no shared state, and a topic's endpoints land on the same gateways each time
 * (their caches stay warm). The rest of the list is the failover order.
 */
export function endpointLocations(
  locations: readonly string[],
  topic: string,
  index: number,
): string[] {
  const n = locations.length;
  if (n === 0) return [];
  const first = (crc32c(Buffer.from(topic, 'utf8')) + index) % n;
  return [...locations.slice(first), ...locations.slice(0, first)];
}

/**
 * `info` with each endpoint naming the fleet's locations (`endpointLocations`) for a read of
 * `topic` (its full name, so a short and a full name spread alike); unchanged without any.
 */
export function withLocations(
  info: FlightInfo,
  topic: string,
  locations: readonly string[],
): FlightInfo {
  if (locations.length === 0) return info;
  return {
    ...info,
    endpoint: (info.endpoint ?? []).map((endpoint, j) => ({
      ...endpoint,
      location: endpointLocations(locations, topic, j).map((uri) => ({ uri })),
    })),
  };
}

/**
 * Locations a gateway serving TLS advertises as plaintext (`grpc://`, `grpc+tcp://`):
 * clients following them would speak plaintext to a TLS port (or to another gateway without
 * TLS). Empty for a plaintext gateway, whose fleet may sit behind TLS-terminating proxies.
 */
export function plaintextLocations(locations: readonly string[], tls: boolean): string[] {
  if (!tls) return [];
  return locations.filter((uri) => !/^grpc\+tls:/i.test(uri));
}
