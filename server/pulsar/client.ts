/**
 * Seam's Pulsar client: one pooled connection per broker (and per caller Seam speaks
 * for), topic lookups with redirects, partition counts and schemas. Readers (reader.ts)
 * are opened through it.
 */
import { createHash } from 'node:crypto';
import type tls from 'node:tls';
import { tokenAuth } from './auth.ts';
import {
  type AuthProvider,
  Connection,
  type ConnectionOptions,
  defaultOperationTimeoutMs,
  type OriginalCaller,
} from './connection.ts';
import { PulsarError, serverErrorOf } from './errors.ts';
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
  /**
   * How long a request waits for its answer, and how long an operation (a lookup, a
   * partition count, a schema, a reader's open) retries while Pulsar is unavailable (a
   * broker restarting): default 30 s, as the official clients.
   */
  operationTimeoutMs?: number;
  keepAliveIntervalMs?: number;
  /**
   * How often callers' idle connections are looked at, ms; one idle at two looks in a row
   * is closed, so connections of callers (and tokens) that are gone do not pile up.
   */
  callerConnectionSweepMs?: number;
  /**
   * Connections callers' views may hold open at once, across brokers and callers (each
   * caller credential has its own). At the limit, idle ones are closed to make room; when
   * none is idle, a new caller gets TooManyRequests. Unbounded when undefined.
   */
  maxCallerConnections?: number;
}

/** Where a topic is served. */
export interface TopicOwner {
  connection: Connection;
  /** The owning broker's logical URL. */
  brokerUrl: string;
}

const maxLookupRedirects = 20;

/** How an operation may be bounded beyond the client's operation timeout. */
export interface OperationOptions {
  /** Stops retrying (the caller gave up: a cancelled or expired call). */
  signal?: AbortSignal | undefined;
  /** When to stop retrying, ms since the epoch; default: the operation timeout from now. */
  deadline?: number | undefined;
}

/** Waits between attempts of an operation while Pulsar is unavailable, ms. */
const retryBackoff = { initialMs: 100, maxMs: 2_000 };

/** What a client and its views for callers share. */
interface Shared {
  pool: Map<string, Promise<Connection>>;
  closed: boolean;
  /** Callers' connections found idle at the last sweep (see `sweepCallerConnections`). */
  idleCallerKeys: Set<string>;
  sweeper: NodeJS.Timeout | undefined;
  /** Callers' connections once open, by pool key: what `makeRoomForCaller` may close. */
  openCallerConnections: Map<string, Connection>;
}

/** Pulsar client for reading: the read path's entry point. */
export class PulsarClient {
  readonly options: PulsarClientOptions;
  /** The caller this client's connections speak for; undefined for Seam's own. */
  readonly caller: CallerCredentials | undefined;
  private readonly shared: Shared;

  /** `view` is for `forCaller` only. */
  constructor(options: PulsarClientOptions, view?: { caller: CallerCredentials; shared: Shared }) {
    this.options = options;
    this.caller = view?.caller;
    this.shared = view?.shared ?? {
      pool: new Map(),
      closed: false,
      idleCallerKeys: new Set(),
      sweeper: undefined,
      openCallerConnections: new Map(),
    };
  }

  /**
   * A view of this client whose every connection speaks for `caller` (Pulsar's original
   * principal and auth data in CONNECT), so brokers authorize each lookup, schema read and
   * subscription as that caller. Connections are pooled per broker and per caller
   * credential: a caller whose token differs never shares a connection the broker
   * authenticated with another token. Closing the view is closing this client.
   */
  forCaller(caller: CallerCredentials): PulsarClient {
    return new PulsarClient(this.options, { caller, shared: this.shared });
  }

  /**
   * The pooled connection to `url`, opened on first use and replaced once it closes. With
   * `proxyToBrokerUrl` (`host:port`), `url` is a proxy and the connection is for that broker.
   */
  connection(url: string, proxyToBrokerUrl?: string): Promise<Connection> {
    const { pool } = this.shared;
    // Final: readers of a closed client stop reconnecting instead of retrying forever.
    if (this.shared.closed) {
      return Promise.reject(
        new PulsarError('ConnectionClosed', 'the Pulsar client is closed', { retriable: false }),
      );
    }
    const target = proxyToBrokerUrl ? `${url}>${proxyToBrokerUrl}` : url;
    const key = this.caller ? `caller ${this.caller.poolKey} ${target}` : target;
    const existing = pool.get(key);
    if (existing) return existing;
    if (this.caller) {
      try {
        this.makeRoomForCaller();
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const options: ConnectionOptions = {
      ...this.options,
      url,
      proxyToBrokerUrl,
      original: this.caller,
    };
    const opening = Connection.connect(options).then(
      (connection) => {
        if (this.caller) this.shared.openCallerConnections.set(key, connection);
        connection.onClose(() => {
          if (pool.get(key) === opening) pool.delete(key);
          if (this.shared.openCallerConnections.get(key) === connection) {
            this.shared.openCallerConnections.delete(key);
          }
        });
        return connection;
      },
      (error: unknown) => {
        pool.delete(key);
        throw error;
      },
    );
    pool.set(key, opening);
    if (this.caller && !this.shared.sweeper) {
      this.shared.sweeper = setInterval(
        () => this.sweepCallerConnections(),
        this.options.callerConnectionSweepMs ?? 60_000, // 1 min
      );
      this.shared.sweeper.unref();
    }
    return opening;
  }

  /** The connection to the service URL, used for lookups and metadata. */
  serviceConnection(): Promise<Connection> {
    return this.connection(this.options.serviceUrl);
  }

  /** The deadline of an operation starting now, unless `options` sets one. */
  deadline(options?: OperationOptions): number {
    return (
      options?.deadline ??
      Date.now() + (this.options.operationTimeoutMs ?? defaultOperationTimeoutMs)
    );
  }

  /**
   * Runs `attempt` until it succeeds, fails for good, `options.signal` aborts, or the
   * deadline passes, waiting longer between attempts each time: as the official clients
   * retry lookups and connects within their operation timeout, so an operation started
   * while a broker restarts waits for it instead of failing at once.
   */
  async retrying<T>(
    what: string,
    attempt: () => Promise<T>,
    options?: OperationOptions,
  ): Promise<T> {
    const deadline = this.deadline(options);
    const signal = options?.signal;
    let delay = retryBackoff.initialMs;
    for (;;) {
      throwIfAborted(what, signal);
      try {
        return await attempt();
      } catch (failure) {
        if (!(failure instanceof PulsarError) || !failure.retriable || this.shared.closed) {
          throw failure;
        }
        const left = deadline - Date.now();
        if (left <= delay) {
          throw new PulsarError(
            failure.kind,
            `${what}: Pulsar did not answer within the operation timeout: ${failure.message}`,
            { cause: failure, retriable: true },
          );
        }
      }
      await sleep(delay, signal);
      delay = Math.min(delay * 2, retryBackoff.maxMs);
    }
  }

  /** Number of partitions of `topic`; 0 for a non-partitioned topic. */
  partitions(topic: string, options?: OperationOptions): Promise<number> {
    return this.retrying(
      `partition metadata of ${topic}`,
      () => this.partitionsOnce(topic),
      options,
    );
  }

  private async partitionsOnce(topic: string): Promise<number> {
    const connection = await this.serviceConnection();
    const response = await connection.request(`partition metadata of ${topic}`, (id) =>
      encodePartitionedMetadata(topic, id),
    );
    const r = expect(response, 'PARTITIONED_METADATA_RESPONSE');
    if (r.failed)
      throw PulsarError.fromServer(r.error, `partition metadata of ${topic}`, r.message);
    return r.partitions;
  }

  /** Finds the broker that owns `topic` (one partition or a non-partitioned topic). */
  lookup(topic: string, options?: OperationOptions): Promise<TopicOwner> {
    return this.retrying(`lookup of ${topic}`, () => this.lookupOnce(topic), options);
  }

  private async lookupOnce(topic: string): Promise<TopicOwner> {
    let connection = await this.serviceConnection();
    let authoritative = false;
    for (let hop = 0; hop < maxLookupRedirects; hop++) {
      const response = await connection.request(`lookup of ${topic}`, (id) =>
        encodeLookup(topic, id, authoritative),
      );
      const r = expect(response, 'LOOKUP_RESPONSE');
      if (r.response === 2) throw PulsarError.fromServer(r.error, `lookup of ${topic}`, r.message);
      const secure = this.options.serviceUrl.startsWith('pulsar+ssl:');
      const brokerUrl = secure ? r.brokerServiceUrlTls : r.brokerServiceUrl;
      if (!brokerUrl) {
        throw new PulsarError(
          'MetadataError',
          `lookup of ${topic} answered without a broker URL for this scheme`,
        );
      }
      if (secure && !brokerUrl.startsWith('pulsar+ssl://')) {
        // A lookup answer must never move a TLS client onto plain text.
        throw new PulsarError(
          'MetadataError',
          `lookup of ${topic} redirected to a broker without TLS while the service URL uses pulsar+ssl://; Seam never downgrades TLS`,
          { retriable: false, broker: brokerUrl },
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
  schema(
    topic: string,
    version?: Buffer,
    options?: OperationOptions,
  ): Promise<{ schema: SchemaInfo; version: Buffer } | undefined> {
    const deadline = this.deadline(options);
    return this.retrying(
      `schema of ${topic}`,
      () => this.schemaOnce(topic, version, { ...options, deadline }),
      { ...options, deadline },
    );
  }

  private async schemaOnce(
    topic: string,
    version: Buffer | undefined,
    options: OperationOptions,
  ): Promise<{ schema: SchemaInfo; version: Buffer } | undefined> {
    const { connection } = await this.lookup(topic, options);
    const response = await connection.request(`schema of ${topic}`, (id) =>
      encodeGetSchema(topic, id, version),
    );
    const r = expect(response, 'GET_SCHEMA_RESPONSE');
    if (r.error !== undefined) {
      // TopicNotFound here means "no schema" (the broker's answer for schemaless topics).
      if (serverErrorOf(r.error).name === 'TopicNotFound') return undefined;
      throw PulsarError.fromServer(r.error, `schema of ${topic}`, r.message);
    }
    if (!r.schema) return undefined;
    return { schema: r.schema, version: r.schemaVersion ?? Buffer.alloc(0) };
  }

  /**
   * Keeps callers' connections under `maxCallerConnections`: a gateway whose callers are
   * many (or invent roles) must not open a broker connection for each. Closes idle ones
   * to make room; throws TooManyRequests (not retriable: the caller retries later) when
   * every one is busy.
   */
  private makeRoomForCaller(): void {
    const limit = this.options.maxCallerConnections;
    if (limit === undefined) return;
    const { pool, openCallerConnections } = this.shared;
    let count = 0;
    for (const key of pool.keys()) if (key.startsWith('caller ')) count++;
    for (const [key, connection] of openCallerConnections) {
      if (count < limit) return;
      if (!connection.idle) continue;
      pool.delete(key);
      openCallerConnections.delete(key);
      connection.close();
      count--;
    }
    if (count >= limit) {
      throw new PulsarError(
        'TooManyRequests',
        `the gateway holds ${limit} connections to Pulsar for its callers, its limit, all busy: retry later`,
        { retriable: false },
      );
    }
  }

  /** Closes callers' connections that were idle at this sweep and the one before. */
  private async sweepCallerConnections(): Promise<void> {
    const { pool, idleCallerKeys } = this.shared;
    for (const [key, opening] of pool) {
      if (!key.startsWith('caller ')) continue; // Seam's own connections stay
      const connection = await opening.catch(() => undefined);
      if (!connection?.idle) {
        idleCallerKeys.delete(key);
      } else if (idleCallerKeys.delete(key)) {
        if (pool.get(key) === opening) pool.delete(key);
        connection.close();
      } else {
        idleCallerKeys.add(key);
      }
    }
  }

  /** Closes every connection; readers on them end. */
  async close(): Promise<void> {
    const { pool } = this.shared;
    this.shared.closed = true;
    clearInterval(this.shared.sweeper);
    const connections = await Promise.allSettled(pool.values());
    pool.clear();
    for (const c of connections) if (c.status === 'fulfilled') c.value.close();
  }
}

/** A caller Seam speaks for, with what tells its connections apart in the pool. */
export interface CallerCredentials extends OriginalCaller {
  /** Principal and a digest of the credentials: equal only for the same credentials. */
  readonly poolKey: string;
}

/** The caller `principal`, authenticated by `token` when there is one (else by Seam). */
export function callerCredentials(principal: string, token?: string): CallerCredentials {
  const digest = token ? createHash('sha256').update(token).digest('base64url') : '-';
  return {
    principal,
    poolKey: `${JSON.stringify(principal)}:${digest}`,
    ...(token ? { auth: tokenAuth(token) } : {}),
  };
}

function throwIfAborted(what: string, signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new PulsarError('Aborted', `${what}: the caller gave up`, { cause: signal.reason });
  }
}

/** Resolves after `ms`, or rejects (Aborted) when `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new PulsarError('Aborted', 'the caller gave up', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
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
