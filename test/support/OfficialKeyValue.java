// The official Java client as test producer and reference reader for KEY_VALUE topics
// (the Python client 3.13 has no KeyValue schema). Run from source with Pulsar's jars:
//
//   java -cp 'pulsar/.lib/*' test/support/OfficialKeyValue.java produce URL TOPIC ENCODING KEY VALUE
//       stdin: one JSON object a line, {"key": <json or null>, "value": <json or null>};
//       prints one JSON line a message: {"id_b64": base64 of MessageId.toByteArray()}
//   java -cp 'pulsar/.lib/*' test/support/OfficialKeyValue.java read URL TOPIC
//       reads from earliest with AUTO_CONSUME until nothing is left; prints one JSON line a
//       message: {"message_id_b64", "key", "value", "message_key", "message_key_b64"}
//
// ENCODING is INLINE or SEPARATED; KEY and VALUE are string, int32, int64, double,
// avro:<record schema JSON> or json:<record schema JSON>. Nothing here decodes by hand:
// encoding and decoding are the client's own.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.avro.generic.GenericData;
import org.apache.pulsar.client.api.Message;
import org.apache.pulsar.client.api.MessageId;
import org.apache.pulsar.client.api.Producer;
import org.apache.pulsar.client.api.PulsarClient;
import org.apache.pulsar.client.api.Reader;
import org.apache.pulsar.client.api.Schema;
import org.apache.pulsar.client.api.schema.GenericRecord;
import org.apache.pulsar.client.api.schema.GenericRecordBuilder;
import org.apache.pulsar.client.api.schema.GenericSchema;
import org.apache.pulsar.common.schema.SchemaInfo;
import org.apache.pulsar.common.schema.SchemaType;
import org.apache.pulsar.common.schema.KeyValue;
import org.apache.pulsar.common.schema.KeyValueEncodingType;

public class OfficialKeyValue {
  static final ObjectMapper JSON = new ObjectMapper();

  /** A key or value part: the client's schema and how a JSON value becomes its object. */
  record Part(Schema<Object> schema, java.util.function.Function<JsonNode, Object> of) {}

  @SuppressWarnings({"unchecked", "rawtypes"})
  static Part part(String spec) {
    int colon = spec.indexOf(':');
    String kind = colon < 0 ? spec : spec.substring(0, colon);
    String definition = colon < 0 ? null : spec.substring(colon + 1);
    switch (kind) {
      case "string":
        return new Part((Schema) Schema.STRING, JsonNode::asText);
      case "int32":
        return new Part((Schema) Schema.INT32, JsonNode::asInt);
      case "int64":
        return new Part((Schema) Schema.INT64, JsonNode::asLong);
      case "double":
        return new Part((Schema) Schema.DOUBLE, JsonNode::asDouble);
      case "avro":
      case "json": {
        // The client's generic schemas: records built field by field, encoded by the client.
        GenericSchema<GenericRecord> generic = Schema.generic(SchemaInfo.builder()
            .name("")
            .type(kind.equals("avro") ? SchemaType.AVRO : SchemaType.JSON)
            .schema(definition.getBytes(StandardCharsets.UTF_8))
            .properties(Map.of())
            .build());
        org.apache.avro.Schema avro = new org.apache.avro.Schema.Parser().parse(definition);
        return new Part((Schema) generic, node -> {
          GenericRecordBuilder builder = generic.newRecordBuilder();
          for (org.apache.avro.Schema.Field f : avro.getFields()) {
            JsonNode v = node.get(f.name());
            builder.set(f.name(), v == null ? null : avroValue(f.schema(), v));
          }
          return builder.build();
        });
      }
      default:
        throw new IllegalArgumentException("unknown schema " + spec);
    }
  }

  /** A JSON value as the Avro object of `schema` (records, unions with null, arrays, maps). */
  static Object avroValue(org.apache.avro.Schema schema, JsonNode node) {
    switch (schema.getType()) {
      case RECORD: {
        GenericData.Record record = new GenericData.Record(schema);
        for (org.apache.avro.Schema.Field f : schema.getFields()) {
          JsonNode v = node.get(f.name());
          record.put(f.name(), v == null ? null : avroValue(f.schema(), v));
        }
        return record;
      }
      case UNION:
        if (node.isNull()) return null;
        for (org.apache.avro.Schema branch : schema.getTypes()) {
          if (branch.getType() != org.apache.avro.Schema.Type.NULL) return avroValue(branch, node);
        }
        return null;
      case ARRAY: {
        List<Object> items = new ArrayList<>();
        for (JsonNode item : node) items.add(avroValue(schema.getElementType(), item));
        return items;
      }
      case MAP: {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> e = it.next();
          out.put(e.getKey(), avroValue(schema.getValueType(), e.getValue()));
        }
        return out;
      }
      case STRING:
        return node.asText();
      case INT:
        return node.asInt();
      case LONG:
        return node.asLong();
      case FLOAT:
        return (float) node.asDouble();
      case DOUBLE:
        return node.asDouble();
      case BOOLEAN:
        return node.asBoolean();
      case NULL:
        return null;
      default:
        throw new IllegalArgumentException("unsupported Avro type " + schema.getType());
    }
  }

  /** What the client decoded, as JSON-friendly Java objects. */
  static Object plain(Object value) {
    if (value instanceof KeyValue<?, ?> kv) {
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("key", plain(kv.getKey()));
      out.put("value", plain(kv.getValue()));
      return out;
    }
    if (value instanceof GenericRecord record) {
      if (record.getSchemaType() == SchemaType.KEY_VALUE
          || record.getSchemaType().isPrimitive()) {
        return plain(record.getNativeObject());
      }
      Map<String, Object> out = new LinkedHashMap<>();
      for (var field : record.getFields()) out.put(field.getName(), plain(record.getField(field)));
      return out;
    }
    if (value instanceof CharSequence text) return text.toString();
    if (value instanceof byte[] bytes) return Map.of("$b64", Base64.getEncoder().encodeToString(bytes));
    if (value instanceof ByteBuffer buffer) {
      byte[] bytes = new byte[buffer.remaining()];
      buffer.duplicate().get(bytes);
      return plain(bytes);
    }
    if (value instanceof List<?> list) return list.stream().map(OfficialKeyValue::plain).toList();
    if (value instanceof Map<?, ?> map) {
      Map<String, Object> out = new LinkedHashMap<>();
      map.forEach((k, v) -> out.put(String.valueOf(k), plain(v)));
      return out;
    }
    return value;
  }

  public static void main(String[] args) throws Exception {
    String command = args[0];
    try (PulsarClient client = PulsarClient.builder().serviceUrl(args[1]).build()) {
      if (command.equals("produce")) produce(client, args[2], args[3], part(args[4]), part(args[5]));
      else if (command.equals("read")) read(client, args[2]);
      else throw new IllegalArgumentException("produce or read");
    }
  }

  static void produce(PulsarClient client, String topic, String encoding, Part key, Part value)
      throws Exception {
    Schema<KeyValue<Object, Object>> schema =
        Schema.KeyValue(key.schema(), value.schema(), KeyValueEncodingType.valueOf(encoding));
    List<CompletableFuture<MessageId>> sent = new ArrayList<>();
    try (Producer<KeyValue<Object, Object>> producer =
        client.newProducer(schema).topic(topic).enableBatching(true).create()) {
      BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
      for (String line = in.readLine(); line != null; line = in.readLine()) {
        if (line.isBlank()) continue;
        JsonNode message = JSON.readTree(line);
        JsonNode k = message.get("key");
        JsonNode v = message.get("value");
        Object keyObject = k == null || k.isNull() ? null : key.of().apply(k);
        Object valueObject = v == null || v.isNull() ? null : value.of().apply(v);
        sent.add(producer.newMessage().value(new KeyValue<>(keyObject, valueObject)).sendAsync());
      }
      producer.flush();
    }
    for (CompletableFuture<MessageId> id : sent) {
      System.out.println(JSON.writeValueAsString(
          Map.of("id_b64", Base64.getEncoder().encodeToString(id.get().toByteArray()))));
    }
  }

  static void read(PulsarClient client, String topic) throws Exception {
    try (Reader<GenericRecord> reader =
        client.newReader(Schema.AUTO_CONSUME()).topic(topic).startMessageId(MessageId.earliest).create()) {
      while (reader.hasMessageAvailable()) {
        Message<GenericRecord> message = reader.readNext();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("message_id_b64", Base64.getEncoder().encodeToString(message.getMessageId().toByteArray()));
        Object decoded = plain(message.getValue());
        if (decoded instanceof Map<?, ?> kv) {
          out.put("key", kv.get("key"));
          out.put("value", kv.get("value"));
        }
        out.put("message_key", message.hasKey() ? message.getKey() : null);
        out.put("message_key_b64", message.hasBase64EncodedKey());
        System.out.println(JSON.writeValueAsString(out));
      }
    }
  }
}
