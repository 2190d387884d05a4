/**
 * The commands of Pulsar's binary protocol that a reader needs, encoded and decoded by
 * hand from the field numbers of PulsarApi.proto. Outgoing commands are built by
 * `encode*` functions into a framed buffer; incoming ones decode into a tagged union.
 */
import { MessageId, readMessageIdData, writeMessageIdData } from '../message-id.ts';
import { encodeFrame } from './frame.ts';
import { ProtoReader, ProtoWriter } from './wire.ts';

/** `BaseCommand.Type`; a command's field in BaseCommand has the same number. */
export const CommandType = {
  CONNECT: 2,
  CONNECTED: 3,
  SUBSCRIBE: 4,
  MESSAGE: 9,
  ACK: 10,
  FLOW: 11,
  UNSUBSCRIBE: 12,
  SUCCESS: 13,
  ERROR: 14,
  CLOSE_PRODUCER: 15,
  CLOSE_CONSUMER: 16,
  PING: 18,
  PONG: 19,
  PARTITIONED_METADATA: 21,
  PARTITIONED_METADATA_RESPONSE: 22,
  LOOKUP: 23,
  LOOKUP_RESPONSE: 24,
  REACHED_END_OF_TOPIC: 27,
  SEEK: 28,
  GET_LAST_MESSAGE_ID: 29,
  GET_LAST_MESSAGE_ID_RESPONSE: 30,
  ACTIVE_CONSUMER_CHANGE: 31,
  GET_SCHEMA: 34,
  GET_SCHEMA_RESPONSE: 35,
  AUTH_CHALLENGE: 36,
  AUTH_RESPONSE: 37,
  TOPIC_MIGRATED: 68,
} as const;

/**
 * Field numbers of the commands and messages decoded here, from PulsarApi.proto: decoders
 * read fields by these names, never by bare numbers.
 */
const Field = {
  BaseCommand: { type: 1 },
  CommandMessage: { consumerId: 1, messageId: 2, redeliveryCount: 3 },
  CommandConnected: { serverVersion: 1, protocolVersion: 2, maxMessageSize: 3 },
  CommandError: { requestId: 1, error: 2, message: 3 },
  CommandPartitionedTopicMetadataResponse: {
    partitions: 1,
    requestId: 2,
    response: 3,
    error: 4,
    message: 5,
  },
  CommandLookupTopicResponse: {
    brokerServiceUrl: 1,
    brokerServiceUrlTls: 2,
    response: 3,
    requestId: 4,
    authoritative: 5,
    error: 6,
    message: 7,
    proxyThroughServiceUrl: 8,
  },
  CommandGetLastMessageIdResponse: {
    lastMessageId: 1,
    requestId: 2,
    consumerMarkDeletePosition: 3,
  },
  CommandGetSchemaResponse: {
    requestId: 1,
    errorCode: 2,
    errorMessage: 3,
    schema: 4,
    schemaVersion: 5,
  },
  CommandAuthChallenge: { challenge: 2 },
  AuthData: { authMethodName: 1, authData: 2 },
  Schema: { name: 1, schemaData: 3, type: 4, properties: 5 },
  KeyValue: { key: 1, value: 2 },
} as const;

/** The protocol version Seam speaks: v21 (Pulsar 3.x/4.x). */
export const protocolVersion = 21;

/** `Schema` as the broker returns it. */
export interface SchemaInfo {
  name: string;
  /** `Schema.Type`: a `PulsarSchemaType` (0 none, 4 avro, 20 protobuf native, ...). */
  type: number;
  data: Buffer;
  properties: Record<string, string>;
}

/** `Schema.Type` numbers of PulsarApi.proto, by name. */
export const PulsarSchemaType = {
  NONE: 0,
  STRING: 1,
  JSON: 2,
  PROTOBUF: 3,
  AVRO: 4,
  BOOLEAN: 5,
  INT8: 6,
  INT16: 7,
  INT32: 8,
  INT64: 9,
  FLOAT: 10,
  DOUBLE: 11,
  DATE: 12,
  TIME: 13,
  TIMESTAMP: 14,
  KEY_VALUE: 15,
  INSTANT: 16,
  LOCAL_DATE: 17,
  LOCAL_TIME: 18,
  LOCAL_DATE_TIME: 19,
  PROTOBUF_NATIVE: 20,
} as const;

const schemaTypeNames = new Map<number, string>(
  Object.entries(PulsarSchemaType).map(([k, v]) => [v, k]),
);

/** The name of a Pulsar schema type number (`AVRO`, `STRING`, ...). */
export function schemaTypeName(type: number): string {
  return schemaTypeNames.get(type) ?? `UNKNOWN(${type})`;
}

/** A command from the broker. */
export type Incoming =
  | { type: 'CONNECTED'; serverVersion: string; protocolVersion: number; maxMessageSize: number }
  | { type: 'SUCCESS'; requestId: number }
  | { type: 'ERROR'; requestId: number; error: number; message: string }
  | {
      type: 'MESSAGE';
      consumerId: number;
      messageId: MessageId;
      redeliveryCount: number;
    }
  | { type: 'PING' }
  | { type: 'PONG' }
  | { type: 'CLOSE_CONSUMER'; consumerId: number; requestId: number }
  | { type: 'CLOSE_PRODUCER'; producerId: number; requestId: number }
  | { type: 'REACHED_END_OF_TOPIC'; consumerId: number }
  | { type: 'ACTIVE_CONSUMER_CHANGE'; consumerId: number; isActive: boolean }
  | {
      type: 'PARTITIONED_METADATA_RESPONSE';
      requestId: number;
      partitions: number;
      failed: boolean;
      error: number;
      message: string;
    }
  | {
      type: 'LOOKUP_RESPONSE';
      requestId: number;
      /** 0 redirect, 1 connect, 2 failed. */
      response: number;
      brokerServiceUrl: string;
      brokerServiceUrlTls: string;
      authoritative: boolean;
      proxyThroughServiceUrl: boolean;
      error: number;
      message: string;
    }
  | {
      type: 'GET_LAST_MESSAGE_ID_RESPONSE';
      requestId: number;
      lastMessageId: MessageId;
      markDeletePosition: MessageId | undefined;
    }
  | {
      type: 'GET_SCHEMA_RESPONSE';
      requestId: number;
      /** Set when the request failed. */
      error: number | undefined;
      message: string;
      schema: SchemaInfo | undefined;
      schemaVersion: Buffer | undefined;
    }
  | { type: 'AUTH_CHALLENGE'; authMethodName: string; authData: Buffer }
  | { type: 'TOPIC_MIGRATED' }
  | { type: 'UNKNOWN'; code: number };

/** Incoming commands that answer a request, by request id. */
export type Response = Extract<Incoming, { requestId: number }>;

/** Decodes a serialized BaseCommand. */
export function decodeCommand(buf: Buffer): Incoming {
  const r = new ProtoReader(buf);
  let type = 0;
  for (let field = r.next(); field !== 0; field = r.next()) {
    if (field === Field.BaseCommand.type) {
      type = r.varint();
      continue;
    }
    // The sub-command's field number equals its type, so the first non-type field is it.
    const sub = r.message();
    return decodeSubCommand(field, sub);
  }
  switch (type) {
    case CommandType.PING:
      return { type: 'PING' };
    case CommandType.PONG:
      return { type: 'PONG' };
    default:
      return { type: 'UNKNOWN', code: type };
  }
}

function decodeSubCommand(field: number, r: ProtoReader): Incoming {
  switch (field) {
    case CommandType.MESSAGE: {
      let consumerId = 0;
      let messageId = MessageId.earliest;
      let redeliveryCount = 0;
      for (let f = r.next(); f !== 0; f = r.next()) {
        if (f === Field.CommandMessage.consumerId) consumerId = r.varint();
        else if (f === Field.CommandMessage.messageId) messageId = readMessageIdData(r.message());
        else if (f === Field.CommandMessage.redeliveryCount) redeliveryCount = r.varint();
        else r.skip();
      }
      return { type: 'MESSAGE', consumerId, messageId, redeliveryCount };
    }
    case CommandType.CONNECTED: {
      let serverVersion = '';
      let version = 0;
      let maxMessageSize = 0;
      for (let f = r.next(); f !== 0; f = r.next()) {
        if (f === Field.CommandConnected.serverVersion) serverVersion = r.string();
        else if (f === Field.CommandConnected.protocolVersion) version = r.int();
        else if (f === Field.CommandConnected.maxMessageSize) maxMessageSize = r.int();
        else r.skip();
      }
      return { type: 'CONNECTED', serverVersion, protocolVersion: version, maxMessageSize };
    }
    case CommandType.SUCCESS: {
      const { requestId } = readIds(r, { 1: 'requestId' });
      return { type: 'SUCCESS', requestId };
    }
    case CommandType.ERROR: {
      let requestId = 0;
      let error = 0;
      let message = '';
      for (let f = r.next(); f !== 0; f = r.next()) {
        if (f === Field.CommandError.requestId) requestId = r.varint();
        else if (f === Field.CommandError.error) error = r.varint();
        else if (f === Field.CommandError.message) message = r.string();
        else r.skip();
      }
      return { type: 'ERROR', requestId, error, message };
    }
    case CommandType.PING:
      return { type: 'PING' };
    case CommandType.PONG:
      return { type: 'PONG' };
    case CommandType.CLOSE_CONSUMER: {
      const { consumerId, requestId } = readIds(r, { 1: 'consumerId', 2: 'requestId' });
      return { type: 'CLOSE_CONSUMER', consumerId, requestId };
    }
    case CommandType.CLOSE_PRODUCER: {
      const { producerId, requestId } = readIds(r, { 1: 'producerId', 2: 'requestId' });
      return { type: 'CLOSE_PRODUCER', producerId, requestId };
    }
    case CommandType.REACHED_END_OF_TOPIC: {
      const { consumerId } = readIds(r, { 1: 'consumerId' });
      return { type: 'REACHED_END_OF_TOPIC', consumerId };
    }
    case CommandType.ACTIVE_CONSUMER_CHANGE: {
      const { consumerId, isActive } = readIds(r, { 1: 'consumerId', 2: 'isActive' });
      return { type: 'ACTIVE_CONSUMER_CHANGE', consumerId, isActive: isActive !== 0 };
    }
    case CommandType.PARTITIONED_METADATA_RESPONSE: {
      let partitions = 0;
      let requestId = 0;
      let failed = false;
      let error = 0;
      let message = '';
      for (let f = r.next(); f !== 0; f = r.next()) {
        if (f === Field.CommandPartitionedTopicMetadataResponse.partitions) partitions = r.varint();
        else if (f === Field.CommandPartitionedTopicMetadataResponse.requestId)
          requestId = r.varint();
        else if (f === Field.CommandPartitionedTopicMetadataResponse.response)
          failed = r.varint() === 1;
        else if (f === Field.CommandPartitionedTopicMetadataResponse.error) error = r.varint();
        else if (f === Field.CommandPartitionedTopicMetadataResponse.message) message = r.string();
        else r.skip();
      }
      return {
        type: 'PARTITIONED_METADATA_RESPONSE',
        requestId,
        partitions,
        failed,
        error,
        message,
      };
    }
    case CommandType.LOOKUP_RESPONSE: {
      const out = {
        type: 'LOOKUP_RESPONSE' as const,
        requestId: 0,
        response: 0,
        brokerServiceUrl: '',
        brokerServiceUrlTls: '',
        authoritative: false,
        proxyThroughServiceUrl: false,
        error: 0,
        message: '',
      };
      for (let f = r.next(); f !== 0; f = r.next()) {
        if (f === Field.CommandLookupTopicResponse.brokerServiceUrl)
          out.brokerServiceUrl = r.string();
        else if (f === Field.CommandLookupTopicResponse.brokerServiceUrlTls)
          out.brokerServiceUrlTls = r.string();
        else if (f === Field.CommandLookupTopicResponse.response) out.response = r.varint();
        else if (f === Field.CommandLookupTopicResponse.requestId) out.requestId = r.varint();
        else if (f === Field.CommandLookupTopicResponse.authoritative) out.authoritative = r.bool();
        else if (f === Field.CommandLookupTopicResponse.error) out.error = r.varint();
        else if (f === Field.CommandLookupTopicResponse.message) out.message = r.string();
        else if (f === Field.CommandLookupTopicResponse.proxyThroughServiceUrl)
          out.proxyThroughServiceUrl = r.bool();
        else r.skip();
      }
      return out;
    }
    case CommandType.GET_LAST_MESSAGE_ID_RESPONSE: {
      let lastMessageId = MessageId.earliest;
      let requestId = 0;
      let markDeletePosition: MessageId | undefined;
      for (let f = r.next(); f !== 0; f = r.next()) {
        if (f === Field.CommandGetLastMessageIdResponse.lastMessageId)
          lastMessageId = readMessageIdData(r.message());
        else if (f === Field.CommandGetLastMessageIdResponse.requestId) requestId = r.varint();
        else if (f === Field.CommandGetLastMessageIdResponse.consumerMarkDeletePosition)
          markDeletePosition = readMessageIdData(r.message());
        else r.skip();
      }
      return { type: 'GET_LAST_MESSAGE_ID_RESPONSE', requestId, lastMessageId, markDeletePosition };
    }
    case CommandType.GET_SCHEMA_RESPONSE: {
      let requestId = 0;
      let error: number | undefined;
      let message = '';
      let schema: SchemaInfo | undefined;
      let schemaVersion: Buffer | undefined;
      for (let f = r.next(); f !== 0; f = r.next()) {
        if (f === Field.CommandGetSchemaResponse.requestId) requestId = r.varint();
        else if (f === Field.CommandGetSchemaResponse.errorCode) error = r.varint();
        else if (f === Field.CommandGetSchemaResponse.errorMessage) message = r.string();
        else if (f === Field.CommandGetSchemaResponse.schema) schema = readSchema(r.message());
        else if (f === Field.CommandGetSchemaResponse.schemaVersion) schemaVersion = r.bytes();
        else r.skip();
      }
      return { type: 'GET_SCHEMA_RESPONSE', requestId, error, message, schema, schemaVersion };
    }
    case CommandType.AUTH_CHALLENGE: {
      let authMethodName = '';
      let authData: Buffer = Buffer.alloc(0);
      for (let f = r.next(); f !== 0; f = r.next()) {
        if (f === Field.CommandAuthChallenge.challenge) {
          const challenge = r.message();
          for (let g = challenge.next(); g !== 0; g = challenge.next()) {
            if (g === Field.AuthData.authMethodName) authMethodName = challenge.string();
            else if (g === Field.AuthData.authData) authData = challenge.bytes();
            else challenge.skip();
          }
        } else r.skip();
      }
      return { type: 'AUTH_CHALLENGE', authMethodName, authData };
    }
    case CommandType.TOPIC_MIGRATED:
      return { type: 'TOPIC_MIGRATED' };
    default:
      return { type: 'UNKNOWN', code: field };
  }
}

/** Reads varint fields by number into named properties (0 when absent). */
function readIds<const N extends string>(
  r: ProtoReader,
  names: Record<number, N>,
): Record<N, number> {
  const out = {} as Record<N, number>;
  for (const name of Object.values<N>(names)) out[name] = 0;
  for (let f = r.next(); f !== 0; f = r.next()) {
    const name = names[f];
    if (name !== undefined && r.wireType === 0) out[name] = r.varint();
    else r.skip();
  }
  return out;
}

function readSchema(r: ProtoReader): SchemaInfo {
  const schema: SchemaInfo = { name: '', type: 0, data: Buffer.alloc(0), properties: {} };
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === Field.Schema.name) schema.name = r.string();
    else if (f === Field.Schema.schemaData) schema.data = r.bytes();
    else if (f === Field.Schema.type) schema.type = r.varint();
    else if (f === Field.Schema.properties) {
      const [key, value] = readKeyValue(r.message());
      schema.properties[key] = value;
    } else r.skip();
  }
  return schema;
}

/** Reads a `KeyValue { key = 1; value = 2 }`. */
export function readKeyValue(r: ProtoReader): [string, string] {
  let key = '';
  let value = '';
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === Field.KeyValue.key) key = r.string();
    else if (f === Field.KeyValue.value) value = r.string();
    else r.skip();
  }
  return [key, value];
}

/** Frames a BaseCommand whose sub-command is written by `write`. */
function command(type: number, write?: (w: ProtoWriter) => void): Buffer {
  const w = new ProtoWriter(128);
  w.uint(1, type);
  if (write) w.message(type, write);
  return encodeFrame(w.finish());
}

/** Credentials of the client, or of the caller a proxy speaks for. */
export interface AuthFields {
  method: string;
  data: Buffer;
}

/** CONNECT: the first command on a connection. */
export function encodeConnect(options: {
  clientVersion: string;
  auth?: AuthFields | undefined;
  proxyToBrokerUrl?: string | undefined;
  /** The caller a proxy speaks for: the broker authorizes this role. */
  originalPrincipal?: string | undefined;
  /** The caller's own credentials, for brokers that authenticate them too. */
  originalAuth?: AuthFields | undefined;
}): Buffer {
  return command(CommandType.CONNECT, (w) => {
    w.string(1, options.clientVersion);
    if (options.auth) {
      w.bytes(3, options.auth.data);
    }
    w.uint(4, protocolVersion);
    if (options.auth) w.string(5, options.auth.method);
    if (options.proxyToBrokerUrl) w.string(6, options.proxyToBrokerUrl);
    if (options.originalPrincipal !== undefined) w.string(7, options.originalPrincipal);
    if (options.originalAuth) {
      w.bytes(8, options.originalAuth.data);
      w.string(9, options.originalAuth.method);
    }
    // FeatureFlags: supports_auth_refresh (1), supports_broker_entry_metadata (2).
    w.message(10, (f) => f.bool(1, true).bool(2, true));
  });
}

/** AUTH_RESPONSE: answers an AUTH_CHALLENGE with fresh credentials. */
export function encodeAuthResponse(clientVersion: string, auth: AuthFields): Buffer {
  return command(CommandType.AUTH_RESPONSE, (w) => {
    w.string(1, clientVersion);
    w.message(2, (d) => d.string(1, auth.method).bytes(2, auth.data));
    w.uint(3, protocolVersion);
  });
}

export function encodePing(): Buffer {
  return command(CommandType.PING, () => {});
}

export function encodePong(): Buffer {
  return command(CommandType.PONG, () => {});
}

/** PARTITIONED_METADATA: how many partitions a topic has (0 when not partitioned). */
export function encodePartitionedMetadata(topic: string, requestId: number): Buffer {
  return command(CommandType.PARTITIONED_METADATA, (w) => {
    w.string(1, topic).uint(2, requestId);
    // metadata_auto_creation_enabled = false: asking must not create the topic.
    w.bool(6, false);
  });
}

/** LOOKUP: which broker owns a topic. */
export function encodeLookup(topic: string, requestId: number, authoritative: boolean): Buffer {
  return command(CommandType.LOOKUP, (w) => {
    w.string(1, topic).uint(2, requestId).bool(3, authoritative);
  });
}

/** SUBSCRIBE as a reader: an exclusive, non-durable subscription from a message id. */
export function encodeSubscribe(options: {
  topic: string;
  subscription: string;
  consumerId: number;
  requestId: number;
  consumerName: string;
  startMessageId: MessageId;
  /** Default true: a reader on a topic that does not exist must not create it. */
  forceTopicCreation?: boolean;
}): Buffer {
  return command(CommandType.SUBSCRIBE, (w) => {
    w.string(1, options.topic);
    w.string(2, options.subscription);
    w.uint(3, 0); // Exclusive
    w.uint(4, options.consumerId);
    w.uint(5, options.requestId);
    w.string(6, options.consumerName);
    w.bool(8, false); // durable: a reader leaves no cursor behind
    w.message(9, (m) => writeMessageIdData(m, options.startMessageId));
    // initialPosition: the broker positions a new non-durable cursor by it when the start
    // is one of the sentinels, so it must agree with them (0 latest, 1 earliest).
    w.uint(13, options.startMessageId.ledgerId === MessageId.latest.ledgerId ? 0 : 1);
    w.bool(15, options.forceTopicCreation ?? false);
  });
}

/** FLOW: lets the broker push `permits` more entries' worth of messages. */
export function encodeFlow(consumerId: number, permits: number): Buffer {
  return command(CommandType.FLOW, (w) => {
    w.uint(1, consumerId).uint(2, permits);
  });
}

/** SEEK to a message id or a publish time (ms). */
export function encodeSeek(
  consumerId: number,
  requestId: number,
  target: { messageId: MessageId } | { publishTime: number },
): Buffer {
  return command(CommandType.SEEK, (w) => {
    w.uint(1, consumerId).uint(2, requestId);
    if ('messageId' in target) {
      w.message(3, (m) => writeMessageIdData(m, target.messageId));
    } else {
      w.uint(4, target.publishTime);
    }
  });
}

export function encodeGetLastMessageId(consumerId: number, requestId: number): Buffer {
  return command(CommandType.GET_LAST_MESSAGE_ID, (w) => {
    w.uint(1, consumerId).uint(2, requestId);
  });
}

export function encodeCloseConsumer(consumerId: number, requestId: number): Buffer {
  return command(CommandType.CLOSE_CONSUMER, (w) => {
    w.uint(1, consumerId).uint(2, requestId);
  });
}

/** GET_SCHEMA: the topic's latest schema, or a given version. */
export function encodeGetSchema(topic: string, requestId: number, schemaVersion?: Buffer): Buffer {
  return command(CommandType.GET_SCHEMA, (w) => {
    w.uint(1, requestId).string(2, topic);
    if (schemaVersion) w.bytes(3, schemaVersion);
  });
}
