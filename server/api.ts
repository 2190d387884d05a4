/**
 * The seam.v1 messages that travel inside bytes fields (StreamMetadata in app_metadata,
 * ResumeToken in resume tokens), encoded by protobufjs from proto/seam/v1/seam.proto, the
 * one definition of the API.
 */
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** The proto file of the seam.v1 API. */
export const protoFile = fileURLToPath(new URL('../proto/seam/v1/seam.proto', import.meta.url));
/** The include directory for `protoFile`'s imports. */
export const protoRoot = fileURLToPath(new URL('../proto', import.meta.url));

/**
 * How the gateway's gRPC services load their protos with proto-loader (seam.v1, Flight): field
 * names as written, 64-bit integers as numbers, enums by name, the set oneof named.
 */
export const loaderOptions = {
  keepCase: true,
  longs: Number,
  enums: String,
  oneofs: true,
  includeDirs: [protoRoot],
};

const root = new protobuf.Root();
// google/protobuf/*.proto come with protobufjs; everything else from proto/.
root.resolvePath = (_origin, target) =>
  target.startsWith('google/protobuf/')
    ? target
    : protobuf.util.path.resolve(`${protoRoot}/`, target);
root.loadSync('seam/v1/seam.proto', { keepCase: true });

/** A seam.v1 message type. */
export function apiType(name: string): protobuf.Type {
  return root.lookupType(`seam.v1.${name}`);
}
