/**
 * Pulsar's admin REST API, for what the binary protocol does not tell: a topic's segments
 * (ledgers) from its managed-ledger metadata, with their close times.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { PulsarError, type PulsarErrorKind } from './errors.ts';
import { MessageId } from './message-id.ts';
import { parseTopicName } from './topic-name.ts';

/** One segment of a topic partition. */
export interface Ledger {
  ledgerId: number;
  /** Entries in the ledger (for the open ledger: those written so far). */
  entries: number;
  /** Bytes in the ledger (for the open ledger: those written so far). */
  size: number;
  offloaded: boolean;
  /** When the ledger was closed, ms since the epoch; undefined while it is open. */
  closedAt: number | undefined;
  /** True for the ledger the broker is still writing. */
  open: boolean;
}

/** One chunk of a chunked message (a message larger than the broker's limit). */
export interface EntryChunk {
  /** The message's uuid, which all its chunks share. */
  uuid: string;
  /** This chunk's index, from 0. */
  chunkId: number;
  /** The message's chunks in all. */
  chunks: number;
}

/** Settings for the admin client. */
export interface PulsarAdminOptions {
  /** `http(s)://host:port` of a broker's (or proxy's) web service. */
  webServiceUrl: string;
  /** Returns the `Authorization` header value, e.g. `Bearer <token>`. */
  authorization?: () => string | Promise<string>;
  /**
   * The caller Seam asks for when it has no token of the caller's to forward (a role from
   * a client certificate): sent as `X-Original-Principal`, as Pulsar's proxy does.
   */
  originalPrincipal?: string;
  /** CA certificates (PEM) to trust for an `https://` URL, instead of the system's. */
  ca?: Buffer | undefined;
  timeoutMs?: number;
  /** Largest response body read, bytes (default 16 MiB): see `defaultMaxAdminResponseBytes`. */
  maxResponseBytes?: number;
  /**
   * Where `ledgers(topic, recent)` finds lists fetched a moment ago: one per admin client by
   * default, shared with its `forCaller` views (each caller's lists apart).
   */
  ledgerCache?: LedgerCache;
  /** Whose lists these are in `ledgerCache`: set by `forCaller`; empty for Seam's own. */
  cacheIdentity?: string;
}

/**
 * What a caller of `ledgers` accepts instead of a fresh list: one fetched at most
 * `LedgerCache.ttlMs` ago, provided it lists `covering`'s ledger (or a later one), so that
 * no ledger up to that message is missing from it.
 */
export interface RecentLedgers {
  covering?: MessageId | undefined;
}

/** How long a ledger list serves planners, ms: N executors planning at once list once. */
export const defaultLedgerCacheMs = 1000;

/**
 * Ledger lists by caller and partition, each kept `ttlMs` from when its fetch began, for
 * planners (Flight's GetFlightInfo) that many clients call at once: concurrent callers share
 * one fetch, later ones within `ttlMs` its answer. A list older than a message the caller
 * already knows of (`RecentLedgers.covering` past its last ledger) is fetched again: ledgers
 * are only ever added after the last, so a list that reaches that message's ledger misses
 * none up to it. Failed fetches are not kept. At most `capacity` lists (the oldest go first).
 */
export class LedgerCache {
  readonly ttlMs: number;
  private readonly capacity: number;
  private readonly now: () => number;
  /** Oldest first. */
  private readonly lists = new Map<string, { since: number; ledgers: Promise<Ledger[]> }>();

  constructor(options: { ttlMs?: number; capacity?: number; now?: () => number } = {}) {
    this.ttlMs = options.ttlMs ?? defaultLedgerCacheMs;
    this.capacity = options.capacity ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** The list under `key`, recent enough and covering `covering`; else `fetch`'s, kept. */
  async get(
    key: string,
    covering: MessageId | undefined,
    fetch: () => Promise<Ledger[]>,
  ): Promise<Ledger[]> {
    const kept = this.lists.get(key);
    if (kept && this.now() - kept.since < this.ttlMs) {
      const ledgers = await kept.ledgers.catch(() => undefined);
      if (ledgers && covers(ledgers, covering)) return ledgers;
    }
    const entry = { since: this.now(), ledgers: fetch() };
    this.lists.delete(key);
    this.lists.set(key, entry);
    for (const [oldest, list] of this.lists) {
      if (this.lists.size <= this.capacity && this.now() - list.since < this.ttlMs) break;
      this.lists.delete(oldest);
    }
    entry.ledgers.catch(() => {
      if (this.lists.get(key) === entry) this.lists.delete(key);
    });
    return entry.ledgers;
  }
}

/** Whether `ledgers` reaches `id`'s ledger: ledgers are added after the last only. */
function covers(ledgers: readonly Ledger[], id: MessageId | undefined): boolean {
  if (id === undefined || id.isSentinel) return true;
  const last = ledgers.at(-1);
  return last !== undefined && last.ledgerId >= id.ledgerId;
}

/**
 * Largest admin response body read, bytes: a topic's internal stats list every ledger
 * (~150 bytes each), so 16 MiB is ~100 K ledgers, while a broker (or anything at that
 * address) cannot make Seam buffer without bound.
 */
export const defaultMaxAdminResponseBytes = 16 * 1024 * 1024;

/** Longest part of an error body quoted in a message, characters. */
const maxReasonChars = 500;

/** An answer of the admin API: status, headers, and the body when it was read. */
interface AdminResponse {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

interface InternalStats {
  currentLedgerEntries: number;
  currentLedgerSize: number;
  ledgers: { ledgerId: number; entries: number; size: number; offloaded: boolean }[];
}

interface InternalInfo {
  ledgers: { ledgerId: number; timestamp?: number; isOffloaded?: boolean }[];
}

/** The admin calls Seam makes. */
export class PulsarAdmin {
  private readonly options: PulsarAdminOptions & { ledgerCache: LedgerCache };

  constructor(options: PulsarAdminOptions) {
    this.options = { ...options, ledgerCache: options.ledgerCache ?? new LedgerCache() };
  }

  /**
   * The same admin API asked as a caller: with the caller's own token when it has one (the
   * broker authenticates and authorizes it), else with Seam's credentials naming the caller.
   */
  forCaller(caller: { principal: string; token?: string | undefined }): PulsarAdmin {
    const { token } = caller;
    // Lists are kept per caller: the broker decides what each may see.
    return new PulsarAdmin(
      token
        ? { ...this.options, authorization: () => `Bearer ${token}`, cacheIdentity: `t ${token}` }
        : {
            ...this.options,
            originalPrincipal: caller.principal,
            cacheIdentity: `p ${caller.principal}`,
          },
    );
  }

  /**
   * The persistent topics of a namespace (`tenant/namespace`), sorted: a partitioned topic
   * once, by its own name, not its partitions'.
   */
  async topics(namespace: string): Promise<string[]> {
    const path = `persistent/${namespace.split('/').map(encodeURIComponent).join('/')}`;
    const [all, partitioned] = await Promise.all([
      this.get<string[]>(path),
      this.get<string[]>(`${path}/partitioned`),
    ]);
    const names = new Set(partitioned);
    for (const topic of all) {
      if (!names.has(topic.replace(/-partition-\d+$/, ''))) names.add(topic);
    }
    return [...names].sort();
  }

  /** Partitions of a topic; 0 when it is not partitioned. */
  async partitions(topic: string): Promise<number> {
    const body = await this.get<{ partitions: number }>(`${restPath(topic)}/partitions`);
    return body.partitions;
  }

  /**
   * The ledgers of one partition (or non-partitioned topic), oldest first. The open ledger
   * is last, with the entries and bytes written so far. With `recent`, a list fetched a
   * moment ago will do (`LedgerCache`): for planners, which N clients call at once; checks
   * of data loss ask without it, for the list as it is now.
   */
  ledgers(topic: string, recent?: RecentLedgers): Promise<Ledger[]> {
    if (!recent) return this.fetchLedgers(topic);
    const key = `${this.options.cacheIdentity ?? ''}\n${parseTopicName(topic).full}`;
    return this.options.ledgerCache.get(key, recent.covering, () => this.fetchLedgers(topic));
  }

  private async fetchLedgers(topic: string): Promise<Ledger[]> {
    const path = restPath(topic);
    const [stats, info] = await Promise.all([
      this.get<InternalStats>(`${path}/internalStats`),
      this.get<InternalInfo>(`${path}/internal-info`),
    ]);
    // internal-info lists only ledgers with metadata; the open one has no close time.
    const closedAt = new Map(info.ledgers.map((l) => [l.ledgerId, l.timestamp]));
    return stats.ledgers.map((l, i) => {
      const open = isOpenLedger(stats, i);
      return {
        ledgerId: l.ledgerId,
        entries: open ? stats.currentLedgerEntries : l.entries,
        size: open ? stats.currentLedgerSize : l.size,
        offloaded: l.offloaded,
        closedAt: open ? undefined : closedAt.get(l.ledgerId),
        open,
      };
    });
  }

  /**
   * The ledgers of one partition and their entries, oldest first, in one call (without
   * close times): what a stream checks, where its reader changed ledger or stalled, to
   * tell data it was moved past from data it read.
   */
  async ledgerEntries(topic: string): Promise<Pick<Ledger, 'ledgerId' | 'entries'>[]> {
    const stats = await this.get<InternalStats>(`${restPath(topic)}/internalStats`);
    return stats.ledgers.map((l, i) => ({
      ledgerId: l.ledgerId,
      entries: isOpenLedger(stats, i) ? stats.currentLedgerEntries : l.entries,
    }));
  }

  /** The id of the last message of one partition (or non-partitioned topic). */
  async lastMessageId(topic: string): Promise<MessageId> {
    const body = await this.get<{
      ledgerId: number;
      entryId: number;
      partitionIndex: number;
      batchIndex: number;
    }>(`${restPath(topic)}/lastMessageId`);
    return new MessageId(body.ledgerId, body.entryId, body.batchIndex, body.partitionIndex);
  }

  /**
   * The publish time (ms) of one entry (for a batch: the batch's, which all its messages
   * share), from the `X-Pulsar-publish-time` header of the admin API's entry endpoint.
   */
  async entryPublishTime(topic: string, ledgerId: number, entryId: number): Promise<number> {
    const path = `${restPath(topic)}/ledger/${ledgerId}/entry/${entryId}`;
    const response = await this.request(path, '*/*');
    const header = response.headers['x-pulsar-publish-time'];
    const ms = typeof header === 'string' ? Date.parse(header) : Number.NaN;
    if (Number.isNaN(ms)) {
      throw new PulsarError('ProtocolError', `admin GET ${path}: no publish time (${header})`);
    }
    return ms;
  }

  /**
   * Whether one entry is a chunk of a chunked message, and which: from the headers of the
   * admin API's entry endpoint (`X-Pulsar-uuid`, `-chunk-id`, `-num-chunks-from-msg`); the
   * body (up to a chunk of payload) is not read. Undefined for an entry that is no chunk.
   */
  async entryChunk(
    topic: string,
    ledgerId: number,
    entryId: number,
  ): Promise<EntryChunk | undefined> {
    const path = `${restPath(topic)}/ledger/${ledgerId}/entry/${entryId}`;
    const { headers } = await this.request(path, '*/*');
    const chunks = Number(headers['x-pulsar-num-chunks-from-msg']);
    const chunkId = Number(headers['x-pulsar-chunk-id']);
    const uuid = headers['x-pulsar-uuid'];
    if (!(chunks > 1 && chunkId >= 0 && typeof uuid === 'string')) return undefined;
    return { uuid, chunkId, chunks };
  }

  /** GET a JSON document; HTTP errors become PulsarErrors with Pulsar's reason. */
  private async get<T>(path: string): Promise<T> {
    const response = await this.request(path, 'application/json', true);
    try {
      return JSON.parse(response.body.toString('utf8')) as T;
    } catch (error) {
      throw new PulsarError('ProtocolError', `admin GET ${path}: the answer is not JSON`, {
        cause: error,
      });
    }
  }

  /**
   * GET `path`, reading at most `maxResponseBytes` of the body (none unless `body`); a
   * non-2xx answer becomes a PulsarError with Pulsar's reason.
   */
  private async request(path: string, accept: string, body = false): Promise<AdminResponse> {
    const url = new URL(`${this.options.webServiceUrl.replace(/\/$/, '')}/admin/v2/${path}`);
    const headers: Record<string, string> = { accept };
    if (this.options.authorization) headers.authorization = await this.options.authorization();
    if (this.options.originalPrincipal !== undefined) {
      headers['x-original-principal'] = this.options.originalPrincipal;
    }
    let response: AdminResponse;
    try {
      response = await get(url, {
        headers,
        ca: this.options.ca,
        timeoutMs: this.options.timeoutMs ?? 30_000,
        maxBytes: this.options.maxResponseBytes ?? defaultMaxAdminResponseBytes,
        body,
      });
    } catch (error) {
      if (error instanceof PulsarError) {
        throw new PulsarError(error.kind, `admin GET ${path}: ${error.message}`, {
          cause: error,
          retriable: error.retriable,
        });
      }
      throw new PulsarError('ConnectionClosed', `admin GET ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (response.status >= 200 && response.status < 300) return response;
    const text = response.body.toString('utf8');
    let reason = text;
    try {
      reason = (JSON.parse(text) as { reason?: string }).reason ?? text;
    } catch {}
    throw new PulsarError(
      httpKind(response.status),
      `admin GET ${path}: ${response.status} ${reason.slice(0, maxReasonChars)}`,
    );
  }
}

/**
 * One GET with node:http(s) rather than fetch: fetch takes no CA of its own (Node's
 * undici dispatcher is not public), and the body is read here with a cap. Error bodies
 * are always read (for the reason), within the same cap.
 */
function get(
  url: URL,
  options: {
    headers: Record<string, string>;
    ca: Buffer | undefined;
    timeoutMs: number;
    maxBytes: number;
    body: boolean;
  },
): Promise<AdminResponse> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(
      url,
      {
        headers: options.headers,
        signal: AbortSignal.timeout(options.timeoutMs),
        ...(url.protocol === 'https:' && options.ca ? { ca: options.ca } : {}),
      },
      (response) => {
        const status = response.statusCode ?? 0;
        const ok = status >= 200 && status < 300;
        if (ok && !options.body) {
          response.destroy();
          resolve({ status, headers: response.headers, body: Buffer.alloc(0) });
          return;
        }
        const declared = Number(response.headers['content-length']);
        const tooLarge = () =>
          new PulsarError(
            'ProtocolError',
            `the answer is larger than ${options.maxBytes} bytes, the limit for admin responses`,
            { retriable: false },
          );
        if (declared > options.maxBytes) {
          response.destroy();
          reject(tooLarge());
          return;
        }
        const chunks: Buffer[] = [];
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > options.maxBytes) {
            response.destroy();
            reject(tooLarge());
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () =>
          resolve({ status, headers: response.headers, body: Buffer.concat(chunks) }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', (error) => {
      const timedOut = error.name === 'AbortError' || error.name === 'TimeoutError';
      reject(
        timedOut
          ? new PulsarError('Timeout', `no answer within ${options.timeoutMs} ms`, { cause: error })
          : error,
      );
    });
    request.end();
  });
}

/** internalStats lists the open ledger last, with entries 0: its count is `currentLedgerEntries`. */
function isOpenLedger(stats: InternalStats, index: number): boolean {
  const ledger = stats.ledgers[index];
  return (
    index === stats.ledgers.length - 1 && ledger?.entries === 0 && stats.currentLedgerEntries >= 0
  );
}

function httpKind(status: number): PulsarErrorKind {
  if (status === 401) return 'AuthenticationError';
  if (status === 403) return 'AuthorizationError';
  if (status === 404) return 'TopicNotFound';
  if (status === 412 || status === 400) return 'NotAllowedError';
  if (status === 429) return 'TooManyRequests';
  if (status >= 500) return 'ServiceNotReady';
  return 'UnknownError';
}

/** `persistent/tenant/namespace/topic`, each part URL-encoded. */
function restPath(topic: string): string {
  const name = parseTopicName(topic);
  return [name.domain, name.tenant, name.namespace, name.local].map(encodeURIComponent).join('/');
}
