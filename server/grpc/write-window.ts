/**
 * The write window of one stream: what it handed to gRPC and HTTP/2 has not sent yet,
 * bounded per stream and counted against the gateway's memory.
 */
import { type EventEmitter, once } from 'node:events';
import type { MemoryPool } from '../memory-pool.ts';

/**
 * Bounds the bytes a stream has handed to gRPC that HTTP/2 has not sent yet. grpc-js's
 * writable accepts 16 responses before `write()` returns false, and each may be megabytes;
 * the write callback fires once HTTP/2 took the bytes, so counting until then bounds what a
 * client that stops reading can pin in memory. The bytes count against the gateway's
 * memory too: when it is spent, a stream writes on only once what it wrote was sent.
 */
export class WriteWindow {
  private readonly limit: number;
  private readonly memory: MemoryPool | undefined;
  /** Bytes written and not yet taken by HTTP/2. */
  buffered = 0;
  private wake: (() => void) | undefined;

  constructor(limit: number, memory: MemoryPool | undefined) {
    this.limit = limit;
    this.memory = memory;
  }

  /** Counts `bytes` as buffered; the returned callback releases them. */
  written(bytes: number): () => void {
    this.buffered += bytes;
    this.memory?.force(bytes);
    const counted = this.counted;
    return () => {
      this.buffered -= bytes;
      if (counted === this.counted) this.memory?.release(bytes);
      if (!this.full) {
        this.wake?.();
        this.wake = undefined;
      }
    };
  }

  /** Ends the stream's share of the gateway's memory: writes left unsent (a call cancelled
   * or failed) may never call back. */
  close(): void {
    this.memory?.release(this.buffered);
    this.counted++;
  }

  /** Counts closings: callbacks of writes from before the last one release nothing. */
  private counted = 0;

  /** Over its own limit, or holding some of a gateway memory that is spent. */
  private get full(): boolean {
    return (
      this.buffered > this.limit ||
      (this.buffered > 0 && this.memory !== undefined && this.memory.free <= 0)
    );
  }

  /** Resolves once buffered bytes are within the limit (and the gateway's memory). */
  async room(signal: AbortSignal): Promise<void> {
    while (this.full) {
      signal.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const stop = this.memory?.onRelease(() => {
          if (!this.full) this.wake?.();
        });
        const onAbort = () => {
          stop?.();
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.wake = () => {
          this.wake = undefined;
          stop?.();
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
      });
    }
  }
}

/** A response to write, and the bytes it will weigh on the wire. */
export interface Sized {
  readonly byteLength: number;
}

/** What the write loop needs of a server stream: grpc-js's ServerWritableStream is one. */
export interface ResponseSink<Chunk extends Sized = Sized> extends EventEmitter {
  /** Queues `chunk`; false when the caller should wait for 'drain'. */
  write(chunk: Chunk, callback: () => void): boolean;
}

/**
 * The write loop: each event's responses out as fast as the client takes them, waiting
 * for HTTP/2 flow control and the write window, so a slow client slows only its own
 * stream. An abort (cancelled, shut down, access withdrawn) stops it before the next
 * event even when the source has more ready: rows already received by the gateway are not
 * sent after the stream was told to end.
 */
export async function writeEvents<Event, Chunk extends Sized>(
  sink: ResponseSink<Chunk>,
  events: AsyncIterable<Event>,
  options: {
    window: WriteWindow;
    signal: AbortSignal;
    /** The responses of one event, in order. */
    encode(event: Event): Chunk[];
    /** Called once an event's responses were all written, with their bytes. */
    sent(event: Event, bytes: number): void;
  },
): Promise<void> {
  const { window, signal } = options;
  // Wait for HTTP/2 flow control and the window before the next write.
  const room = async (accepted: boolean) => {
    if (!accepted) await once(sink, 'drain', { signal });
    await window.room(signal);
  };
  for await (const event of events) {
    signal.throwIfAborted();
    let bytes = 0;
    let accepted: boolean | undefined;
    for (const response of options.encode(event)) {
      if (accepted !== undefined) await room(accepted);
      accepted = sink.write(response, window.written(response.byteLength));
      bytes += response.byteLength;
    }
    // Sent before the wait: once written, the event reaches the client ahead of whatever
    // status ends the call, so an abort during the wait must not forget it (its resume
    // token goes in the trailers of a shutdown).
    options.sent(event, bytes);
    if (accepted !== undefined) await room(accepted);
  }
}
