/**
 * Server reflection for every service on the port, complete enough for generic tools
 * (grpcurl, Postman, grpcui): each served file declares the files it imports.
 *
 * proto-loader regroups a package's types into one file per package (`seam_v1.proto`,
 * `google_protobuf.proto`) and leaves their `dependency` lists empty, so a client that
 * links descriptors (grpcurl) cannot resolve `.google.protobuf.Timestamp` in `seam_v1.proto`.
 * Here every file's dependencies are derived from the types it references before the
 * definitions reach `@grpc/reflection`. A new service (Flight) is one more definition in
 * the list given to `addReflection`.
 */
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProto } from 'grpc-health-check';
import descriptor from 'protobufjs/ext/descriptor/index.js';

/** The parts of a FileDescriptorProto that name types. */
interface FileShape {
  name?: string;
  package?: string;
  dependency?: string[];
  messageType?: MessageShape[];
  enumType?: { name?: string }[];
  service?: { method?: { inputType?: string; outputType?: string }[] }[];
}

interface MessageShape {
  name?: string;
  options?: { mapEntry?: boolean };
  reservedRange?: { start?: number; end?: number }[];
  field?: { name?: string; typeName?: string }[];
  nestedType?: MessageShape[];
  enumType?: { name?: string }[];
}

type TypeDefinition =
  | protoLoader.MessageTypeDefinition<object, object>
  | protoLoader.EnumTypeDefinition;

/** Message and enum definitions carry file descriptors; services (methods by name) do not. */
function isTypeDefinition(definition: protoLoader.AnyDefinition): definition is TypeDefinition {
  return typeof definition.format === 'string';
}

/** `definition` serving `files` (a copy: the gateway's own definition stays as it was). */
function withFiles(definition: TypeDefinition, files: Buffer[]): TypeDefinition {
  return { ...definition, fileDescriptorProtos: files };
}

/** The standard health service's definition, loaded as the gateway loads its own. */
export function healthDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(healthProto, { keepCase: true, longs: Number, enums: String });
}

/** Fully qualified names (without the leading dot) a file defines. */
function definedNames(file: FileShape): string[] {
  const names: string[] = [];
  const visit = (scope: string, messages: MessageShape[] = [], enums: { name?: string }[] = []) => {
    for (const e of enums) names.push(`${scope}${e.name}`);
    for (const m of messages) {
      names.push(`${scope}${m.name}`);
      visit(`${scope}${m.name}.`, m.nestedType, m.enumType);
    }
  };
  visit(file.package ? `${file.package}.` : '', file.messageType, file.enumType);
  return names;
}

/** Type names a file references (fields and methods), without the leading dot. */
function referencedNames(file: FileShape): string[] {
  const names: string[] = [];
  const visit = (messages: MessageShape[] = []) => {
    for (const m of messages) {
      for (const f of m.field ?? []) if (f.typeName) names.push(f.typeName);
      visit(m.nestedType);
    }
  };
  visit(file.messageType);
  for (const s of file.service ?? []) {
    for (const method of s.method ?? []) {
      if (method.inputType) names.push(method.inputType);
      if (method.outputType) names.push(method.outputType);
    }
  }
  return names.map((n) => n.replace(/^\./, ''));
}

/**
 * protobufjs writes reserved ranges with its own inclusive end (`reserved 1` → 1..1),
 * where a descriptor's end is exclusive (1..2); Go's protobuf refuses the former
 * ("reserved ranges has invalid field number: 0").
 */
function fixReservedRanges(messages: MessageShape[] = []): void {
  for (const m of messages) {
    for (const range of m.reservedRange ?? []) range.end = (range.end ?? 0) + 1;
    fixReservedRanges(m.nestedType);
  }
}

/**
 * protobufjs names a map field's entry type after the field (`Statuses`); protoc, and Go's
 * protobuf which checks it, name it `StatusesEntry` (the field in CamelCase, then Entry).
 */
function fixMapEntries(messages: MessageShape[] = []): void {
  for (const m of messages) {
    for (const entry of m.nestedType ?? []) {
      if (!entry.options?.mapEntry || entry.name === undefined) continue;
      const field = m.field?.find((f) => f.typeName?.split('.').at(-1) === entry.name);
      if (field?.name === undefined || field.typeName === undefined) continue;
      const camel = field.name.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
      const name = `${camel.charAt(0).toUpperCase()}${camel.slice(1)}Entry`;
      field.typeName = `${field.typeName.slice(0, -entry.name.length)}${name}`;
      entry.name = name;
    }
    fixMapEntries(m.nestedType);
  }
}

/**
 * `definitions` merged, with every file descriptor's `dependency` list naming the files
 * that define the types it references.
 */
export function completeDescriptors(
  definitions: protoLoader.PackageDefinition[],
): protoLoader.PackageDefinition {
  const merged: protoLoader.PackageDefinition = Object.assign({}, ...definitions);
  const files = new Map<string, FileShape>();
  for (const definition of Object.values(merged)) {
    const protos = isTypeDefinition(definition) ? definition.fileDescriptorProtos : [];
    for (const bytes of protos) {
      const file = descriptor.FileDescriptorProto.decode(bytes) as FileShape;
      if (!file.name || files.has(file.name)) continue;
      fixMapEntries(file.messageType);
      fixReservedRanges(file.messageType);
      files.set(file.name, file);
    }
  }
  const definedIn = new Map<string, string>();
  for (const [name, file] of files)
    for (const type of definedNames(file)) definedIn.set(type, name);
  const encoded = new Map<string, Buffer>();
  for (const [name, file] of files) {
    const dependencies = new Set(file.dependency ?? []);
    for (const type of referencedNames(file)) {
      const where = definedIn.get(type);
      if (where !== undefined && where !== name) dependencies.add(where);
    }
    file.dependency = [...dependencies];
    encoded.set(name, Buffer.from(descriptor.FileDescriptorProto.encode(file).finish()));
  }
  const complete = [...encoded.values()];
  const result: protoLoader.PackageDefinition = {};
  for (const [name, definition] of Object.entries(merged)) {
    result[name] = isTypeDefinition(definition) ? withFiles(definition, complete) : definition;
  }
  return result;
}

/** Adds server reflection (v1 and v1alpha) over `definitions` to `server`. */
export function addReflection(
  server: Pick<grpc.Server, 'addService'>,
  definitions: protoLoader.PackageDefinition[],
): void {
  new ReflectionService(completeDescriptors(definitions)).addToServer(server);
}
