/**
 * Avro binary encoding, read in place: the primitives a schema-compiled record reader
 * needs (zigzag varints, IEEE floats little-endian, length-prefixed bytes), writing into
 * column writers rather than JS values where that saves work (64-bit longs as two words,
 * string and bytes values as byte ranges of the payload).
 */
import type { BytesColumn, Int64Column } from './columns.ts';

/** A payload being read; the position moves past each value read. */
export class AvroTap {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;

  /** Starts reading `payload`. */
  reset(payload: Buffer): void {
    this.buf = payload;
    this.pos = 0;
  }

  /** Throws unless every byte was read, and no more. */
  finish(): void {
    if (this.pos > this.buf.length) throw new Error('truncated payload');
    if (this.pos < this.buf.length) throw new Error('trailing data after the record');
  }

  /**
   * A zigzag varint (Avro int or long) as a number: exact up to 2^53 in magnitude, which
   * covers ints, lengths, counts and indexes. Longs go to columns with `longTo`.
   */
  long(): number {
    const buf = this.buf;
    let pos = this.pos;
    let byte = buf[pos++] as number;
    let n = byte & 0x7f;
    let shift = 7;
    while (byte & 0x80 && shift < 28) {
      byte = buf[pos++] as number;
      n |= (byte & 0x7f) << shift;
      shift += 7;
    }
    if (byte & 0x80) {
      // Past 28 bits: float arithmetic, exact while the value fits 53 bits.
      let scale = 2 ** 28;
      do {
        byte = buf[pos++] as number;
        n += (byte & 0x7f) * scale;
        scale *= 128;
      } while (byte & 0x80 && scale < 2 ** 70);
      this.pos = pos;
      return n % 2 === 1 ? -(n + 1) / 2 : n / 2;
    }
    this.pos = pos;
    return (n >>> 1) ^ -(n & 1);
  }

  /** A zigzag varint long, exactly, appended to `column`. */
  longTo(column: Int64Column): void {
    const buf = this.buf;
    let pos = this.pos;
    let byte = buf[pos++] as number;
    let low = byte & 0x7f;
    let shift = 7;
    while (byte & 0x80 && shift < 28) {
      byte = buf[pos++] as number;
      low |= (byte & 0x7f) << shift;
      shift += 7;
    }
    if (!(byte & 0x80)) {
      // Up to 28 bits: the value fits 32 bits signed.
      this.pos = pos;
      const value = (low >>> 1) ^ -(low & 1);
      column.appendWords(value, value >> 31);
      return;
    }
    byte = buf[pos++] as number;
    low |= (byte & 0x0f) << 28;
    let high = (byte & 0x7f) >> 4;
    shift = 3;
    while (byte & 0x80 && shift < 32) {
      byte = buf[pos++] as number;
      high |= (byte & 0x7f) << shift;
      shift += 7;
    }
    this.pos = pos;
    // Zigzag over 64 bits: shift right by one, then flip every bit when the value was odd.
    const flip = -(low & 1);
    column.appendWords(((low >>> 1) | (high << 31)) ^ flip, (high >>> 1) ^ flip);
  }

  boolean(): boolean {
    return this.buf[this.pos++] !== 0;
  }

  float(): number {
    const value = this.buf.readFloatLE(this.pos);
    this.pos += 4;
    return value;
  }

  double(): number {
    const value = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return value;
  }

  /** Moves past `length` bytes; their start. */
  skip(length: number): number {
    const start = this.pos;
    if (length < 0 || start + length > this.buf.length) throw new Error('truncated payload');
    this.pos = start + length;
    return start;
  }

  /** Moves past a length-prefixed string or bytes value; its start (it ends at `pos`). */
  bytes(): number {
    return this.skip(this.long());
  }

  /** A length-prefixed string or bytes value, appended to `column`. */
  bytesTo(column: BytesColumn): void {
    const start = this.bytes();
    column.appendBytes(this.buf, start, this.pos);
  }

  /**
   * Reads an array's or map's blocks: `each` is called once per item. A block with a
   * negative count also gives its size in bytes, which `each` reads past anyway.
   */
  blocks(each: () => void): void {
    for (let count = this.long(); count !== 0; count = this.long()) {
      if (count < 0) {
        count = -count;
        this.long();
      }
      if (this.pos > this.buf.length) throw new Error('truncated payload');
      for (let i = 0; i < count; i++) each();
    }
  }
}
