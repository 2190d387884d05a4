/**
 * Large column buffers, lent to a batch and given back once its bytes are copied into its
 * response. A batch's value bytes (a Binary or Utf8 column: payloads, strings) were a new
 * buffer per batch, and V8 counts such off-heap bytes: every 64 MiB or so of them since its
 * last full collection it runs another (external memory pressure). For 100 KB messages that
 * was a full collection every ~100 ms, most of the gateway's CPU beyond copying the bytes.
 *
 * Only whoever copies a batch's bytes out for the last time gives its buffers back
 * (`serializeResponse`): a batch whose buffers were given back must not be read again.
 */

/** Smaller buffers are plain allocations (V8 collects them with the young generation). */
const smallestLent = 64 * 1024;
/** Given-back bytes kept for the next batches at most; more are left to the collector. */
const keptBytes = 16 * 1024 * 1024;

/** Buffers lent and not given back yet. */
const lent = new WeakSet<ArrayBuffer>();
const kept: ArrayBuffer[] = [];
let keptTotal = 0;

/** A buffer of at least `size` bytes, of any content: a given-back one if one fits, or new. */
export function lendBuffer(size: number): ArrayBuffer {
  if (size < smallestLent) return new ArrayBuffer(size);
  let best = -1;
  for (let i = 0; i < kept.length; i++) {
    const length = (kept[i] as ArrayBuffer).byteLength;
    if (length >= size && (best < 0 || length < (kept[best] as ArrayBuffer).byteLength)) best = i;
  }
  let buffer: ArrayBuffer;
  if (best >= 0) {
    buffer = kept.splice(best, 1)[0] as ArrayBuffer;
    keptTotal -= buffer.byteLength;
  } else buffer = new ArrayBuffer(size);
  lent.add(buffer);
  return buffer;
}

/**
 * Gives back the lent buffers under `views` (others are ignored): nothing reads them again.
 * A buffer is taken back once, however many views of it are given.
 */
export function giveBack(views: readonly ArrayBufferView[]): void {
  for (const view of views) {
    const buffer = view.buffer as ArrayBuffer;
    if (!lent.delete(buffer)) continue;
    if (keptTotal + buffer.byteLength > keptBytes) continue;
    kept.push(buffer);
    keptTotal += buffer.byteLength;
  }
}
