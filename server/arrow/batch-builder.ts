/**
 * Builds Arrow record batches from Pulsar messages: the topic's value columns followed by
 * the metadata columns pulsar-spark users know (`__key`, `__topic`, `__messageId`,
 * `__publishTime`, `__eventTime`, `__messageProperties`), projected to the requested ones.
 */
import * as arrow from 'apache-arrow';
import type { Message } from '../pulsar/reader.ts';
import type { MessageKey, ValueSchema } from './value-schema.ts';

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

/** The metadata columns and how each is read from a message. */
const metadataColumns: { field: arrow.Field; value: (m: Message) => unknown }[] = [
  { field: new arrow.Field('__key', new arrow.Utf8(), true), value: (m) => m.key ?? null },
  { field: new arrow.Field('__topic', new arrow.Utf8(), false), value: (m) => m.topic },
  {
    field: new arrow.Field('__messageId', new arrow.Binary(), false),
    value: (m) => m.messageId.serialize(),
  },
  {
    field: new arrow.Field('__publishTime', new arrow.TimestampMillisecond('UTC'), false),
    value: (m) => m.publishTime,
  },
  {
    field: new arrow.Field('__eventTime', new arrow.TimestampMillisecond('UTC'), true),
    value: (m) => m.eventTime ?? null,
  },
  {
    field: new arrow.Field('__messageProperties', utf8Map(), false),
    value: (m) => new Map(Object.entries(m.properties)),
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
  private builders: arrow.Builder[];
  /** Rows appended since the last flush. */
  rows = 0;
  /** Arrow bytes appended since the last flush: what the builders' buffers hold. */
  bytes = 0;

  constructor(stream: StreamSchema) {
    this.stream = stream;
    this.builders = this.newBuilders();
  }

  private newBuilders(): arrow.Builder[] {
    return this.stream.schema.fields.map((f) =>
      arrow.makeBuilder({ type: f.type, nullValues: [null, undefined] }),
    );
  }

  /**
   * Appends one message as a row, its value decoded by `decode` (default: the stream's
   * schema). Throws the decoder's error for a bad payload.
   */
  append(
    message: Message,
    decode: (payload: Buffer, message?: MessageKey) => unknown[] = this.stream.value.decode,
  ): void {
    const { valueColumns, metadata } = this.stream;
    let column = 0;
    if (valueColumns.length > 0) {
      const values =
        message.nullValue && !this.stream.value.readsMessage
          ? []
          : decode(message.payload, message);
      for (const i of valueColumns)
        (this.builders[column++] as arrow.Builder).append(values[i] ?? null);
    }
    for (const c of metadata) (this.builders[column++] as arrow.Builder).append(c.value(message));
    this.rows++;
    // Measured, not estimated from the payload: metadata columns such as `__topic` can
    // outweigh a small value, and a batch over gRPC's 4 MiB default fails the client.
    this.bytes = this.builders.reduce((sum, b) => sum + b.byteLength, 0);
  }

  /** The rows so far as a record batch; the builder starts over empty. */
  flush(): arrow.RecordBatch {
    const data = this.builders.map((b) => b.finish().flush());
    this.builders = this.newBuilders();
    const rows = this.rows;
    this.rows = 0;
    this.bytes = 0;
    const struct = arrow.makeData({
      type: new arrow.Struct(this.stream.schema.fields),
      length: rows,
      nullCount: 0,
      children: data,
    });
    return new arrow.RecordBatch(this.stream.schema, struct);
  }
}
