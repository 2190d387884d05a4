/**
 * The record batch a stream is building: its rows, how each was read (to build it again
 * without a row whose payload failed half-way), their publish times, and its bytes,
 * counted in the gateway's memory while it grows.
 */
import type * as arrow from 'apache-arrow';
import type { BatchBuilder, StreamSchema } from '../arrow/batch-builder.ts';
import type { Translate } from '../arrow/value-schema.ts';
import type { MemoryPool } from '../memory-pool.ts';
import type { Message } from '../pulsar/message.ts';
import type { BatchLimits } from './request.ts';

/** With the gateway's memory used up, batches go out from this size on, bytes (256 KiB). */
const pressureFlushBytes = 256 * 1024;

/** One batch being built, then taken; the next one is built in the same object. */
export class Batch {
  private readonly schema: StreamSchema;
  private readonly memory: MemoryPool | undefined;
  private builder: BatchBuilder;
  /** Its messages: to build the batch again, and for the tail's publish times. */
  private messages: Message[] = [];
  /**
   * How its messages were read, as runs: each translate from the message at `from` on
   * (one schema version, one run, mostly: a push a row would cost more than the rebuild
   * it is for, which is rare).
   */
  private translates: { from: number; translate: Translate | undefined }[] = [];
  /** Bytes counted in the gateway's memory. */
  private held = 0;
  /** When the batch got its first row, ms. */
  startedAt = 0;

  constructor(schema: StreamSchema, memory: MemoryPool | undefined) {
    this.schema = schema;
    this.memory = memory;
    this.builder = schema.builder();
  }

  get rows(): number {
    return this.builder.rows;
  }

  /** Appends a row (throws if its payload does not decode: see `rebuild`). */
  append(message: Message, translate: Translate | undefined): void {
    if (this.builder.rows === 0) this.startedAt = Date.now();
    this.builder.append(message, translate);
    this.hold(this.builder.bytes);
    const runs = this.translates;
    if (runs.length === 0 || runs.at(-1)?.translate !== translate) {
      runs.push({ from: this.messages.length, translate });
    }
    this.messages.push(message);
  }

  /**
   * Builds the batch again from its messages in a new builder: the one a payload failed
   * in holds a half-written row. Returns its rows.
   */
  rebuild(): number {
    const builder = this.schema.builder();
    const runs = this.translates;
    for (const [r, { from, translate }] of runs.entries()) {
      const to = runs[r + 1]?.from ?? this.messages.length;
      for (let i = from; i < to; i++) builder.append(this.messages[i] as Message, translate);
    }
    this.builder = builder;
    this.hold(builder.bytes);
    return builder.rows;
  }

  /**
   * Whether the batch goes out: at the request's limits, or, with the gateway's memory
   * used up, from some size on (sent, it waits in the write window, counted too, while
   * the stream reads no more).
   */
  full(limits: BatchLimits): boolean {
    const { rows, bytes } = this.builder;
    if (rows >= limits.maxRows || bytes >= limits.maxBytes) return true;
    return this.memory !== undefined && this.memory.free === 0 && bytes >= pressureFlushBytes;
  }

  /**
   * The batch, and its rows' publish times if `withPublishTimes` (the tail's lag is
   * measured with them; history's is not); the next batch starts empty.
   */
  take(withPublishTimes: boolean): { batch: arrow.RecordBatch; publishTimes: number[] } {
    const batch = this.builder.flush();
    // The response is counted from here by whatever holds it (the gRPC write window).
    this.hold(0);
    const publishTimes = withPublishTimes ? this.messages.map((m) => m.publishTime) : [];
    this.messages = [];
    this.translates = [];
    return { batch, publishTimes };
  }

  /** Gives its memory back: the stream ends. */
  release(): void {
    this.hold(0);
  }

  /**
   * Counts the batch (`bytes`, as the builder estimates them) in the gateway's memory: up
   * to `maxBytes` per stream, 64 streams per caller, it is no small part of it. Taken even
   * past the budget, as a reader's minimum is: the rows are here already.
   */
  private hold(bytes: number): void {
    if (!this.memory) return;
    if (bytes > this.held) this.memory.force(bytes - this.held);
    else this.memory.release(this.held - bytes);
    this.held = bytes;
  }
}
