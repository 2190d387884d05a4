/**
 * The schema versions a stream meets: messages written with the stream's version (or with
 * none) are read as they are; older versions are read as the stream's schema (AVRO
 * resolution); a version whose columns differ, or that the registry does not know, ends
 * the stream where its first message is, so that no row is silently missing a column.
 */
import { topicSchema } from '../arrow/topic-schema.ts';
import { sameSchema, type Translate, type ValueSchema } from '../arrow/value-schema.ts';
import type { PulsarClient } from '../pulsar/client.ts';
import type { Message } from '../pulsar/message.ts';
import { SeamError } from './errors.ts';

/** How the stream reads each schema version other than its own (hex), or why it cannot. */
export class SchemaVersions {
  private readonly client: Pick<PulsarClient, 'schema'>;
  /** The topic whose schema registry entries apply (the partitioned topic, not a partition). */
  private readonly schemaTopic: string;
  /** The stream's value schema. */
  private readonly value: ValueSchema;
  /** The stream's version; undefined when the topic has no schema. */
  private readonly version: Buffer | undefined;
  private readonly decoders = new Map<string, Translate | SeamError>();
  /**
   * The last version buffer found equal to the stream's: the messages of an entry share
   * their entry's, so most messages are told apart by identity, not by their bytes. Held
   * strongly: a message's version is a copy of a few bytes, not a view into its frame.
   */
  private lastSame: Buffer | undefined;

  constructor(
    client: Pick<PulsarClient, 'schema'>,
    schemaTopic: string,
    value: ValueSchema,
    version: Buffer | undefined,
  ) {
    this.client = client;
    this.schemaTopic = schemaTopic;
    this.value = value;
    this.version = version;
  }

  /** Finds how to decode the versions among `messages` that the stream has not seen. */
  async learn(messages: Message[]): Promise<void> {
    for (const m of messages) {
      const version = this.otherVersion(m);
      if (version === undefined) continue;
      const hex = version.toString('hex');
      if (this.decoders.has(hex)) continue;
      this.decoders.set(hex, await this.decoderFor(version));
    }
  }

  /** How to read `message`: undefined for the stream's version, else as learnt. */
  decoderOf(message: Message): Translate | SeamError | undefined {
    const version = this.otherVersion(message);
    return version === undefined ? undefined : this.decoders.get(version.toString('hex'));
  }

  /** The error a message's schema version ends the stream with, if any. */
  unreadable(message: Message): SeamError | undefined {
    const decode = this.decoderOf(message);
    return decode instanceof SeamError ? decode : undefined;
  }

  /** The message's version when it is not the stream's (nor none). */
  private otherVersion(message: Message): Buffer | undefined {
    const version = message.schemaVersion;
    if (version === undefined || version === this.lastSame) return undefined;
    if (this.version?.equals(version) !== true) return version;
    this.lastSame = version;
    return undefined;
  }

  private async decoderFor(version: Buffer): Promise<Translate | SeamError> {
    const { value, schemaTopic } = this;
    if (value.typeName === 'NONE') return sameSchema; // raw bytes, whatever wrote them
    const number = BigInt(`0x${version.toString('hex')}`);
    const found = await this.client.schema(schemaTopic, version);
    if (!found) {
      return new SeamError(
        'FAILED_PRECONDITION',
        `schema version ${number} of ${schemaTopic} is not in its schema registry`,
      );
    }
    const streamNumber =
      this.version === undefined ? -1n : BigInt(`0x${this.version.toString('hex')}`);
    const columns = (fields: { toString(): string }[]) => fields.map(String).join(', ');
    let writerColumns: string;
    try {
      writerColumns = columns(topicSchema(found.schema).fields);
    } catch {
      writerColumns = '(unsupported)';
    }
    if (number > streamNumber && writerColumns !== columns(value.fields)) {
      return new SeamError(
        'FAILED_PRECONDITION',
        `the topic's schema changed mid-stream: version ${number} has columns [${writerColumns}], the stream has version ${streamNumber} [${columns(value.fields)}]. Resume with the resume token to read on with the new schema.`,
      );
    }
    return (
      value.translatorFor(found.schema) ??
      new SeamError(
        'FAILED_PRECONDITION',
        `messages written with schema version ${number} cannot be read as version ${streamNumber} of ${schemaTopic}`,
      )
    );
  }
}
