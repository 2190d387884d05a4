/**
 * Avro binary encoding, read in place: the primitives a schema-compiled record reader
 * needs (zigzag varints, IEEE floats little-endian, length-prefixed bytes), writing into
 * column writers rather than JS values where that saves work (64-bit longs as two words,
 * string and bytes values as byte ranges of the payload).
 */
import type { BytesColumn, Int64Column } from './columns.ts';

/**
 * Array and map items one payload may hold in all, whatever their width: 8 per payload byte
 * (one Arrow validity byte per byte read) and 1024 more. Items of a zero-width type (`null`,
 * an empty record, `fixed` of size 0) take no bytes, so the bytes left cannot bound their
 * count: without this, a 5-byte `array<null>` payload declaring 2^53 − 1 items kept the
 * event loop busy for hours.
 */
export function maxItems(payloadLength: number): number {
  return 1024 + 8 * payloadLength;
}

/** A payload being read; the position moves past each value read. */
export class AvroTap {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  /** Array and map items the payload may still hold (see `maxItems`). */
  private itemsLeft = 0;

  /** Starts reading `payload`. */
  reset(payload: Buffer): void {
    this.buf = payload;
    this.pos = 0;
    this.itemsLeft = maxItems(payload.length);
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
   * Reads an array's or map's blocks: `each` is called once per item, each item taking at
   * least `width` bytes. A block's count is checked before any item is read: against the
   * bytes left (`width` each) and the items the payload may still hold, so a count no
   * payload of this size can carry fails at once instead of looping or allocating for it.
   * A block with a negative count also gives its size in bytes, which must fit too.
   */
  blocks(each: () => void, width: number): void {
    for (let count = this.long(); count !== 0; count = this.long()) {
      if (count < 0) {
        count = -count;
        const size = this.long();
        if (!(size >= 0 && size <= this.buf.length - this.pos))
          throw new Error(`a block of ${size} bytes runs past the payload`);
      }
      const left = this.buf.length - this.pos;
      if (left < 0) throw new Error('truncated payload');
      if (count * width > left) {
        throw new Error(
          `a block of ${count} items of at least ${width} bytes each, with ${left} bytes left`,
        );
      }
      if (count > this.itemsLeft) {
        throw new Error(
          `${count} more array or map items than a ${this.buf.length}-byte payload may hold (${maxItems(this.buf.length)})`,
        );
      }
      this.itemsLeft -= count;
      for (let i = 0; i < count; i++) each();
    }
  }
}

/** Moves past one value of a schema; `width` is the fewest bytes such a value takes. */
interface Skip {
  width: number;
  skip(tap: AvroTap): void;
}

const fixedWidth = (width: number): Skip => ({ width, skip: (tap) => tap.skip(width) });
const varintSkip: Skip = { width: 1, skip: (tap) => tap.long() };
const lengthPrefixedSkip: Skip = { width: 1, skip: (tap) => tap.bytes() };
const primitiveSkips: Record<string, Skip> = {
  null: { width: 0, skip() {} },
  boolean: fixedWidth(1),
  int: varintSkip,
  long: varintSkip,
  float: fixedWidth(4),
  double: fixedWidth(8),
  bytes: lengthPrefixedSkip,
  string: lengthPrefixedSkip,
};

/**
 * A reader that moves past one value of any Avro schema (unions of any branches, recursive
 * named types), with the same bounds on block counts as the column readers: payloads written
 * with another schema version go through it before avsc decodes them, since avsc trusts block
 * counts. Throws on a schema it cannot read.
 */
export function avroSkipper(schema: unknown): (tap: AvroTap) => void {
  const named = new Map<string, Skip>();
  const compile = (s: unknown, namespace: string | undefined): Skip => {
    if (typeof s === 'string') {
      const primitive = primitiveSkips[s];
      if (primitive) return primitive;
      const ref = named.get(s) ?? (namespace ? named.get(`${namespace}.${s}`) : undefined);
      if (!ref) throw new Error(`unknown Avro type ${JSON.stringify(s)}`);
      return ref;
    }
    if (Array.isArray(s)) {
      const branches = s.map((b) => compile(b, namespace));
      return {
        width: 1,
        skip(tap) {
          const branch = branches[tap.long()];
          if (!branch) throw new Error('union branch out of range');
          branch.skip(tap);
        },
      };
    }
    if (s === null || typeof s !== 'object') throw new Error('not an Avro schema');
    const o = s as { [key: string]: unknown };
    const type = o.type;
    if (type === 'record' || type === 'error' || type === 'enum' || type === 'fixed') {
      const name = String(o.name);
      const space = name.includes('.')
        ? name.slice(0, name.lastIndexOf('.'))
        : typeof o.namespace === 'string'
          ? o.namespace
          : namespace;
      const full = name.includes('.') || !space ? name : `${space}.${name}`;
      // Registered before its fields: a field may name the record itself (a linked list).
      const self: Skip = { width: 0, skip() {} };
      named.set(full, self);
      named.set(name.slice(name.lastIndexOf('.') + 1), self);
      let compiled: Skip;
      if (type === 'enum') compiled = varintSkip;
      else if (type === 'fixed') compiled = fixedWidth(Number(o.size));
      else {
        const fields = (o.fields as { type: unknown }[]).map((f) => compile(f.type, space));
        compiled = {
          width: fields.reduce((sum, f) => sum + f.width, 0),
          skip(tap) {
            for (const f of fields) f.skip(tap);
          },
        };
      }
      // A recursive reference made before this point sees width 0: a lower bound still.
      Object.assign(self, compiled);
      return self;
    }
    if (type === 'array') {
      const items = compile(o.items, namespace);
      return { width: 1, skip: (tap) => tap.blocks(() => items.skip(tap), items.width) };
    }
    if (type === 'map') {
      const values = compile(o.values, namespace);
      return {
        width: 1,
        skip: (tap) =>
          tap.blocks(() => {
            tap.bytes();
            values.skip(tap);
          }, 1 + values.width),
      };
    }
    return compile(type, namespace);
  };
  return compile(schema, undefined).skip;
}
