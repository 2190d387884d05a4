/**
 * A topic's Pulsar schema → its Arrow value columns: KEY_VALUE and PROTOBUF_NATIVE in
 * modules of their own, every other type by `valueSchema`.
 */
import type { SchemaInfo } from '../pulsar/protocol/commands.ts';
import { keyValueSchema } from './key-value-schema.ts';
import { protobufNativeSchema } from './protobuf-native-schema.ts';
import { PulsarSchemaType, type ValueSchema, valueSchema } from './value-schema.ts';

/** The value columns of a topic's schema (undefined = no schema: `value: binary`). */
export function topicSchema(info: SchemaInfo | undefined): ValueSchema {
  switch (info?.type) {
    case PulsarSchemaType.KEY_VALUE:
      return keyValueSchema(info);
    case PulsarSchemaType.PROTOBUF_NATIVE:
      return protobufNativeSchema(info);
    default:
      return valueSchema(info);
  }
}
