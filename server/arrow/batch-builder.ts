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

/** The metadata columns, in schema order. */
const metadataFields = {
  __key: new arrow.Field('__key', new arrow.Utf8(), true),
  __topic: new arrow.Field('__topic', new arrow.Utf8(), false),
  __messageId: new arrow.Field('__messageId', new arrow.Binary(), false),
  __publishTime: new arrow.Field('__publishTime', new arrow.TimestampMillisecond('UTC'), false),
  __eventTime: new arrow.Field('__eventTime', new arrow.TimestampMillisecond('UTC'), true),
  __messageProperties: new arrow.Field('__messageProperties', utf8Map(), false),
};
type MetadataName = keyof typeof metadataFields;
const metadataColumns = Object.values(metadataFields);

/** The UTF-8 bytes of the last topic name seen: every message of a partition has the same. */
let topicName = '';
let topicBytes = Buffer.alloc(0);

const ids = new MessageIdSerializer();

/**
 * Writes the kept metadata columns of each message. One method with a branch a column,
 * rather than a writer function a column called in a loop: that call site would see six
 * functions and V8 would inline none of them.
 */
class MetadataWriter {
  private readonly key: BytesColumn | undefined;
  private readonly topic: BytesColumn | undefined;
  private readonly messageId: BytesColumn | undefined;
  private readonly publishTime: Int64Column | undefined;
  private readonly eventTime: Int64Column | undefined;
  private readonly properties:
    | { list: ListColumn; entries: StructColumn; keys: BytesColumn; values: BytesColumn }
    | undefined;
  /** The kept columns, in schema order. */
  readonly columns: Column[] = [];

  constructor(kept: readonly arrow.Field[], tally: Tally) {
    const has = (name: MetadataName) => kept.includes(metadataFields[name]);
    const keep = <C extends Column>(name: MetadataName, make: (type: arrow.DataType) => C) => {
      if (!has(name)) return undefined;
      const column = make(metadataFields[name].type);
      this.columns.push(column);
      return column;
    };
    this.key = keep('__key', (type) => new BytesColumn(type, tally));
    this.topic = keep('__topic', (type) => new BytesColumn(type, tally));
    this.messageId = keep('__messageId', (type) => new BytesColumn(type, tally));
    this.publishTime = keep('__publishTime', (type) => new Int64Column(type, tally));
    this.eventTime = keep('__eventTime', (type) => new Int64Column(type, tally));
    if (has('__messageProperties')) {
      const type = metadataFields.__messageProperties.type as arrow.Map_<arrow.Utf8, arrow.Utf8>;
      const keys = new BytesColumn(new arrow.Utf8(), tally);
      const values = new BytesColumn(new arrow.Utf8(), tally);
      const entries = new StructColumn(
        type.children[0]?.type as arrow.Struct,
        [keys, values],
        tally,
      );
      const list = new ListColumn(type, entries, tally);
      this.properties = { list, entries, keys, values };
      this.columns.push(list);
    }
  }

  append(m: Message): void {
    const { key, topic, messageId, publishTime, eventTime, properties } = this;
    if (key !== undefined) {
      if (m.key === undefined) key.appendNull();
      else key.appendString(m.key);
    }
    if (topic !== undefined) {
      if (m.topic !== topicName) {
        topicName = m.topic;
        topicBytes = Buffer.from(m.topic, 'utf8');
      }
      topic.appendSame(topicBytes);
    }
    if (messageId !== undefined) {
      // Pulsar's serialization (MessageId.serialize), into one reused buffer: copied at once.
      ids.serialize(m.messageId);
      messageId.appendBytes(ids.bytes, 0, ids.length);
    }
    if (publishTime !== undefined) publishTime.append(m.publishTime);
    if (eventTime !== undefined) {
      if (m.eventTime === undefined) eventTime.appendNull();
      else eventTime.append(m.eventTime);
    }
    if (properties !== undefined) {
      const { list, entries, keys, values } = properties;
      for (const name in m.properties) {
        keys.appendString(name);
        values.appendString(m.properties[name] as string);
        entries.close();
      }
      list.close();
    }
  }
}

/** Names of the metadata columns. */
export const metadataColumnNames = metadataColumns.map((f) => f.name);

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
  /** The kept metadata columns' fields. */
  readonly metadata: arrow.Field[];

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
      this.metadata = metadataColumns.filter((f) => columns.includes(f.name));
    }
    this.schema = new arrow.Schema([
      ...this.valueColumns.map((i) => value.fields[i] as arrow.Field),
      ...this.metadata,
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
  private readonly metadata: MetadataWriter;
  /** A row that failed to decode left the columns uneven: the batch cannot be used. */
  private failed: unknown;
  /** Rows appended since the last flush. */
  rows = 0;

  constructor(stream: StreamSchema) {
    this.stream = stream;
    this.values = stream.value.writer(stream.valueColumns, this.tally);
    this.metadata = new MetadataWriter(stream.metadata, this.tally);
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
    this.metadata.append(message);
    this.rows++;
  }

  /** The rows so far as a record batch; the builder starts over empty. */
  flush(): arrow.RecordBatch {
    if (this.failed !== undefined) throw this.failed;
    const data = [...this.values.finish(), ...this.metadata.columns.map((c) => c.finish())];
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
