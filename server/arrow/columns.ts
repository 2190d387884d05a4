/**
 * Column writers: each fills one Arrow column's buffers (validity bitmap, offsets, values)
 * directly, growing them geometrically, and hands them to apache-arrow as `Data` at
 * `finish()`. They replace apache-arrow's generic builders on the hot path: no per-cell
 * visitor dispatch, no UTF-8 re-encoding of bytes that arrive as UTF-8, no pending-value
 * copies. IPC serialization stays apache-arrow's.
 */
import { isUtf8 } from 'node:buffer';
import * as arrow from 'apache-arrow';
import { lendBuffer } from './lent-buffers.ts';

/** Bytes the columns of one batch have written: what the batch will weigh in IPC, roughly. */
export class Tally {
  bytes = 0;
}

const initialCapacity = 256;

/** A copy of `array` with room for at least `needed` elements (twice as many, or more). */
function grow<A extends Uint8Array | Int32Array>(array: A, needed: number): A {
  const next = new (array.constructor as new (length: number) => A)(
    Math.max(needed, array.length * 2),
  );
  next.set(array);
  return next;
}

/** One column's writer. Every append adds one cell; `finish()` returns them and starts over. */
export abstract class Column {
  readonly type: arrow.DataType;
  protected readonly tally: Tally;
  /** Cells written since the last finish. */
  length = 0;
  nullCount = 0;
  /** Validity bits; none until the first null (Arrow's "all valid"). */
  private bitmap: Uint8Array | undefined;

  constructor(type: arrow.DataType, tally: Tally) {
    this.type = type;
    this.tally = tally;
  }

  /** Counts the cell being written (at `length`) as valid. */
  protected valid(): void {
    let bitmap = this.bitmap;
    if (bitmap !== undefined) {
      const i = this.length;
      if (i >> 3 >= bitmap.length) bitmap = this.bitmap = grow(bitmap, (i >> 3) + 1);
      bitmap[i >> 3] = (bitmap[i >> 3] as number) | (1 << (i & 7));
      if ((i & 7) === 0) this.tally.bytes++;
    }
    this.length++;
  }

  /** Appends a null cell. */
  appendNull(): void {
    const i = this.length;
    if (this.bitmap === undefined) {
      // Every cell so far was valid.
      const bitmap = new Uint8Array(Math.max(initialCapacity, (i >> 3) + 1));
      bitmap.fill(0xff, 0, i >> 3);
      bitmap[i >> 3] = (1 << (i & 7)) - 1;
      this.bitmap = bitmap;
      this.tally.bytes += (i >> 3) + 1;
    } else {
      if (i >> 3 >= this.bitmap.length) this.bitmap = grow(this.bitmap, (i >> 3) + 1);
      if ((i & 7) === 0) this.tally.bytes++;
    }
    this.nullCount++;
    this.skip();
    this.length++;
  }

  /** Fills the slot of a null cell (at `length`) in the value buffers. */
  protected abstract skip(): void;

  /** The cells written as Arrow data; the writer starts over empty. */
  finish(): arrow.Data {
    const length = this.length;
    const nullCount = this.nullCount;
    const nullBitmap = this.bitmap?.subarray(0, (length + 7) >> 3);
    const data = this.data(length, { type: this.type, length, nullCount, nullBitmap });
    this.length = 0;
    this.nullCount = 0;
    this.bitmap = undefined;
    return data;
  }

  /** Builds the Data from the buffers (with `props`' validity) and resets them. */
  protected abstract data(
    length: number,
    props: {
      type: arrow.DataType;
      length: number;
      nullCount: number;
      nullBitmap: Uint8Array | undefined;
    },
  ): arrow.Data;
}

// biome-ignore lint/suspicious/noExplicitAny: the props of apache-arrow's makeData depend on the type
type AnyProps = any;

type NumberArray = Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A column of one JS number per cell: Int8/16/32, Float32/64, Date32, Time32. */
export class NumberColumn extends Column {
  private values: NumberArray;
  private readonly width: number;

  constructor(type: arrow.DataType, tally: Tally, array: arrow.DataType = type) {
    super(type, tally);
    this.values = new (array.ArrayType as new (n: number) => NumberArray)(initialCapacity);
    this.width = this.values.BYTES_PER_ELEMENT;
  }

  append(value: number): void {
    const i = this.length;
    if (i === this.values.length) this.values = this.grown();
    this.values[i] = value;
    this.tally.bytes += this.width;
    this.valid();
  }

  private grown(): NumberArray {
    const next = new (this.values.constructor as new (n: number) => NumberArray)(
      this.values.length * 2,
    );
    next.set(this.values);
    return next;
  }

  protected skip(): void {
    if (this.length === this.values.length) this.values = this.grown();
    this.values[this.length] = 0;
    this.tally.bytes += this.width;
  }

  protected data(length: number, props: AnyProps): arrow.Data {
    const values = this.values.subarray(0, length);
    this.values = new (this.values.constructor as new (n: number) => NumberArray)(
      Math.max(initialCapacity, length),
    );
    return arrow.makeData({ ...props, data: values });
  }
}

/** Enum symbols: Int32 indexes into a dictionary of every symbol, in the schema's order. */
export class EnumColumn extends NumberColumn {
  private readonly dictionary: arrow.Vector;

  constructor(symbols: readonly string[], type: arrow.Dictionary, tally: Tally) {
    super(type, tally, type.indices);
    this.dictionary = arrow.vectorFromArray(symbols as string[], new arrow.Utf8());
  }

  protected override data(length: number, props: AnyProps): arrow.Data {
    const indexes = super.data(length, { ...props, type: new arrow.Int32() });
    return arrow.makeData({ ...props, data: indexes.values, dictionary: this.dictionary });
  }
}

/** 64-bit integers (Int64, timestamps, Time64) kept as two 32-bit words, low first. */
export class Int64Column extends Column {
  private words = new Int32Array(2 * initialCapacity);

  /** Appends a safe integer. */
  append(value: number): void {
    this.appendWords(value, Math.floor(value / 4294967296));
  }

  /** Appends any 64-bit value. */
  appendBigInt(value: bigint): void {
    this.appendWords(Number(BigInt.asIntN(32, value)), Number(BigInt.asIntN(32, value >> 32n)));
  }

  /** Appends the value whose low and high 32 bits are these (each taken modulo 2^32). */
  appendWords(low: number, high: number): void {
    const i = 2 * this.length;
    if (i === this.words.length) this.words = grow(this.words, i + 2);
    this.words[i] = low;
    this.words[i + 1] = high;
    this.tally.bytes += 8;
    this.valid();
  }

  protected skip(): void {
    const i = 2 * this.length;
    if (i === this.words.length) this.words = grow(this.words, i + 2);
    this.words[i] = 0;
    this.words[i + 1] = 0;
    this.tally.bytes += 8;
  }

  protected data(length: number, props: AnyProps): arrow.Data {
    const values = new BigInt64Array(this.words.buffer, 0, length);
    this.words = new Int32Array(2 * Math.max(initialCapacity, length));
    return arrow.makeData({ ...props, data: values });
  }
}

/** Booleans, one bit each. */
export class BoolColumn extends Column {
  private bits = new Uint8Array(initialCapacity);

  append(value: boolean): void {
    const i = this.length;
    if (i >> 3 === this.bits.length) this.bits = grow(this.bits, (i >> 3) + 1);
    if (value) (this.bits[i >> 3] as number) |= 1 << (i & 7);
    if ((i & 7) === 0) this.tally.bytes++;
    this.valid();
  }

  protected skip(): void {
    const i = this.length;
    if (i >> 3 === this.bits.length) this.bits = grow(this.bits, (i >> 3) + 1);
    if ((i & 7) === 0) this.tally.bytes++;
  }

  protected data(length: number, props: AnyProps): arrow.Data {
    const bits = this.bits.subarray(0, (length + 7) >> 3);
    this.bits = new Uint8Array(Math.max(initialCapacity, bits.length));
    return arrow.makeData({ ...props, data: bits });
  }
}

/** Fixed-width byte cells: FixedSizeBinary, and Decimal128 (16 bytes, little-endian). */
export class FixedBytesColumn extends Column {
  private bytes: Uint8Array;
  private readonly width: number;

  constructor(type: arrow.DataType, width: number, tally: Tally) {
    super(type, tally);
    this.width = width;
    this.bytes = new Uint8Array(width * initialCapacity);
  }

  /** Room for the next cell; its offset in the buffer. */
  private slot(): number {
    const at = this.length * this.width;
    if (at + this.width > this.bytes.length) this.bytes = grow(this.bytes, at + this.width);
    this.tally.bytes += this.width;
    return at;
  }

  /** Appends `width` bytes of `source` from `start`. */
  append(source: Uint8Array, start: number): void {
    const at = this.slot(); // before reading `this.bytes`: it may grow
    this.bytes.set(source.subarray(start, start + this.width), at);
    this.valid();
  }

  /**
   * Appends a big-endian two's complement integer (Avro's decimal) as a little-endian
   * one of `width` bytes: sign-extended, or cut to its low bytes.
   */
  appendBigEndian(source: Uint8Array, start: number, end: number): void {
    const at = this.slot();
    const fill = end > start && (source[start] as number) & 0x80 ? 0xff : 0;
    const bytes = this.bytes;
    for (let k = 0; k < this.width; k++) {
      const from = end - 1 - k;
      bytes[at + k] = from >= start ? (source[from] as number) : fill;
    }
    this.valid();
  }

  /** Appends an integer as `width` bytes, little-endian two's complement (cut to fit). */
  appendInteger(value: bigint): void {
    const at = this.slot();
    let rest = BigInt.asUintN(8 * this.width, value);
    for (let k = 0; k < this.width; k++) {
      this.bytes[at + k] = Number(rest & 0xffn);
      rest >>= 8n;
    }
    this.valid();
  }

  protected skip(): void {
    const at = this.slot();
    this.bytes.fill(0, at, at + this.width);
  }

  protected data(length: number, props: AnyProps): arrow.Data {
    const bytes = this.bytes.subarray(0, length * this.width);
    this.bytes = new Uint8Array(Math.max(this.width * initialCapacity, bytes.length));
    const data =
      this.type instanceof arrow.Decimal
        ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)
        : bytes;
    return arrow.makeData({ ...props, data });
  }
}

/** Variable-width cells: Utf8 and Binary (Int32 offsets, then the bytes). */
export class BytesColumn extends Column {
  private offsets = new Int32Array(initialCapacity + 1);
  private bytes = new Uint8Array(16 * initialCapacity);
  private end = 0;
  /**
   * A Utf8 cell began with a UTF-8 continuation byte: the cells may be valid UTF-8
   * together without being so one by one (see `finish`).
   */
  private splitSequence = false;
  /** Cells of `runValue` appended by `appendSame` and not written yet. */
  private runValue: Uint8Array | undefined;
  private runCount = 0;

  /** Room for `length` more bytes in `cells` cells (the last one's end set); where they go. */
  private reserve(length: number, cells = 1): number {
    const at = this.end;
    if (at + length > this.bytes.length) this.bytes = grow(this.bytes, at + length);
    const offsets = this.length + cells + 1;
    if (offsets > this.offsets.length) this.offsets = grow(this.offsets, offsets);
    this.end = at + length;
    this.offsets[this.length + cells] = this.end;
    this.tally.bytes += length + 4 * cells;
    return at;
  }

  /** Appends the bytes of `source` from `start` to `end` (UTF-8 for a Utf8 column). */
  appendBytes(source: Uint8Array, start: number, end: number): void {
    if (this.runCount > 0) this.writeRun();
    const at = this.reserve(end - start);
    if (end > start && ((source[start] as number) & 0xc0) === 0x80) this.splitSequence = true;
    copyRange(source, start, end, this.bytes, at);
    this.valid();
  }

  /**
   * Appends `value`, a cell that is mostly the same object as the one before (`__topic`):
   * a run of the same object is written at once, in doubling copies, rather than a copy a
   * row. Its bytes are counted as they come; `length` counts the run's cells once it is
   * written (by the next other append or `finish`). The value is read then: it must not
   * change until then (not a reused buffer).
   */
  appendSame(value: Uint8Array): void {
    if (value !== this.runValue) {
      this.writeRun();
      this.runValue = value;
    }
    this.runCount++;
    this.tally.bytes += value.length + 4;
  }

  /** Writes the cells `appendSame` holds back, if any. */
  private writeRun(): void {
    const value = this.runValue;
    const count = this.runCount;
    if (value === undefined || count === 0) return;
    this.runCount = 0;
    const length = value.length;
    // Counted by `appendSame` already.
    this.tally.bytes -= (length + 4) * count;
    const at = this.reserve(length * count, count);
    for (let i = 1; i < count; i++) this.offsets[this.length + i] = at + i * length;
    if (length > 0) {
      if (((value[0] as number) & 0xc0) === 0x80) this.splitSequence = true;
      this.bytes.set(value, at);
      for (let done = length, total = length * count; done < total; done *= 2) {
        this.bytes.copyWithin(at + done, at, at + Math.min(done, total - done));
      }
    }
    for (let i = 0; i < count; i++) this.valid();
  }

  /** Appends a string as UTF-8 (lone surrogates as U+FFFD, as TextEncoder does). */
  appendString(value: string): void {
    if (this.runCount > 0) this.writeRun();
    // At most 3 bytes per UTF-16 unit; give back what was not used.
    const at = this.reserve(3 * value.length);
    const { written } = textEncoder.encodeInto(
      value,
      this.bytes.subarray(at, at + 3 * value.length),
    );
    this.tally.bytes -= 3 * value.length - written;
    this.end = at + written;
    this.offsets[this.length + 1] = this.end;
    this.valid();
  }

  override appendNull(): void {
    if (this.runCount > 0) this.writeRun();
    super.appendNull();
  }

  override finish(): arrow.Data {
    if (this.runCount > 0) this.writeRun();
    return super.finish();
  }

  protected skip(): void {
    this.reserve(0);
  }

  protected data(length: number, props: AnyProps): arrow.Data {
    let offsets: Int32Array = this.offsets.subarray(0, length + 1);
    let bytes: Uint8Array = this.bytes.subarray(0, this.end);
    // Each cell valid UTF-8 ⇔ all of them together valid and none starting mid-sequence.
    // Where not (a payload with broken UTF-8), decode and re-encode each cell, replacing
    // bad sequences with U+FFFD as decoding a JS string from them always did.
    if (arrow.DataType.isUtf8(this.type) && (this.splitSequence || !isUtf8(bytes))) {
      ({ offsets, bytes } = reencoded(offsets, bytes));
    }
    this.offsets = new Int32Array(Math.max(initialCapacity, length) + 1);
    // Lent: given back once the batch is serialized (lent-buffers.ts).
    this.bytes = new Uint8Array(lendBuffer(Math.max(16 * initialCapacity, this.end)));
    this.end = 0;
    this.splitSequence = false;
    return arrow.makeData({ ...props, valueOffsets: offsets, data: bytes });
  }
}

const textEncoder = new TextEncoder();
const copyBytes = Buffer.prototype.copy;

/**
 * Below this many bytes a loop copies faster than Buffer's copy: most cells (a string
 * field, a key, a message id) are a few dozen bytes, and each native call costs more than
 * the bytes (profiled: the native copy was ~40 % of building order records' batches).
 */
const loopCopyBytes = 64;

/** Copies `source[start, end)` to `target` at `at`. */
function copyRange(source: Uint8Array, start: number, end: number, target: Uint8Array, at: number) {
  if (end - start < loopCopyBytes) {
    for (let i = start; i < end; i++) target[at++] = source[i] as number;
  } else {
    // Buffer's copy takes ranges: no view object per value, as `set(subarray())` needs.
    copyBytes.call(source, target, at, start, end);
  }
}

function reencoded(
  offsets: Int32Array,
  bytes: Uint8Array,
): { offsets: Int32Array; bytes: Uint8Array } {
  const source = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const cells: Buffer[] = [];
  const next = new Int32Array(offsets.length);
  for (let i = 0; i + 1 < offsets.length; i++) {
    const cell = Buffer.from(
      source.toString('utf8', offsets[i] as number, offsets[i + 1] as number),
      'utf8',
    );
    cells.push(cell);
    next[i + 1] = (next[i] as number) + cell.length;
  }
  return { offsets: next, bytes: Buffer.concat(cells) };
}

/** Arrow's Null type: no buffers, every cell null. */
export class NullColumn extends Column {
  /** Appends a cell (null, as all are). */
  append(): void {
    this.appendNull();
  }

  protected skip(): void {}

  protected data(length: number, props: AnyProps): arrow.Data {
    return arrow.makeData({ type: props.type, length });
  }
}

/** A Struct: one child writer per field; a cell is complete when each child has one more. */
export class StructColumn extends Column {
  readonly children: Column[];

  constructor(type: arrow.Struct, children: Column[], tally: Tally) {
    super(type, tally);
    this.children = children;
  }

  /** Counts a valid cell, its children's values appended. */
  close(): void {
    this.valid();
  }

  protected skip(): void {
    for (const child of this.children) child.appendNull();
  }

  protected data(_length: number, props: AnyProps): arrow.Data {
    return arrow.makeData({ ...props, children: this.children.map((c) => c.finish()) });
  }
}

/** A List or Map: offsets into one child (the items, or the key/value entries). */
export class ListColumn extends Column {
  readonly child: Column;
  private offsets = new Int32Array(initialCapacity + 1);

  constructor(type: arrow.List | arrow.Map_, child: Column, tally: Tally) {
    super(type, tally);
    this.child = child;
  }

  /** Counts a valid cell: the child's values appended since the last cell. */
  close(): void {
    this.offset();
    this.valid();
  }

  private offset(): void {
    if (this.length + 2 > this.offsets.length) this.offsets = grow(this.offsets, this.length + 2);
    this.offsets[this.length + 1] = this.child.length;
    this.tally.bytes += 4;
  }

  protected skip(): void {
    this.offset();
  }

  protected data(length: number, props: AnyProps): arrow.Data {
    const offsets = this.offsets.subarray(0, length + 1);
    this.offsets = new Int32Array(Math.max(initialCapacity, length) + 1);
    return arrow.makeData({ ...props, valueOffsets: offsets, child: this.child.finish() });
  }
}
