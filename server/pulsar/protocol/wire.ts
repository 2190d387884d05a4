/**
 * Protocol Buffers wire format, just what Pulsar's commands need: varints, length-delimited
 * fields and nested messages. Hand-written rather than generated because the read path
 * decodes a few messages per entry and per message, and should allocate only what it keeps.
 *
 * 64-bit integers decode to `number`: Pulsar's ledger and entry ids, sequence ids and
 * timestamps stay far below 2^53. Encoding takes `bigint` where values can be larger (the
 * sentinel ids for earliest and latest).
 */

/** Protobuf wire types. */
export const WireType = {
  varint: 0,
  fixed64: 1,
  bytes: 2,
  fixed32: 5,
} as const;

/** A malformed protobuf message: truncated, or with a wire type the field cannot have. */
export class ProtoDecodeError extends Error {
  override name = 'ProtoDecodeError';
}

/**
 * Reads one protobuf message from `buf[start, end)` without copying it: `bytes()` returns
 * views into the same memory.
 */
export class ProtoReader {
  buf: Buffer;
  pos: number;
  end: number;
  /** Wire type of the field `next()` returned last. */
  wireType = 0;

  constructor(buf: Buffer, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  /** Reads another message, `buf[start, end)`: one reader reused instead of one per message. */
  reset(buf: Buffer, start: number, end: number): this {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.wireType = 0;
    return this;
  }

  /** The next field's number, or 0 at the end of the message. */
  next(): number {
    if (this.pos >= this.end) return 0;
    const tag = this.varint();
    this.wireType = tag & 7;
    const field = tag >>> 3;
    if (field === 0) throw new ProtoDecodeError('field number 0');
    return field;
  }

  /** An unsigned varint up to 2^53 - 1 (larger values lose precision; none occur in Pulsar). */
  varint(): number {
    const buf = this.buf;
    let pos = this.pos;
    let byte = this.byteAt(pos++);
    let value = byte & 0x7f;
    if (byte < 0x80) {
      this.pos = pos;
      return value;
    }
    // Bit operations stay exact up to 28 bits; multiply past them.
    let shift = 7;
    while (shift < 28) {
      byte = this.byteAt(pos++);
      value |= (byte & 0x7f) << shift;
      shift += 7;
      if (byte < 0x80) {
        this.pos = pos;
        return value >>> 0;
      }
    }
    let multiplier = 2 ** 28;
    value >>>= 0;
    for (let i = 0; i < 6; i++) {
      byte = this.byteAt(pos++);
      value += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if (byte < 0x80) {
        this.pos = pos;
        return value;
      }
    }
    throw new ProtoDecodeError(`varint longer than 10 bytes at ${this.pos} of ${buf.length}`);
  }

  /** A varint as a signed 64-bit integer, exact. */
  varintBigInt(): bigint {
    let value = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const byte = this.byteAt(this.pos++);
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asIntN(64, value);
      shift += 7n;
    }
    throw new ProtoDecodeError('varint longer than 10 bytes');
  }

  /** An int32 or int64 field that may be negative (encoded as a 10-byte varint). */
  int(): number {
    const start = this.pos;
    const value = this.varint();
    // A negative int32/int64 always takes ten bytes; re-read it exactly.
    if (this.pos - start === 10) {
      this.pos = start;
      return Number(this.varintBigInt());
    }
    return value;
  }

  bool(): boolean {
    return this.varint() !== 0;
  }

  /** A length-delimited field as a view into the message (no copy). */
  bytes(): Buffer {
    const start = this.span('field');
    return this.buf.subarray(start, this.pos);
  }

  string(): string {
    const start = this.span('string');
    return this.buf.toString('utf8', start, this.pos);
  }

  /** A nested message: a reader over its bytes, which this reader then skips. */
  message(): ProtoReader {
    const start = this.span('message');
    return new ProtoReader(this.buf, start, this.pos);
  }

  /** Reads a length prefix, moves past the bytes it covers, and returns where they start. */
  private span(what: string): number {
    const length = this.varint();
    const start = this.pos;
    const end = start + length;
    if (end > this.end) {
      throw new ProtoDecodeError(
        `${what} of ${length} bytes overruns its message by ${end - this.end}`,
      );
    }
    this.pos = end;
    return start;
  }

  /** Skips the value of the field `next()` returned last. */
  skip(): void {
    switch (this.wireType) {
      case WireType.varint:
        this.varint();
        return;
      case WireType.fixed64:
        this.advance(8);
        return;
      case WireType.bytes:
        this.advance(this.varint());
        return;
      case WireType.fixed32:
        this.advance(4);
        return;
      default:
        throw new ProtoDecodeError(`unsupported wire type ${this.wireType}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new ProtoDecodeError('truncated message');
    this.pos += n;
  }

  private byteAt(pos: number): number {
    if (pos >= this.end) throw new ProtoDecodeError('truncated varint');
    return this.buf[pos] as number;
  }
}

const textEncoder = new TextEncoder();

/** Writes one protobuf message into a growing buffer. Fields are written in call order. */
export class ProtoWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialSize = 64) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  /** An unsigned varint field (uint32, uint64 below 2^53, enum, positive int32). */
  uint(field: number, value: number): this {
    this.tag(field, WireType.varint);
    this.rawVarint(value);
    return this;
  }

  /** A signed int32/int64 field: negative values take ten bytes, as protobuf requires. */
  int(field: number, value: number): this {
    if (value >= 0) return this.uint(field, value);
    return this.bigint(field, BigInt(value));
  }

  /** A 64-bit varint field from a bigint (two's complement for negatives). */
  bigint(field: number, value: bigint): this {
    this.tag(field, WireType.varint);
    let v = BigInt.asUintN(64, value);
    this.ensure(10);
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
    return this;
  }

  bool(field: number, value: boolean): this {
    return this.uint(field, value ? 1 : 0);
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WireType.bytes);
    this.rawVarint(value.length);
    this.ensure(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  /** A nested message written by `write` into its own writer. */
  message(field: number, write: (w: ProtoWriter) => void): this {
    const nested = new ProtoWriter();
    write(nested);
    return this.bytes(field, nested.finish());
  }

  /** Starts a new message in the same buffer (views `finish` gave are overwritten). */
  reset(): this {
    this.pos = 0;
    return this;
  }

  /** The message so far, as a view of the writer's buffer. */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** The message so far is `buffer[0, length)`: to copy it out with no view object per message. */
  get buffer(): Buffer {
    return this.buf;
  }

  get length(): number {
    return this.pos;
  }

  private tag(field: number, wireType: number): void {
    this.rawVarint(field * 8 + wireType);
  }

  private rawVarint(value: number): void {
    this.ensure(10);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}

/** Bytes a varint takes. */
export function varintSize(value: number): number {
  let size = 1;
  let v = value;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    size++;
  }
  return size;
}
