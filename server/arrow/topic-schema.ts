/**
 * A topic's Pulsar schema → its Arrow value columns: the one place that picks the module
 * for a schema type. KEY_VALUE (its parts mapped here too), PROTOBUF_NATIVE, records (AVRO,
 * JSON) and primitives each have a module of their own.
 */
import { PulsarSchemaType, type SchemaInfo } from '../pulsar/protocol/commands.ts';
import { keyValueSchema } from './key-value-schema.ts';
import { protobufNativeSchema } from './protobuf-native-schema.ts';
import { recordSchema } from './record-schema.ts';
import { primitiveSchema, type ValueSchema } from './value-schema.ts';

/** The value columns of a topic's schema (undefined = no schema: `value: binary`). */
export function topicSchema(info: SchemaInfo | undefined): ValueSchema {
  switch (info?.type) {
    case PulsarSchemaType.KEY_VALUE:
      return keyValueSchema(info, partSchema);
    case PulsarSchemaType.PROTOBUF_NATIVE:
      return protobufNativeSchema(info);
    default:
      return partSchema(info);
  }
}

/** The columns of a schema a KEY_VALUE part may have: a record or a primitive. */
function partSchema(info: SchemaInfo | undefined): ValueSchema {
  switch (info?.type) {
    case PulsarSchemaType.AVRO:
    case PulsarSchemaType.JSON:
      return recordSchema(info);
    default:
      return primitiveSchema(info);
  }
}
