/**
 * A reader of one topic partition (or non-partitioned topic): an exclusive, non-durable
 * subscription from a start position, with bounded prefetch, batch and chunk decoding, and
 * reconnection that resumes right after the last message queued, so the sequence of
 * messages it returns has no gap and no duplicate across broker restarts and unloads.
 */
import { randomBytes } from 'node:crypto';
import { type Span, trace } from '@opentelemetry/api';
import type { MemoryPool } from '../memory-pool.ts';
import type { OperationOptions, PulsarClient } from './client.ts';
import { expect } from './client.ts';
import type { Connection, ConsumerHandler } from './connection.ts';
import { PulsarError } from './errors.ts';
import {
  defaultReceiverQueueBytes,
  defaultReceiverQueueSize,
  MemoryHold,
  permitsToGrant,
} from './flow-control.ts';
import { compareMessageIds, MessageId } from './message-id.ts';
import {
  encodeCloseConsumer,
  encodeFlow,
  encodeGetLastMessageId,
  encodeSeek,
  encodeSubscribe,
  type Incoming,
} from './protocol/commands.ts';
import { DecompressionError, decompress, maxUncompressedBytes } from './protocol/compression.ts';
import { decodeEntry, type EntryMessage } from './protocol/entry.ts';
import type { MessageMetadata } from './protocol/metadata.ts';
import { parseTopicName } from './topic-name.ts';

/** One message as Pulsar stored it. */
export interface Message {
  /** The partition's topic name (or the topic's, when not partitioned). */
  topic: string;
  messageId: MessageId;
  /** The message's value bytes, decompressed; a view into the entry where possible. */
  payload: Buffer;
  /** The message key, as the producer set it (base64 of the bytes when `keyIsBase64`). */
  key: string | undefined;
  keyIsBase64: boolean;
  orderingKey: Buffer | undefined;
  properties: Record<string, string>;
  /** Publish time, ms since the epoch, set by the producer's client. */
  publishTime: number;
  /** Event time, ms since the epoch; undefined when the producer did not set it. */
  eventTime: number | undefined;
  /** The schema version the producer wrote with. */
  schemaVersion: Buffer | undefined;
  producerName: string;
  sequenceId: number;
  /** True when the producer sent a null value (a tombstone). */
  nullValue: boolean;
  /** When the broker stored the entry, if the broker adds broker entry metadata. */
  brokerTimestamp: number | undefined;
  /**
   * The message's index in its partition over the topic's whole life, counted from 0, if
   * the broker adds it (AppendIndexMetadataInterceptor).
   */
  brokerIndex: number | undefined;
}

/** What the broker stamped on an entry (or on one of its messages). */
type BrokerStamp = Pick<Message, 'brokerTimestamp' | 'brokerIndex'>;

/** Where to start and how much to prefetch. */
export interface ReaderOptions {
  /** A partition's or a non-partitioned topic's full name. */
  topic: string;
  /** `MessageId.earliest` (default), `MessageId.latest`, or a message's id. */
  start?: MessageId;
  /** Start with the message at `start` instead of after it. */
  startInclusive?: boolean;
  /** Instead of `start`: the first message with publish time >= this (ms since the epoch). */
  startPublishTime?: number;
  /** Messages the broker may push ahead of `receive()` (flow-control permits). */
  receiverQueueSize?: number;
  /**
   * Bytes of messages (`messageBytes`) the reader may hold queued and ask the broker for
   * ahead of `receive()`; the broker may overshoot by one entry (a batch) per permit.
   */
  receiverQueueBytes?: number;
  /** The gateway's budget that the queue and prefetch draw from; none: unbounded. */
  memory?: MemoryPool | undefined;
  /**
   * The caller keeps the messages `receive()` hands out counted in `memory` and releases
   * their `messageBytes` itself (a buffer that holds them on); otherwise they are released
   * as they are handed out.
   */
  handOffMemory?: boolean;
  /** Seen by the broker as the consumer name. */
  name?: string;
  /**
   * Gives up opening (the caller's call was cancelled or expired). Until then, and within
   * the client's operation timeout, the open retries while Pulsar is unavailable.
   */
  signal?: AbortSignal | undefined;
  /**
   * Chunked messages the reader assembles at once (interleaved by several producers);
   * one more ends the reader with an error, never a silent drop. Default 10, as Java's
   * `maxPendingChunkedMessage`.
   */
  maxPendingChunkedMessages?: number;
  /**
   * An incomplete chunked message is dropped once the topic's clock (broker timestamps, else
   * publish times) is this far past its first chunk, ms; default 60 s, as Java's
   * `expireTimeOfIncompleteChunkedMessage`. A chunk of it arriving later is an error.
   */
  chunkedMessageExpiryMs?: number;
}

/**
 * What a received message costs beyond its payload, bytes: the JS objects that carry it
 * (message, id, payload view, properties). Measured in a heap snapshot of a gateway reading
 * small AVRO records: ~400 B a message.
 */
export const messageOverheadBytes = 400;

/** The memory a received message holds, as readers and buffers count it. */
export function messageBytes(message: Message): number {
  return message.payload.length + messageOverheadBytes;
}
const reconnectBackoff = { initialMs: 100, maxMs: 30_000 };

/** The position messages must be after (or at, when inclusive) to be returned. */
interface StartFilter {
  id: MessageId;
  inclusive: boolean;
}

/**
 * An entry decoded and not yet wholly queued: its messages become `Message`s only as the
 * queue has room, so a batch of many small messages never costs more than the reader's
 * byte budget at once.
 */
interface OpenEntry {
  id: MessageId;
  metadata: MessageMetadata;
  broker: BrokerStamp;
  messages: EntryMessage[];
  /** The next message to queue. */
  next: number;
}

/** Readers open in this process, for `readerStats()`. */
const openReaders = new Set<Reader>();
let reconnectsTotal = 0;

/** What the process's readers hold and have done: for gauges and counters. */
export interface ReaderStats {
  readers: number;
  /** Messages the broker may still push without being asked (granted permits not used). */
  permitsInFlight: number;
  /** Messages received and not yet handed out. */
  queuedMessages: number;
  /** Their bytes (`messageBytes`). */
  queuedBytes: number;
  /** Resubscriptions after a lost consumer, since the process started. */
  reconnects: number;
}

/** A snapshot of every open reader's flow-control state. */
export function readerStats(): ReaderStats {
  let permitsInFlight = 0;
  let queuedMessages = 0;
  let queuedBytes = 0;
  for (const reader of openReaders) {
    permitsInFlight += reader.permitsInFlight;
    queuedMessages += reader.queuedMessages;
    queuedBytes += reader.queuedBytes;
  }
  return {
    readers: openReaders.size,
    permitsInFlight,
    queuedMessages,
    queuedBytes,
    reconnects: reconnectsTotal,
  };
}

/** Reads one partition in order. `receive()` returns what is queued, waiting for at least one. */
export class Reader {
  readonly topic: string;
  /** Partition index of `topic`, or -1. */
  readonly partition: number;
  private readonly client: PulsarClient;
  private readonly subscription = `seam-reader-${randomBytes(5).toString('hex')}`;
  private readonly consumerName: string;
  private readonly receiverQueueSize: number;
  private readonly receiverQueueBytes: number;
  private readonly handOffMemory: boolean;
  /** Decoded messages, in order, not yet handed out. */
  private queue: Message[] = [];
  /** Their bytes (`messageBytes`). */
  queuedBytes = 0;
  /** Entries received whose messages are not all queued yet (or chunked messages), in order. */
  private openEntries: (OpenEntry | Message)[] = [];
  /** What the messages of `openEntries` not queued yet will cost (`messageBytes`), and how many. */
  private unqueuedBytes = 0;
  private unqueuedMessages = 0;
  /** The most bytes queued at once: for tests. */
  queuedBytesHighWater = 0;
  /** Bytes an entry brought, recent entries weighing most; undefined before the first. */
  private entryBytes: number | undefined;
  /** Entries received since the reader opened: permits grow with them (a slow start). */
  private entriesSeen = 0;
  /** Bytes held from `memory`: what is queued plus what the permits in flight may bring. */
  private readonly hold: MemoryHold;
  private waiter: { resolve(): void; reject(error: PulsarError): void } | undefined;
  private failure: PulsarError | undefined;
  private closed = false;
  /**
   * Permits granted to the current consumer minus messages it delivered. Negative after
   * the broker sent a batch larger than the permits left: the next FLOW pays that back.
   */
  private brokerPermits = 0;
  private connection: Connection | undefined;
  private consumerId = 0;
  /** Where to resubscribe: the start until a message is queued, then right after it. */
  private resumeFrom: StartFilter | undefined;
  private startFilter: StartFilter | undefined;
  private readonly chunks: ChunkedMessages;
  private reconnecting: Promise<void> | undefined;
  /** `earliest` or `latest` when the reader started from one and has queued nothing yet. */
  private readonly sentinelStart: MessageId | undefined;
  /** Set while a seek waits for the broker to reset the cursor. */
  private seeking = false;
  /** Times the reader resubscribed after losing its consumer. */
  reconnects = 0;
  /** Permits granted to the current consumer that the broker has not used yet. */
  get permitsInFlight(): number {
    return Math.max(0, this.brokerPermits);
  }
  /** The span active when the reader opened (a stream's): reconnects become its events. */
  private readonly span: Span | undefined = trace.getActiveSpan();

  private constructor(client: PulsarClient, options: ReaderOptions) {
    this.client = client;
    this.topic = options.topic;
    this.partition = parseTopicName(options.topic).partition;
    this.consumerName = options.name ?? this.subscription;
    this.receiverQueueSize = options.receiverQueueSize ?? defaultReceiverQueueSize;
    this.receiverQueueBytes = options.receiverQueueBytes ?? defaultReceiverQueueBytes;
    this.hold = new MemoryHold(options.memory);
    this.handOffMemory = options.handOffMemory ?? false;
    this.chunks = new ChunkedMessages(this.topic, {
      maxPending: options.maxPendingChunkedMessages ?? defaultMaxPendingChunkedMessages,
      expiryMs: options.chunkedMessageExpiryMs ?? defaultChunkedMessageExpiryMs,
    });
    const start = options.start ?? MessageId.earliest;
    this.resumeFrom = start.isSentinel
      ? undefined
      : {
          // A chunked message starts at its first chunk.
          id: options.startInclusive && start.firstChunk ? start.firstChunk : start,
          inclusive: options.startInclusive ?? false,
        };
    this.sentinelStart = start.isSentinel ? start : undefined;
  }

  /** Messages received and not yet handed out. */
  get queuedMessages(): number {
    return this.queue.length;
  }

  /** Subscribes to `options.topic` and starts prefetching. */
  static async open(client: PulsarClient, options: ReaderOptions): Promise<Reader> {
    const reader = new Reader(client, options);
    openReaders.add(reader);
    try {
      // Retried while Pulsar is unavailable (a broker restarting), within the deadline.
      const retry = { signal: options.signal, deadline: client.deadline() };
      const flow = options.startPublishTime === undefined;
      await client.retrying(
        `subscribe to ${reader.topic}`,
        () => reader.subscribe(flow, retry),
        retry,
      );
      if (options.startPublishTime !== undefined) {
        // Position the cursor before asking for messages, so none from the start arrive.
        await reader.seek({ publishTime: options.startPublishTime });
      }
    } catch (error) {
      await reader.close();
      throw error;
    }
    return reader;
  }

  /**
   * The queued messages, in order, waiting until there is at least one. Rejects when the
   * reader failed for good or was closed; `signal` gives up waiting (the reader stays usable).
   */
  async receive(signal?: AbortSignal): Promise<Message[]> {
    while (this.queue.length === 0) {
      if (this.failure) throw this.failure;
      if (this.closed)
        throw new PulsarError('ConnectionClosed', `reader of ${this.topic} is closed`);
      signal?.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          this.waiter = undefined;
          reject(PulsarError.from(signal?.reason ?? new Error('aborted'), 'Aborted'));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiter = {
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          reject: (error) => {
            signal?.removeEventListener('abort', onAbort);
            reject(error);
          },
        };
      });
    }
    const messages = this.queue;
    // Handed off, their bytes stay taken, now the caller's; else they are released here.
    if (this.handOffMemory) this.hold.handOff(this.queuedBytes);
    this.queue = [];
    this.queuedBytes = 0;
    this.fill();
    this.settle();
    this.grant();
    return messages;
  }

  /** Every message from the start, one at a time, until the reader is closed. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Message> {
    for (;;) {
      let messages: Message[];
      try {
        messages = await this.receive();
      } catch (error) {
        if (this.closed) return;
        throw error;
      }
      yield* messages;
    }
  }

  /**
   * The id of the last message in the partition (entry id -1 when it is empty), and the
   * subscription's mark-delete position: the entry before the next one the cursor reads.
   */
  async positions(): Promise<{
    lastMessageId: MessageId;
    markDeletePosition: MessageId | undefined;
  }> {
    const connection = await this.ready();
    const response = await connection.request(`last message id of ${this.topic}`, (id) =>
      encodeGetLastMessageId(this.consumerId, id),
    );
    const r = expect(response, 'GET_LAST_MESSAGE_ID_RESPONSE');
    return {
      lastMessageId: r.lastMessageId.withPartition(this.partition),
      markDeletePosition: r.markDeletePosition?.withPartition(this.partition),
    };
  }

  /** The id of the last message in the partition (entry id -1 when it is empty). */
  async lastMessageId(): Promise<MessageId> {
    return (await this.positions()).lastMessageId;
  }

  /**
   * Moves the reader. With `messageId`, the next message returned is the first after it
   * (or the one at it, when `inclusive`); with `publishTime`, the first message published
   * at or after it (ms). Queued messages are dropped.
   */
  async seek(
    target: { messageId: MessageId; inclusive?: boolean } | { publishTime: number },
  ): Promise<void> {
    const connection = await this.ready();
    const consumerId = this.consumerId;
    // The broker closes the consumer before it answers, then keeps the reset cursor for
    // the next SUBSCRIBE to the same subscription. Detached from the old consumer id, the
    // reader drops what it still sends and does not treat its closing as a loss.
    this.seeking = true;
    this.consumerId = 0;
    this.queue = [];
    this.queuedBytes = 0;
    this.dropOpenEntries();
    this.chunks.clear();
    let seekFor: { messageId: MessageId } | { publishTime: number } = target;
    if ('messageId' in target) {
      const id =
        target.inclusive && target.messageId.firstChunk
          ? target.messageId.firstChunk
          : target.messageId;
      this.resumeFrom = { id, inclusive: target.inclusive ?? false };
      // The broker resets to an entry; the batch index is applied here, by the filter.
      seekFor = { messageId: new MessageId(id.ledgerId, id.entryId) };
    } else {
      this.resumeFrom = undefined;
    }
    try {
      await connection.request(`seek on ${this.topic}`, (id) =>
        encodeSeek(consumerId, id, seekFor),
      );
      connection.removeConsumer(consumerId);
      await this.subscribe();
    } catch (error) {
      this.seeking = false;
      this.consumerId = consumerId;
      this.lost(consumerId);
      throw error;
    }
    this.seeking = false;
  }

  /** Stops reading and releases the subscription. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    openReaders.delete(this);
    this.queue = [];
    this.queuedBytes = 0;
    this.dropOpenEntries();
    this.brokerPermits = 0;
    this.settle();
    this.waiter?.reject(new PulsarError('ConnectionClosed', `reader of ${this.topic} is closed`));
    this.waiter = undefined;
    const connection = this.connection;
    this.connection = undefined;
    if (connection && !connection.closed) {
      connection.removeConsumer(this.consumerId);
      await connection
        .request(`close reader of ${this.topic}`, (id) => encodeCloseConsumer(this.consumerId, id))
        .catch(() => {});
    }
  }

  private async ready(): Promise<Connection> {
    if (this.seeking)
      throw new PulsarError('NotAllowedError', `reader of ${this.topic} is already seeking`, {
        retriable: false,
      });
    if (this.failure) throw this.failure;
    if (this.reconnecting !== undefined) await this.reconnecting;
    if (!this.connection)
      throw new PulsarError('ConnectionClosed', `reader of ${this.topic} is not connected`);
    return this.connection;
  }

  private async subscribe(flow = true, options?: OperationOptions): Promise<void> {
    const { connection } = await this.client.lookup(this.topic, options);
    const consumerId = connection.newConsumerId();
    // The broker may close the consumer (another unload) before SUBSCRIBE is answered;
    // then this attempt failed, whatever the answer says.
    let closedWhileSubscribing = false;
    const onGone = () => {
      if (this.consumerId === consumerId) this.lost(consumerId);
      else closedWhileSubscribing = true;
    };
    const handler: ConsumerHandler = {
      onMessage: (command, entry) => this.onEntry(consumerId, command, entry),
      onClosedByBroker: onGone,
      onEndOfTopic: () => {},
      onConnectionClosed: onGone,
    };
    connection.addConsumer(consumerId, handler);
    const { sent, filter } = this.subscribePosition();
    try {
      await connection.request(`subscribe to ${this.topic}`, (id) =>
        encodeSubscribe({
          topic: this.topic,
          subscription: this.subscription,
          consumerId,
          requestId: id,
          consumerName: this.consumerName,
          startMessageId: sent,
        }),
      );
    } catch (error) {
      connection.removeConsumer(consumerId);
      throw error;
    }
    if (closedWhileSubscribing) {
      connection.removeConsumer(consumerId);
      throw new PulsarError(
        'ConnectionClosed',
        `${this.topic}: the broker closed the consumer while it subscribed`,
      );
    }
    this.connection = connection;
    this.consumerId = consumerId;
    this.startFilter = filter;
    if (this.closed) {
      await this.close();
      return;
    }
    // A new consumer starts with no permits at the broker.
    this.brokerPermits = 0;
    this.settle();
    if (flow) this.grant();
  }

  /**
   * The start id to send and the filter to apply. The broker starts a non-durable cursor
   * after the id it is given, but at the id's entry when the id has a batch index (a batch
   * may be partly consumed); messages before the exact start are then dropped here.
   */
  private subscribePosition(): { sent: MessageId; filter: StartFilter | undefined } {
    const from = this.resumeFrom;
    if (!from) return { sent: this.sentinelStart ?? MessageId.earliest, filter: undefined };
    const { id, inclusive } = from;
    if (!inclusive && id.batchIndex < 0) {
      return { sent: new MessageId(id.ledgerId, id.entryId), filter: from };
    }
    return {
      sent: new MessageId(id.ledgerId, id.entryId, Math.max(id.batchIndex, 0)),
      filter: from,
    };
  }

  private onEntry(
    consumerId: number,
    command: Extract<Incoming, { type: 'MESSAGE' }>,
    entry: Buffer,
  ): void {
    if (consumerId !== this.consumerId || this.closed) return;
    try {
      const before = this.queue.length;
      const bytes = this.decodeEntry(command.messageId, entry);
      // The broker counts permits in messages, a batch's all of them, and may go below
      // zero; what it sent past them is paid back by the next FLOW.
      this.brokerPermits -= this.entryMessageCount;
      this.entriesSeen++;
      this.fill();
      const cost = Math.max(bytes, entry.length);
      this.entryBytes =
        this.entryBytes === undefined ? cost : Math.max(cost, (this.entryBytes + cost) / 2);
      this.settle();
      // Messages dropped here (before the start, compacted out, markers, partial chunks)
      // leave room at once, so the broker keeps sending.
      this.grant();
      if (this.queue.length > before && this.waiter) {
        const waiter = this.waiter;
        this.waiter = undefined;
        waiter.resolve();
      }
    } catch (error) {
      this.fail(
        error instanceof PulsarError
          ? error
          : new PulsarError(
              error instanceof DecompressionError ? 'UnreadableMessage' : 'ProtocolError',
              `entry ${command.messageId.ledgerId}:${command.messageId.entryId} of ${this.topic}: ${(error as Error).message}`,
              { cause: error, retriable: false },
            ),
      );
    }
  }

  /** Messages the last decoded entry counted for flow control. */
  private entryMessageCount = 0;

  /**
   * Decodes an entry; its messages wait in `openEntries` until `fill` queues them. Returns
   * what its messages will cost (`messageBytes`), counted before any of them is made.
   */
  private decodeEntry(id: MessageId, entry: Buffer): number {
    const decoded = decodeEntry(entry);
    const { metadata, brokerTimestamp, brokerIndex } = decoded;
    this.entryMessageCount = metadata.numMessagesInBatch;
    const time = brokerTimestamp ?? metadata.publishTime;
    this.chunks.observe(metadata.producerName, metadata.uuid, time);
    switch (decoded.kind) {
      case 'marker':
        return 0;
      case 'encrypted':
        throw new PulsarError(
          'UnreadableMessage',
          `entry ${id.ledgerId}:${id.entryId} of ${this.topic} is encrypted; Seam cannot decrypt messages`,
          { retriable: false },
        );
      case 'chunk': {
        const chunkId = new MessageId(id.ledgerId, id.entryId, -1, this.partition);
        const first = metadata.chunkId === 0 && this.passesStart(chunkId);
        const assembled = this.chunks.add(chunkId, metadata, decoded.chunk, time, first);
        if (!assembled) return 0;
        const payload = decompress(
          metadata.compression,
          assembled.whole,
          metadata.uncompressedSize,
        );
        const messageId = new MessageId(
          id.ledgerId,
          id.entryId,
          -1,
          this.partition,
          0,
          assembled.firstChunk,
        );
        const whole = unbatchedMessage(this.topic, messageId, metadata, payload, {
          brokerTimestamp,
          brokerIndex,
        });
        // Behind the entries still open, to keep the order.
        this.openEntries.push(whole);
        this.unqueuedBytes += messageBytes(whole);
        this.unqueuedMessages++;
        return messageBytes(whole);
      }
    }
    const { messages } = decoded;
    const count = metadata.isBatch ? metadata.numMessagesInBatch : 0;
    // The start filter applies in arrival order (a chunked message behind may pass it).
    let first = 0;
    while (
      this.startFilter &&
      first < messages.length &&
      !this.passesStart(this.idOf(id, messages[first] as EntryMessage, count))
    )
      first++;
    let bytes = 0;
    for (let i = first; i < messages.length; i++)
      bytes += (messages[i] as EntryMessage).payload.length + messageOverheadBytes;
    if (first === messages.length) return 0;
    this.openEntries.push({
      id,
      metadata,
      broker: { brokerTimestamp, brokerIndex },
      messages,
      next: first,
    });
    this.unqueuedBytes += bytes;
    this.unqueuedMessages += messages.length - first;
    return bytes;
  }

  private idOf(entry: MessageId, m: EntryMessage, count: number): MessageId {
    return new MessageId(entry.ledgerId, entry.entryId, m.batchIndex, this.partition, count);
  }

  /**
   * Queues the open entries' messages while the queue is under `receiverQueueBytes` (and
   * at least one, so the reader always moves): the rest wait, counted, for `receive`.
   */
  private fill(): void {
    while (this.queue.length === 0 || this.queuedBytes < this.receiverQueueBytes) {
      const open = this.openEntries[0];
      if (!open) break;
      if (!('messages' in open)) {
        // A chunked message, reassembled (its first chunk passed the start filter).
        this.openEntries.shift();
        this.unqueuedBytes -= messageBytes(open);
        this.unqueuedMessages--;
        this.push(open);
        continue;
      }
      const m = open.messages[open.next++] as EntryMessage;
      if (open.next >= open.messages.length) this.openEntries.shift();
      this.unqueuedBytes -= m.payload.length + messageOverheadBytes;
      this.unqueuedMessages--;
      const message = this.entryMessage(open, m);
      if (message) this.push(message);
    }
    if (this.queuedBytes > this.queuedBytesHighWater) this.queuedBytesHighWater = this.queuedBytes;
  }

  /** The message `m` of `open`, or undefined when it is compacted out. */
  private entryMessage(open: OpenEntry, m: EntryMessage): Message | undefined {
    const { id, metadata, broker } = open;
    const { batchIndex, single, payload } = m;
    if (single?.compactedOut) return undefined;
    const count = metadata.isBatch ? metadata.numMessagesInBatch : 0;
    const messageId = this.idOf(id, m, count);
    if (!single) return unbatchedMessage(this.topic, messageId, metadata, payload, broker);
    const { brokerTimestamp, brokerIndex } = broker;
    return {
      topic: this.topic,
      messageId,
      payload,
      key: single.partitionKey,
      keyIsBase64: single.partitionKeyB64Encoded,
      orderingKey: single.orderingKey,
      properties: single.properties,
      publishTime: metadata.publishTime,
      eventTime: single.eventTime || undefined,
      schemaVersion: metadata.schemaVersion,
      producerName: metadata.producerName,
      sequenceId: single.sequenceId ?? metadata.sequenceId + batchIndex,
      nullValue: single.nullValue,
      brokerTimestamp,
      // The entry's index is its last message's.
      brokerIndex: brokerIndex === undefined ? undefined : brokerIndex - (count - 1) + batchIndex,
    };
  }

  /** Forgets the entries not queued yet: a new consumer sends them again. */
  private dropOpenEntries(): void {
    this.openEntries = [];
    this.unqueuedBytes = 0;
    this.unqueuedMessages = 0;
  }

  private passesStart(id: MessageId): boolean {
    const filter = this.startFilter;
    if (!filter) return true;
    // An unbatched message at the start entry is the start message, whatever batch index
    // the start id carries (Go ids give unbatched messages batch index 0).
    const order =
      id.batchIndex < 0 && id.ledgerId === filter.id.ledgerId && id.entryId === filter.id.entryId
        ? 0
        : compareMessageIds(id, filter.id);
    if (order > 0 || (order === 0 && filter.inclusive)) {
      this.startFilter = undefined;
      return true;
    }
    return false;
  }

  private push(message: Message): void {
    this.queue.push(message);
    this.queuedBytes += messageBytes(message);
    this.resumeFrom = { id: message.messageId, inclusive: false };
  }

  /** Grants the broker the permits `permitsToGrant` allows (see flow-control.ts). */
  private grant(): void {
    const connection = this.connection;
    // No consumer: lost (a resubscription grants anew) or detached by a seek.
    if (!connection || connection.closed || this.closed || this.consumerId === 0) return;
    const inFlight = this.permitsInFlight;
    const { permits, waitForMemory } = permitsToGrant({
      receiverQueueSize: this.receiverQueueSize,
      receiverQueueBytes: this.receiverQueueBytes,
      queuedMessages: this.queue.length + this.unqueuedMessages,
      queuedBytes: this.queuedBytes + this.unqueuedBytes + this.chunks.bytes,
      permitsInFlight: inFlight,
      entryBytes: this.entryBytes,
      entriesSeen: this.entriesSeen,
      memoryFree: this.hold.free,
    });
    if (permits === 0) {
      if (waitForMemory) this.hold.waitForRelease(() => this.grant());
      return;
    }
    this.hold.stopWaiting();
    // Pays back what the broker sent past the permits, then grants the new ones.
    connection.send(encodeFlow(this.consumerId, permits - Math.min(0, this.brokerPermits)));
    this.brokerPermits = inFlight + permits;
    this.settle();
  }

  /** Holds from the gateway's memory what is queued and what the permits in flight may bring. */
  private settle(): void {
    const perPermit = this.entryBytes ?? 0;
    this.hold.set(
      this.closed
        ? 0
        : this.queuedBytes +
            this.unqueuedBytes +
            this.chunks.bytes +
            this.permitsInFlight * perPermit,
    );
    if (this.closed) this.hold.stopWaiting();
  }

  /** The consumer is gone (closed by the broker, or its connection lost): resubscribe. */
  private lost(consumerId: number): void {
    if (consumerId !== this.consumerId || this.closed || this.reconnecting !== undefined) return;
    this.connection = undefined;
    // Resubscribed right after the last message queued, the broker sends the rest again.
    this.dropOpenEntries();
    this.chunks.clear();
    this.reconnecting = this.reconnect().finally(() => {
      this.reconnecting = undefined;
    });
  }

  private async reconnect(): Promise<void> {
    let delay = reconnectBackoff.initialMs;
    while (!this.closed) {
      try {
        await this.subscribe();
        this.reconnects++;
        reconnectsTotal++;
        this.span?.addEvent('pulsar.reconnect', {
          'messaging.destination.name': this.topic,
          'seam.reconnects': this.reconnects,
        });
        return;
      } catch (error) {
        const failure = PulsarError.from(error);
        if (!failure.retriable) {
          this.fail(failure);
          return;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, reconnectBackoff.maxMs);
    }
  }

  private fail(error: PulsarError): void {
    if (this.failure) return;
    this.failure = error;
    this.waiter?.reject(error);
    this.waiter = undefined;
    void this.close();
  }
}

/** A message that is its entry's only one (unbatched, or a chunked message reassembled). */
function unbatchedMessage(
  topic: string,
  messageId: MessageId,
  metadata: MessageMetadata,
  payload: Buffer,
  broker: BrokerStamp,
): Message {
  return {
    topic,
    messageId,
    payload,
    key: metadata.partitionKey,
    keyIsBase64: metadata.partitionKeyB64Encoded,
    orderingKey: metadata.orderingKey,
    properties: metadata.properties,
    publishTime: metadata.publishTime,
    eventTime: metadata.eventTime || undefined,
    schemaVersion: metadata.schemaVersion,
    producerName: metadata.producerName,
    sequenceId: metadata.sequenceId,
    nullValue: metadata.nullValue,
    ...broker,
  };
}

/** Chunked messages a reader assembles at once, by default (Java's `maxPendingChunkedMessage`). */
export const defaultMaxPendingChunkedMessages = 10;
/**
 * How far the topic's clock may move past an incomplete chunked message's first chunk
 * before it is dropped, by default: 60 s, as Java's `expireTimeOfIncompleteChunkedMessage`.
 */
export const defaultChunkedMessageExpiryMs = 60_000;
/** Chunked messages dropped incomplete that are remembered, to notice their late chunks. */
const droppedRemembered = 1000;

interface ChunkAssembly {
  parts: Buffer[];
  received: number;
  bytes: number;
  firstChunk: MessageId;
  producer: string;
  /** The topic's clock at the first chunk. */
  startedAt: number;
}

/** A chunked message's chunks, joined, and the id of its first chunk. */
interface AssembledChunks {
  whole: Buffer;
  firstChunk: MessageId;
}

/**
 * Assembles chunked messages (messages larger than the broker's limit, sent as several
 * entries, possibly interleaved with other producers' entries). Bounded, as the Java
 * client: at most `maxPending` at once, each dropped when its producer moves on to another
 * message or when the topic's clock passes `expiryMs` after its first chunk — such a message
 * was never completely written. A drop is never silent in effect: a chunk of a dropped
 * message that arrives after all ends the reader with an error, as does one chunked message
 * too many, a missing chunk, or chunks that overrun their declared size. The bytes held are
 * in `bytes`, for the reader's memory budget.
 */
class ChunkedMessages {
  /** Bytes of the chunks held. */
  bytes = 0;
  private readonly pending = new Map<string, ChunkAssembly>();
  /** Why each recently dropped message was dropped, by uuid (insertion order: oldest first). */
  private readonly dropped = new Map<string, string>();
  private readonly topic: string;
  private readonly limits: { maxPending: number; expiryMs: number };

  constructor(topic: string, limits: { maxPending: number; expiryMs: number }) {
    this.topic = topic;
    this.limits = limits;
  }

  /**
   * Sees each entry before it is decoded further: drops the messages its producer left
   * incomplete (it sent something else) and those expired at `time` (the topic's clock).
   */
  observe(producer: string, uuid: string | undefined, time: number): void {
    if (this.pending.size === 0) return;
    for (const [key, assembly] of this.pending) {
      if (assembly.producer === producer && key !== uuid) {
        this.drop(key, `its producer ${producer} sent another message before its last chunk`);
      } else if (time - assembly.startedAt > this.limits.expiryMs) {
        this.drop(key, `it was incomplete ${this.limits.expiryMs} ms after its first chunk`);
      }
    }
  }

  /**
   * Adds a chunk (at `id`); returns the message's chunks joined once the last one is in.
   * `first`: the chunk starts a message at or after the reader's start.
   */
  add(
    id: MessageId,
    metadata: MessageMetadata,
    chunk: Buffer,
    time: number,
    first: boolean,
  ): AssembledChunks | undefined {
    const uuid = metadata.uuid ?? '';
    const where = `chunked message ${uuid} of ${this.topic} (chunk ${metadata.chunkId} at ${id.ledgerId}:${id.entryId})`;
    if (metadata.chunkId === 0) {
      // The producer sent it again (after a reconnect): start over.
      this.remove(uuid);
      if (!first) return undefined;
      if (metadata.totalChunkMsgSize > maxUncompressedBytes) {
        throw unreadable(
          `${where} declares ${metadata.totalChunkMsgSize} bytes, over Seam's limit of ${maxUncompressedBytes}`,
        );
      }
      if (this.pending.size >= this.limits.maxPending) {
        throw unreadable(
          `${where}: more than ${this.limits.maxPending} chunked messages are incomplete at once (producers interleave them); Seam assembles at most ${this.limits.maxPending} per partition`,
        );
      }
      this.dropped.delete(uuid);
      this.pending.set(uuid, {
        parts: [],
        received: 0,
        bytes: 0,
        firstChunk: id,
        producer: metadata.producerName,
        startedAt: time,
      });
    }
    const assembly = this.pending.get(uuid);
    if (!assembly) {
      const reason = this.dropped.get(uuid);
      if (reason !== undefined) {
        throw unreadable(`${where} arrived after Seam dropped the message incomplete: ${reason}`);
      }
      // Its first chunk was before the start: not the reader's.
      return undefined;
    }
    // A chunk sent twice (a producer's resend): the first copy stands.
    if (metadata.chunkId < assembly.received) return undefined;
    if (metadata.chunkId > assembly.received) {
      throw unreadable(`${where}: chunk ${assembly.received} is missing`);
    }
    // Chunk payloads are views into socket buffers: keep copies only until assembled.
    assembly.parts.push(Buffer.from(chunk));
    assembly.received++;
    assembly.bytes += chunk.length;
    this.bytes += chunk.length;
    if (assembly.bytes > metadata.totalChunkMsgSize) {
      throw new PulsarError(
        'ProtocolError',
        `${where}: chunks hold more than the ${metadata.totalChunkMsgSize} bytes the metadata declares`,
        { retriable: false },
      );
    }
    if (assembly.received < metadata.numChunksFromMsg) return undefined;
    this.remove(uuid);
    if (assembly.bytes !== metadata.totalChunkMsgSize) {
      throw new PulsarError(
        'ProtocolError',
        `${where}: chunks hold ${assembly.bytes} bytes, metadata says ${metadata.totalChunkMsgSize}`,
        { retriable: false },
      );
    }
    return {
      whole: Buffer.concat(assembly.parts, assembly.bytes),
      firstChunk: assembly.firstChunk,
    };
  }

  /** Forgets every incomplete message (a new consumer sends their chunks again). */
  clear(): void {
    this.pending.clear();
    this.bytes = 0;
  }

  private remove(uuid: string): void {
    const assembly = this.pending.get(uuid);
    if (!assembly) return;
    this.pending.delete(uuid);
    this.bytes -= assembly.bytes;
  }

  private drop(uuid: string, reason: string): void {
    this.remove(uuid);
    this.dropped.set(uuid, reason);
    if (this.dropped.size > droppedRemembered) {
      const oldest = this.dropped.keys().next().value;
      if (oldest !== undefined) this.dropped.delete(oldest);
    }
  }
}

function unreadable(message: string): PulsarError {
  return new PulsarError('UnreadableMessage', message, { retriable: false });
}
