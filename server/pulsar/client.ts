/**
 * Seam's Pulsar client: one pooled connection per broker, topic lookups with redirects,
 * partition counts and schemas. Readers (reader.ts) are opened through it.
 */
import type tls from 'node:tls';
import {
  type AuthProvider,
  Connection,
  type ConnectionOptions,
  serverError,
} from './connection.ts';
import { PulsarError } from './errors.ts';
import {
  encodeGetSchema,
  encodeLookup,
  encodePartitionedMetadata,
  type Response,
  type SchemaInfo,
} from './protocol/commands.ts';

/** Settings shared by every connection of a client. */
export interface PulsarClientOptions {
  /** `pulsar://host:port` or `pulsar+ssl://host:port` of a broker or proxy. */
  serviceUrl: string;
  tls?: tls.ConnectionOptions;
  auth?: AuthProvider;
  connectTimeoutMs?: number;
  operationTimeoutMs?: number;
  keepAliveIntervalMs?: number;
}

/** Where a topic is served. */
export interface TopicOwner {
  connection: Connection;
  /** The owning broker's logical URL. */
  brokerUrl: string;
}

const maxLookupRedirects = 20;

/** Pulsar client for reading: the read path's entry point. */
export class PulsarClient {
  readonly options: PulsarClientOptions;
  private readonly pool = new Map<string, Promise<Connection>>();
  private closed = false;

  constructor(options: PulsarClientOptions) {
    this.options = options;
  }

  /**
   * The pooled connection to `url`, opened on first use and replaced once it closes. With
   * `proxyToBrokerUrl` (`host:port`), `url` is a proxy and the connection is for that broker.
   */
  connection(url: string, proxyToBrokerUrl?: string): Promise<Connection> {
    if (this.closed)
      return Promise.reject(new PulsarError('ConnectionClosed', 'the Pulsar client is closed'));
    const key = proxyToBrokerUrl ? `${url}>${proxyToBrokerUrl}` : url;
    const existing = this.pool.get(key);
    if (existing) return existing;
    const options: ConnectionOptions = { ...this.options, url, proxyToBrokerUrl };
    const opening = Connection.connect(options).then(
      (connection) => {
        connection.onClose(() => {
          if (this.pool.get(key) === opening) this.pool.delete(key);
        });
        return connection;
      },
      (error: unknown) => {
        this.pool.delete(key);
        throw error;
      },
    );
    this.pool.set(key, opening);
    return opening;
  }

  /** The connection to the service URL, used for lookups and metadata. */
  serviceConnection(): Promise<Connection> {
    return this.connection(this.options.serviceUrl);
  }

  /** Number of partitions of `topic`; 0 for a non-partitioned topic. */
  async partitions(topic: string): Promise<number> {
    const connection = await this.serviceConnection();
    const response = await connection.request(`partition metadata of ${topic}`, (id) =>
      encodePartitionedMetadata(topic, id),
    );
    const r = expect(response, 'PARTITIONED_METADATA_RESPONSE');
    if (r.failed) throw serverError(r.error, `partition metadata of ${topic}`, r.message);
    return r.partitions;
  }

  /** Finds the broker that owns `topic` (one partition or a non-partitioned topic). */
  async lookup(topic: string): Promise<TopicOwner> {
    let connection = await this.serviceConnection();
    let authoritative = false;
    for (let hop = 0; hop < maxLookupRedirects; hop++) {
      const response = await connection.request(`lookup of ${topic}`, (id) =>
        encodeLookup(topic, id, authoritative),
      );
      const r = expect(response, 'LOOKUP_RESPONSE');
      if (r.response === 2) throw serverError(r.error, `lookup of ${topic}`, r.message);
      const brokerUrl = this.options.serviceUrl.startsWith('pulsar+ssl:')
        ? r.brokerServiceUrlTls
        : r.brokerServiceUrl;
      if (!brokerUrl) {
        throw new PulsarError(
          'MetadataError',
          `lookup of ${topic} answered without a broker URL for this scheme`,
        );
      }
      // Through a proxy, every connection goes to the service URL and names the broker.
      // CONNECT names the broker as host:port, without a scheme, as the official clients do.
      const target = r.proxyThroughServiceUrl
        ? this.connection(this.options.serviceUrl, new URL(brokerUrl).host)
        : this.connection(brokerUrl);
      if (r.response === 1) return { connection: await target, brokerUrl };
      connection = await target;
      authoritative = r.authoritative;
    }
    throw new PulsarError(
      'MetadataError',
      `lookup of ${topic} redirected more than ${maxLookupRedirects} times`,
    );
  }

  /** The topic's schema (latest, or the given version); undefined when it has none. */
  async schema(
    topic: string,
    version?: Buffer,
  ): Promise<{ schema: SchemaInfo; version: Buffer } | undefined> {
    const { connection } = await this.lookup(topic);
    const response = await connection.request(`schema of ${topic}`, (id) =>
      encodeGetSchema(topic, id, version),
    );
    const r = expect(response, 'GET_SCHEMA_RESPONSE');
    if (r.error !== undefined) {
      // TopicNotFound here means "no schema" (the broker's answer for schemaless topics).
      if (r.error === 11) return undefined;
      throw serverError(r.error, `schema of ${topic}`, r.message);
    }
    if (!r.schema) return undefined;
    return { schema: r.schema, version: r.schemaVersion ?? Buffer.alloc(0) };
  }

  /** Closes every connection; readers on them end. */
  async close(): Promise<void> {
    this.closed = true;
    const connections = await Promise.allSettled(this.pool.values());
    this.pool.clear();
    for (const c of connections) if (c.status === 'fulfilled') c.value.close();
  }
}

/** Narrows a response to the expected type, or fails as a protocol error. */
export function expect<T extends Response['type']>(
  response: Response,
  type: T,
): Extract<Response, { type: T }> {
  if (response.type !== type) {
    throw new PulsarError(
      'ProtocolError',
      `expected ${type}, the broker answered ${response.type}`,
    );
  }
  return response as Extract<Response, { type: T }>;
}
