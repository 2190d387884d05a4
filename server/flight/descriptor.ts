/**
 * Flight descriptors as reads: a PATH `[topic]` is the topic as it stands, earliest to
 * at_open; a CMD is a seam.v1.ReadStreamRequest, serialized or (first byte `{`) in its proto3
 * canonical JSON form, so every start, end, column and batching option of ReadStream applies.
 * Either way the request is then validated exactly as ReadStream's.
 *
 * JSON is parsed by @bufbuild/protobuf, a conformant proto3 JSON parser, against the
 * descriptor set buf builds from proto/ (scripts/gen.sh): it takes camelCase and snake_case
 * keys, RFC 3339 timestamps, "1.5s" durations and base64 bytes, and refuses unknown keys.
 * protobufjs's `fromObject` is not used for this: it silently drops camelCase keys, which
 * would turn `{"topic":"t","startPublishTime":…,"atOpen":{}}` into a read that never ends.
 */
import { readFileSync } from 'node:fs';
import {
  createFileRegistry,
  type DescMessage,
  fromBinary,
  fromJsonString,
  toBinary,
} from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { SeamError } from '../core/errors.ts';
import type { ReadRequest } from '../core/request.ts';
import type { FlightDescriptor__Output } from '../grpc/generated/arrow/flight/protocol/FlightDescriptor.ts';
import type { ReadStreamRequest__Output } from '../grpc/generated/seam/v1/ReadStreamRequest.ts';
import { toReadRequest } from '../grpc/request.ts';

/** The descriptor set scripts/gen.sh builds from proto/ with buf. */
export const descriptorSetFile = new URL('../grpc/generated/descriptors.binpb', import.meta.url);

/** Decodes a serialized ReadStreamRequest as the SeamService's ReadStream does. */
export type RequestDeserializer = (bytes: Buffer) => ReadStreamRequest__Output;

/** `{` : 0x7B would be field 15, wire type 3 (a group), which ReadStreamRequest never has. */
const jsonFirstByte = 0x7b;

let readStreamRequest: DescMessage | undefined;

/** seam.v1.ReadStreamRequest in the buf-built registry, loaded once. */
export function requestDescriptor(): DescMessage {
  if (readStreamRequest) return readStreamRequest;
  let bytes: Buffer;
  try {
    bytes = readFileSync(descriptorSetFile);
  } catch (error) {
    throw new Error(
      `${descriptorSetFile.pathname} is missing: run 'npm run setup' (scripts/gen.sh builds it)`,
      { cause: error },
    );
  }
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
  const found = registry.getMessage('seam.v1.ReadStreamRequest');
  if (!found) throw new Error(`${descriptorSetFile.pathname} has no seam.v1.ReadStreamRequest`);
  readStreamRequest = found;
  return found;
}

/** Whether a CMD holds a request in proto3 JSON rather than serialized. */
export function isJsonCommand(cmd: Uint8Array): boolean {
  return cmd[0] === jsonFirstByte;
}

/** A ReadStreamRequest in proto3 JSON, serialized; INVALID_ARGUMENT when it is not one. */
export function jsonCommand(json: string): Buffer {
  const descriptor = requestDescriptor();
  try {
    return Buffer.from(toBinary(descriptor, fromJsonString(descriptor, json)));
  } catch (error) {
    throw new SeamError(
      'INVALID_ARGUMENT',
      `the command is not a seam.v1.ReadStreamRequest in proto3 JSON (${(error as Error).message}): e.g. {"topic": "orders", "startPublishTime": "2026-11-05T00:00:00Z", "atOpen": {}}`,
      { cause: error },
    );
  }
}

/** The read a descriptor names; INVALID_ARGUMENT when it names none. */
export function descriptorRequest(
  descriptor: FlightDescriptor__Output | null | undefined,
  deserialize: RequestDeserializer,
): ReadRequest {
  switch (descriptor?.type) {
    case 'PATH': {
      const path = descriptor.path ?? [];
      if (path.length !== 1) {
        throw new SeamError(
          'INVALID_ARGUMENT',
          `a PATH descriptor names one topic, e.g. ["orders"] or ["persistent://public/default/orders"]; this one has ${path.length} elements`,
        );
      }
      return toReadRequest({ topic: path[0], start: 'earliest', end: 'at_open' });
    }
    case 'CMD': {
      const cmd = descriptor.cmd ?? Buffer.alloc(0);
      const bytes = isJsonCommand(cmd) ? jsonCommand(cmd.toString('utf8')) : cmd;
      return toReadRequest(deserialize(bytes));
    }
    default:
      throw new SeamError(
        'INVALID_ARGUMENT',
        'the descriptor must be a PATH [topic] or a CMD (a seam.v1.ReadStreamRequest, serialized or in proto3 JSON)',
      );
  }
}
