/**
 * Builds Arrow record batches from Pulsar messages: the topic's value columns followed by
 * the metadata columns pulsar-spark users know (`__key`, `__topic`, `__messageId`,
 * `__publishTime`, `__eventTime`, `__messageProperties`), projected to the requested ones.
 */
import * as arrow from 'apache-arrow';
import type { Message } from '../pulsar/message.ts';
import { MessageIdSerializer } from '../pulsar/message-id.ts';
import {
  BytesColumn,
  type Column,
  Int64Column,
  ListColumn,
  StructColumn,
  Tally,
} from './columns.ts';
import { sameSchema, type Translate, type ValueSchema, type ValueWriter } from './value-schema.ts';

const utf8Map = () =>
  new arrow.Map_(
    new arrow.Field(
      'entries',
      new arrow.Struct<{ key: arrow.Utf8; value: arrow.Utf8 }>([
        new arrow.Field('key', new arrow.Utf8(), false),
        new arrow.Field('value', new arrow.Utf8(), true),
      ]),
      false,
    ),
  );

/** A metadata column: its field, and a writer of its cells from messages. */
interface MetadataColumn {
  field: arrow.Field;
  writer(tally: Tally): { column: Column; append(m: Message): void };
}

/** A Utf8 or Binary column of one value per message. */
function bytesColumn(
  field: arrow.Field,
  append: (column: BytesColumn, m: Message) => void,
): MetadataColumn {
  return {
    field,
    writer(tally) {
      const column = new BytesColumn(field.type, tally);
      return { column, append: (m) => append(column, m) };
    },
  };
}

/** A timestamp column of one value (ms) per message. */
function timeColumn(field: arrow.Field, value: (m: Message) => number | undefined) {
  return {
    field,
    writer(tally: Tally) {
      const column = new Int64Column(field.type, tally);
      return {
        column,
        append(m: Message) {
          const ms = value(m);
          if (ms === undefined) column.appendNull();
          else column.append(ms);
        },
      };
    },
  };
}

/** The UTF-8 bytes of the last topic name seen: every message of a partition has the same. */
let topicName = '';
let topicBytes = Buffer.alloc(0);

const ids = new MessageIdSerializer();

/** The metadata columns and how each is written from a message. */
const metadataColumns: MetadataColumn[] = [
  bytesColumn(new arrow.Field('__key', new arrow.Utf8(), true), (c, m) => {
    if (m.key === undefined) c.appendNull();
    else c.appendString(m.key);
  }),
  bytesColumn(new arrow.Field('__topic', new arrow.Utf8(), false), (c, m) => {
    if (m.topic !== topicName) {
      topicName = m.topic;
      topicBytes = Buffer.from(m.topic, 'utf8');
    }
    c.appendSame(topicBytes);
  }),
  bytesColumn(new arrow.Field('__messageId', new arrow.Binary(), false), (c, m) => {
    // Pulsar's serialization (MessageId.serialize), into one reused buffer: copied at once.
    ids.serialize(m.messageId);
    c.appendBytes(ids.bytes, 0, ids.length);
  }),
  timeColumn(
    new arrow.Field('__publishTime', new arrow.TimestampMillisecond('UTC'), false),
    (m) => m.publishTime,
  ),
  timeColumn(
    new arrow.Field('__eventTime', new arrow.TimestampMillisecond('UTC'), true),
    (m) => m.eventTime,
  ),
  {
    field: new arrow.Field('__messageProperties', utf8Map(), false),
    writer(tally) {
      const type = this.field.type as arrow.Map_<arrow.Utf8, arrow.Utf8>;
      const keys = new BytesColumn(new arrow.Utf8(), tally);
      const values = new BytesColumn(new arrow.Utf8(), tally);
      const entries = new StructColumn(
        type.children[0]?.type as arrow.Struct,
        [keys, values],
        tally,
      );
      const column = new ListColumn(type, entries, tally);
      return {
        column,
        append(m) {
          for (const key in m.properties) {
            keys.appendString(key);
            values.appendString(m.properties[key] as string);
            entries.close();
          }
          column.close();
        },
      };
    },
  },
];

/** Names of the metadata columns. */
export const metadataColumnNames = metadataColumns.map((c) => c.field.name);

/** A requested column that the topic does not have. */
export class UnknownColumnError extends Error {
  override name = 'UnknownColumnError';
}

/** The stream's Arrow schema and which value and metadata columns it keeps. */
export class StreamSchema {
  readonly schema: arrow.Schema;
  readonly value: ValueSchema;
  /** Indexes into `value.fields` of the kept value columns. */
  readonly valueColumns: number[];
  readonly metadata: typeof metadataColumns;

  constructor(value: ValueSchema, columns: readonly string[] = []) {
    this.value = value;
    const valueNames = value.fields.map((f) => f.name);
    const clash = valueNames.find((n) => metadataColumnNames.includes(n));
    if (clash)
      throw new UnknownColumnError(
        `the topic's schema has a field named ${clash}, which Seam reserves`,
      );
    if (columns.length === 0) {
      this.valueColumns = valueNames.map((_, i) => i);
      this.metadata = metadataColumns;
    } else {
      const all = [...valueNames, ...metadataColumnNames];
      const unknown = columns.filter((c) => !all.includes(c));
      if (unknown.length > 0) {
        throw new UnknownColumnError(
          `unknown column(s) ${unknown.join(', ')}; the topic has: ${all.join(', ')}`,
        );
      }
      // Kept in the topic's order, whatever the order asked.
      this.valueColumns = valueNames.flatMap((n, i) => (columns.includes(n) ? [i] : []));
      this.metadata = metadataColumns.filter((c) => columns.includes(c.field.name));
    }
    this.schema = new arrow.Schema([
      ...this.valueColumns.map((i) => value.fields[i] as arrow.Field),
      ...this.metadata.map((c) => c.field),
    ]);
  }

  /** A builder for this schema's batches. */
  builder(): BatchBuilder {
    return new BatchBuilder(this);
  }
}

/** Accumulates rows; `flush()` returns them as one record batch. */
export class BatchBuilder {
  private readonly stream: StreamSchema;
  private readonly tally = new Tally();
  private readonly values: ValueWriter;
  private readonly metadata: ReturnType<MetadataColumn['writer']>[];
  /** A row that failed to decode left the columns uneven: the batch cannot be used. */
  private failed: unknown;
  /** Rows appended since the last flush. */
  rows = 0;

  constructor(stream: StreamSchema) {
    this.stream = stream;
    this.values = stream.value.writer(stream.valueColumns, this.tally);
    this.metadata = stream.metadata.map((c) => c.writer(this.tally));
  }

  /**
   * Arrow bytes appended since the last flush, counted as they are written: metadata
   * columns such as `__topic` can outweigh a small value, and a batch over gRPC's 4 MiB
   * default fails the client.
   */
  get bytes(): number {
    return this.tally.bytes;
  }

  /**
   * Appends one message as a row; its payload, when written with another schema version,
   * made readable by `translate`. Throws the value's ValueDecodeError for a bad payload,
   * after which the builder is unusable (the row is half written).
   */
  append(message: Message, translate: Translate = sameSchema): void {
    if (this.failed !== undefined) throw this.failed;
    try {
      if (message.nullValue) this.values.appendNull(message);
      else this.values.append(translate(message.payload), message);
    } catch (error) {
      this.failed = error;
      throw error;
    }
    for (const c of this.metadata) c.append(message);
    this.rows++;
  }

  /** The rows so far as a record batch; the builder starts over empty. */
  flush(): arrow.RecordBatch {
    if (this.failed !== undefined) throw this.failed;
    const data = [...this.values.finish(), ...this.metadata.map((c) => c.column.finish())];
    const rows = this.rows;
    this.rows = 0;
    this.tally.bytes = 0;
    const struct = arrow.makeData({
      type: new arrow.Struct(this.stream.schema.fields),
      length: rows,
      nullCount: 0,
      children: data,
    });
    return new arrow.RecordBatch(this.stream.schema, struct);
  }
}
