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
import {
  defaultChunkedMessageExpiryMs,
  defaultMaxPendingChunkedMessages,
  EntryAssembler,
  type StartFilter,
} from './entry-assembler.ts';
import { PulsarError } from './errors.ts';
import {
  defaultReceiverQueueBytes,
  defaultReceiverQueueSize,
  FlowControl,
  type Queued,
} from './flow-control.ts';
import { type Message, messageBytes } from './message.ts';
import { MessageId } from './message-id.ts';
import {
  encodeCloseConsumer,
  encodeFlow,
  encodeGetLastMessageId,
  encodeSeek,
  encodeSubscribe,
  type Incoming,
} from './protocol/commands.ts';
import { DecompressionError } from './protocol/compression.ts';
import { parseTopicName } from './topic-name.ts';

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

const reconnectBackoff = { initialMs: 100, maxMs: 30_000 };

/** Readers open in this process, for `readerStats()`. */
const openReaders = new Set<Reader>();
let reconnectsTotal = 0;
let flowsSentTotal = 0;

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
  /** FLOW commands sent (each one a socket write), since the process started. */
  flowsSent: number;
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
    flowsSent: flowsSentTotal,
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
  private readonly handOffMemory: boolean;
  /** Permits at the broker and the memory held for them and for the queue. */
  private readonly flow: FlowControl;
  /** Decoded messages, in order, not yet handed out. */
  private queue: Message[] = [];
  /** Their bytes (`messageBytes`). */
  queuedBytes = 0;
  /** Decodes entries into messages, made as the queue has room. */
  private readonly assembler: EntryAssembler;
  /** The most bytes queued at once: for tests. */
  queuedBytesHighWater = 0;
  private waiter: { resolve(): void; reject(error: PulsarError): void } | undefined;
  private failure: PulsarError | undefined;
  private closed = false;
  private connection: Connection | undefined;
  private consumerId = 0;
  /** Where to resubscribe: the start until a message is queued, then right after it. */
  private resumeFrom: StartFilter | undefined;
  /**
   * The last message queued, when it came after `resumeFrom` was set: resubscribe right
   * after it (kept as the id alone: a filter object per message was garbage).
   */
  private lastQueued: MessageId | undefined;
  private reconnecting: Promise<void> | undefined;
  /** `earliest` or `latest` when the reader started from one and has queued nothing yet. */
  private readonly sentinelStart: MessageId | undefined;
  /** Set while a seek waits for the broker to reset the cursor. */
  private seeking = false;
  /** Times the reader resubscribed after losing its consumer. */
  reconnects = 0;
  /** Permits granted to the current consumer that the broker has not used yet. */
  get permitsInFlight(): number {
    return this.flow.permitsInFlight;
  }
  /** The span active when the reader opened (a stream's): reconnects become its events. */
  private readonly span: Span | undefined = trace.getActiveSpan();

  private constructor(client: PulsarClient, options: ReaderOptions) {
    this.client = client;
    this.topic = options.topic;
    this.partition = parseTopicName(options.topic).partition;
    this.consumerName = options.name ?? this.subscription;
    this.flow = new FlowControl({
      receiverQueueSize: options.receiverQueueSize ?? defaultReceiverQueueSize,
      receiverQueueBytes: options.receiverQueueBytes ?? defaultReceiverQueueBytes,
      memory: options.memory,
    });
    this.handOffMemory = options.handOffMemory ?? false;
    this.assembler = new EntryAssembler(this.topic, this.partition, {
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
        // Retried as the subscribe is: the broker can close the consumer the seek
        // subscribes again (a topic moving between owners), and a seek to a time is the
        // same seek again from wherever the reader reconnected.
        const at = { publishTime: options.startPublishTime };
        await client.retrying(
          `seek ${reader.topic} to a publish time`,
          () => reader.seek(at),
          retry,
        );
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
    if (this.handOffMemory) this.flow.hold.handOff(this.queuedBytes);
    this.queue = [];
    this.queuedBytes = 0;
    this.fill();
    this.settle();
    this.scheduleGrant();
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
  async positions(signal?: AbortSignal): Promise<{
    lastMessageId: MessageId;
    markDeletePosition: MessageId | undefined;
  }> {
    const what = `last message id of ${this.topic}`;
    // Retried within the operation timeout: a topic being unloaded closes the consumer
    // under the request (the broker answers "Consumer not found") while the reader
    // reconnects to the topic's next owner.
    return this.client.retrying(
      what,
      async () => {
        if (this.closed)
          throw new PulsarError('ConnectionClosed', `reader of ${this.topic} is closed`, {
            retriable: false,
          });
        const connection = await this.ready();
        const response = await connection.request(what, (id) =>
          encodeGetLastMessageId(this.consumerId, id),
        );
        const r = expect(response, 'GET_LAST_MESSAGE_ID_RESPONSE');
        return {
          lastMessageId: r.lastMessageId.withPartition(this.partition),
          markDeletePosition: r.markDeletePosition?.withPartition(this.partition),
        };
      },
      { signal, deadline: this.client.deadline() },
    );
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
    this.assembler.clear();
    let seekFor: { messageId: MessageId } | { publishTime: number } = target;
    if ('messageId' in target) {
      const id =
        target.inclusive && target.messageId.firstChunk
          ? target.messageId.firstChunk
          : target.messageId;
      this.resumeFrom = { id, inclusive: target.inclusive ?? false };
      this.lastQueued = undefined;
      // The broker resets to an entry; the batch index is applied here, by the filter.
      seekFor = { messageId: new MessageId(id.ledgerId, id.entryId) };
    } else {
      this.resumeFrom = undefined;
      this.lastQueued = undefined;
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
    this.assembler.clear();
    this.flow.resetPermits();
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
    this.assembler.startFilter = filter;
    if (this.closed) {
      await this.close();
      return;
    }
    // A new consumer starts with no permits at the broker.
    this.flow.resetPermits();
    this.settle();
    if (flow) this.grant();
  }

  /**
   * The start id to send and the filter to apply. The broker starts a non-durable cursor
   * after the id it is given, but at the id's entry when the id has a batch index (a batch
   * may be partly consumed); messages before the exact start are then dropped here.
   */
  private subscribePosition(): { sent: MessageId; filter: StartFilter | undefined } {
    if (this.lastQueued) {
      this.resumeFrom = { id: this.lastQueued, inclusive: false };
      this.lastQueued = undefined;
    }
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
      const { permitsUsed, bytes } = this.assembler.add(command.messageId, entry);
      this.flow.received(permitsUsed, Math.max(bytes, entry.length));
      this.fill();
      this.settle();
      // Messages dropped here (before the start, compacted out, markers, partial chunks)
      // leave room at once, so the broker keeps sending.
      this.scheduleGrant();
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

  /**
   * Queues the assembler's messages while the queue is under `receiverQueueBytes` (and at
   * least one, so the reader always moves): the rest wait, counted, for `receive`.
   */
  private fill(): void {
    while (
      this.assembler.hasMessages &&
      (this.queue.length === 0 || this.queuedBytes < this.flow.receiverQueueBytes)
    ) {
      const message = this.assembler.next();
      if (message) this.push(message);
    }
    if (this.queuedBytes > this.queuedBytesHighWater) this.queuedBytesHighWater = this.queuedBytes;
  }

  private push(message: Message): void {
    this.queue.push(message);
    this.queuedBytes += messageBytes(message);
    this.lastQueued = message.messageId;
  }

  /** Set while a grant waits for the socket's data at hand to be read. */
  private grantScheduled = false;

  /**
   * Grants after the entries already received are handled (`setImmediate`: once the
   * event loop has read what the socket holds), so a burst of entries and the takes between
   * them send one FLOW, not one each.
   */
  private scheduleGrant(): void {
    if (this.grantScheduled) return;
    this.grantScheduled = true;
    setImmediate(() => {
      this.grantScheduled = false;
      this.grant();
    });
  }

  /** Grants the broker the permits `permitsToGrant` allows (see flow-control.ts). */
  private grant(): void {
    const connection = this.connection;
    // No consumer: lost (a resubscription grants anew) or detached by a seek.
    if (!connection || connection.closed || this.closed || this.consumerId === 0) return;
    const permits = this.flow.grant(this.queued(), () => this.grant());
    if (permits === 0) return;
    connection.send(encodeFlow(this.consumerId, permits));
    flowsSentTotal++;
    this.settle();
  }

  /** Messages queued and still in entries, with their bytes and held chunks. */
  private queued(): Queued {
    return {
      messages: this.queue.length + this.assembler.unqueuedMessages,
      bytes: this.queuedBytes + this.assembler.unqueuedBytes + this.assembler.chunkBytes,
    };
  }

  /** Holds from the gateway's memory what is queued and what the permits in flight may bring. */
  private settle(): void {
    this.flow.settle(this.closed ? undefined : this.queued().bytes);
  }

  /** The consumer is gone (closed by the broker, or its connection lost): resubscribe. */
  private lost(consumerId: number): void {
    if (consumerId !== this.consumerId || this.closed || this.reconnecting !== undefined) return;
    this.connection = undefined;
    // Resubscribed right after the last message queued, the broker sends the rest again.
    this.assembler.clear();
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
