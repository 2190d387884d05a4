/**
 * Pulsar's message id: where a message sits in a topic partition's log. Serialized as
 * `MessageIdData`, byte for byte as the official Java and C++ clients write it, so an id
 * Seam hands out can be given to any Pulsar client and back.
 */
import { ProtoReader, ProtoWriter } from './protocol/wire.ts';

/** Fields of `MessageIdData` in PulsarApi.proto. */
const Field = {
  ledgerId: 1,
  entryId: 2,
  partition: 3,
  batchIndex: 4,
  ackSet: 5,
  batchSize: 6,
  firstChunkMessageId: 7,
} as const;

/** A serialized message id that cannot be read. */
export class InvalidMessageIdError extends Error {
  override name = 'InvalidMessageIdError';
}

/** Where a message is: ledger, entry, index in its batch, and partition. */
export class MessageId {
  /** The ledger (segment) holding the entry. */
  readonly ledgerId: number;
  /** The entry in the ledger: one message, or one batch of them. */
  readonly entryId: number;
  /** Index of the message in its batch; -1 when the entry is a single message. */
  readonly batchIndex: number;
  /** Messages in the batch; 0 when unknown or not batched. */
  readonly batchSize: number;
  /** Partition index; -1 for a non-partitioned topic. */
  readonly partition: number;
  /** For a chunked message (whose id is its last chunk's): the first chunk's id. */
  readonly firstChunk: MessageId | undefined;

  constructor(
    ledgerId: number,
    entryId: number,
    batchIndex = -1,
    partition = -1,
    batchSize = 0,
    firstChunk?: MessageId,
  ) {
    this.ledgerId = ledgerId;
    this.entryId = entryId;
    this.batchIndex = batchIndex;
    this.partition = partition;
    this.batchSize = batchSize;
    this.firstChunk = firstChunk;
  }

  /** Before every message: Java's `MessageId.earliest` (-1:-1). */
  static readonly earliest = new MessageId(-1, -1);
  /** After every message: Java's `MessageId.latest` (Long.MAX_VALUE twice). */
  static readonly latest = new MessageId(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);

  /** True for the earliest and latest sentinels, which name no message. */
  get isSentinel(): boolean {
    return this.ledgerId === -1 || this.ledgerId === Number.MAX_SAFE_INTEGER;
  }

  /** `MessageIdData` bytes, as the official clients' `MessageId.serialize()` writes them. */
  serialize(): Buffer {
    const w = new ProtoWriter(32);
    writeMessageIdData(w, this);
    return w.finish();
  }

  /** Reads `MessageIdData` bytes written by any Pulsar client. */
  static deserialize(bytes: Uint8Array): MessageId {
    try {
      const buf = Buffer.isBuffer(bytes)
        ? bytes
        : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
      return readMessageIdData(new ProtoReader(buf));
    } catch (error) {
      throw new InvalidMessageIdError(
        `not a serialized Pulsar message id: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  /** The same position on another partition. */
  withPartition(partition: number): MessageId {
    return new MessageId(
      this.ledgerId,
      this.entryId,
      this.batchIndex,
      partition,
      this.batchSize,
      this.firstChunk,
    );
  }

  /** The entry's position without the batch index. */
  get entry(): MessageId {
    return new MessageId(this.ledgerId, this.entryId, -1, this.partition);
  }

  /** Orders ids within one partition: ledger, then entry, then batch index. */
  compareTo(other: MessageId): number {
    return compareMessageIds(this, other);
  }

  equals(other: MessageId): boolean {
    return compareMessageIds(this, other) === 0 && this.partition === other.partition;
  }

  /** `ledger:entry:batchIndex:partition`, like the Java client's `toString()` order. */
  toString(): string {
    return `${this.ledgerId}:${this.entryId}:${this.batchIndex}:${this.partition}`;
  }
}

/** Position order within a partition: ledger, entry, batch index (-1 sorts first). */
export function compareMessageIds(a: MessageId, b: MessageId): number {
  return a.ledgerId - b.ledgerId || a.entryId - b.entryId || a.batchIndex - b.batchIndex;
}

/**
 * Writes the fields of a `MessageIdData` in the official clients' way: partition, batch
 * index and batch size only when set; the sentinels as the signed 64-bit values Java uses.
 */
export function writeMessageIdData(w: ProtoWriter, id: MessageId): void {
  writeLedgerPosition(w, Field.ledgerId, id.ledgerId);
  writeLedgerPosition(w, Field.entryId, id.entryId);
  if (id.partition >= 0) w.uint(Field.partition, id.partition);
  if (id.batchIndex >= 0) w.uint(Field.batchIndex, id.batchIndex);
  if (id.batchSize > 0) w.uint(Field.batchSize, id.batchSize);
  const first = id.firstChunk;
  if (first) w.message(Field.firstChunkMessageId, (nested) => writeMessageIdData(nested, first));
}

/**
 * Serializes ids as `writeMessageIdData` does, many a second: the messages of one entry
 * share ledger, entry and partition, the fields before the batch index, so those are
 * written once per entry and each id adds its batch index and size to them. The bytes of the last
 * id are `bytes[0, length)`, overwritten by the next.
 */
export class MessageIdSerializer {
  bytes: Uint8Array;
  length = 0;
  private readonly writer = new ProtoWriter(64);
  /** The entry's fields, then the batch index and size written after them. */
  private readonly cell = new Uint8Array(64);
  private prefixLength = 0;
  private entry: MessageId | undefined;

  constructor() {
    this.bytes = this.cell;
  }

  serialize(id: MessageId): void {
    if (id.batchIndex < 0 || id.firstChunk !== undefined) {
      writeMessageIdData(this.writer.reset(), id);
      this.bytes = this.writer.buffer;
      this.length = this.writer.length;
      return;
    }
    const entry = this.entry;
    if (
      entry === undefined ||
      id.entryId !== entry.entryId ||
      id.ledgerId !== entry.ledgerId ||
      id.partition !== entry.partition
    ) {
      writeMessageIdData(
        this.writer.reset(),
        new MessageId(id.ledgerId, id.entryId, -1, id.partition),
      );
      this.cell.set(this.writer.buffer.subarray(0, this.writer.length));
      this.prefixLength = this.writer.length;
      this.entry = id;
    }
    const cell = this.cell;
    let at = this.prefixLength;
    cell[at++] = (Field.batchIndex << 3) | 0; // varint
    at = writeSmallVarint(cell, at, id.batchIndex);
    if (id.batchSize > 0) {
      cell[at++] = (Field.batchSize << 3) | 0;
      at = writeSmallVarint(cell, at, id.batchSize);
    }
    this.bytes = cell;
    this.length = at;
  }
}

/** Writes `value` (0 ≤ value < 2^31) as a varint at `at`; where it ends. */
function writeSmallVarint(out: Uint8Array, at: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

function writeLedgerPosition(w: ProtoWriter, field: number, value: number): void {
  if (value === -1) w.bigint(field, -1n);
  else if (value === Number.MAX_SAFE_INTEGER) w.bigint(field, 0x7fffffffffffffffn);
  else w.uint(field, value);
}

/** Reads a `MessageIdData`. */
export function readMessageIdData(r: ProtoReader): MessageId {
  let ledgerId: number | undefined;
  let entryId: number | undefined;
  let partition = -1;
  let batchIndex = -1;
  let batchSize = 0;
  let firstChunk: MessageId | undefined;
  for (let field = r.next(); field !== 0; field = r.next()) {
    switch (field) {
      case Field.ledgerId:
        ledgerId = readLedgerPosition(r);
        break;
      case Field.entryId:
        entryId = readLedgerPosition(r);
        break;
      case Field.partition:
        partition = r.int();
        break;
      case Field.batchIndex:
        batchIndex = r.int();
        break;
      case Field.batchSize:
        batchSize = r.int();
        break;
      case Field.firstChunkMessageId:
        firstChunk = readMessageIdData(r.message());
        break;
      default:
        r.skip();
    }
  }
  if (ledgerId === undefined || entryId === undefined) {
    throw new InvalidMessageIdError('MessageIdData without ledger and entry ids');
  }
  return new MessageId(ledgerId, entryId, batchIndex, partition, batchSize, firstChunk);
}

function readLedgerPosition(r: ProtoReader): number {
  const value = r.varintBigInt();
  if (value === -1n) return -1;
  if (value === 0x7fffffffffffffffn) return Number.MAX_SAFE_INTEGER;
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new InvalidMessageIdError(`ledger position ${value} is out of range`);
  }
  return Number(value);
}
