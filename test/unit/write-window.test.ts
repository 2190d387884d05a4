/**
 * The gRPC write loop (server/grpc/write-window.ts) with a fake call: an abort stops it
 * at the next event even when the source has more ready and the window has room.
 */
import { EventEmitter } from 'node:events';
import test from 'ava';
import { WriteWindow, writeEvents } from '../../server/grpc/write-window.ts';

/** A call that takes every write at once, as an HTTP/2 stream with room does. */
class FakeCall extends EventEmitter {
  readonly written: Buffer[] = [];
  write(chunk: Buffer, callback: () => void): boolean {
    this.written.push(chunk);
    queueMicrotask(callback);
    return true;
  }
}

test('an abort stops the write loop at the next event, though more are ready', async (t) => {
  const call = new FakeCall();
  const abort = new AbortController();
  // A source that does not watch the signal: what the core had received before the abort.
  async function* events() {
    for (let i = 0; i < 5; i++) yield i;
  }
  const failed = writeEvents(call, events(), {
    window: new WriteWindow(64 * 1024 * 1024, undefined),
    signal: abort.signal,
    encode: (i) => [Buffer.from([i])],
    sent: (i) => {
      if (i === 1) abort.abort(new Error('withdrawn'));
    },
  });
  await t.throwsAsync(failed, { message: 'withdrawn' });
  t.deepEqual(
    call.written.map((b) => b[0]),
    [0, 1],
  );
});

test('without an abort every event is written, in order', async (t) => {
  const call = new FakeCall();
  let sentBytes = 0;
  async function* events() {
    yield* [1, 2, 3];
  }
  await writeEvents(call, events(), {
    window: new WriteWindow(1024, undefined),
    signal: new AbortController().signal,
    encode: (i) => [Buffer.alloc(i), Buffer.alloc(1)],
    sent: (_i, bytes) => {
      sentBytes += bytes;
    },
  });
  t.is(call.written.length, 6);
  t.is(sentBytes, 9);
});

test('an event written when an abort comes during the wait for room counts as sent', async (t) => {
  // A client that takes nothing: the first write fills the window, the loop waits.
  const call = new (class extends FakeCall {
    override write(chunk: Buffer): boolean {
      this.written.push(chunk);
      return false;
    }
  })();
  const abort = new AbortController();
  const sent: number[] = [];
  async function* events() {
    yield* [0, 1];
  }
  const failed = writeEvents(call, events(), {
    window: new WriteWindow(1, undefined),
    signal: abort.signal,
    encode: (i) => [Buffer.alloc(8, i)],
    sent: (i) => sent.push(i),
  });
  setTimeout(() => abort.abort(new Error('shutting down')), 50);
  await t.throwsAsync(failed); // the wait rejects (an AbortError from the drain wait)
  t.deepEqual(sent, [0], 'the written event counts, its resume token with it');
  t.is(call.written.length, 1);
});
