#!/usr/bin/env bash
# Regenerates code from proto/ (all of it git-ignored): the TypeScript types of the seam.v1
# API for the server and for the TypeScript SDK (with the SDK's own copy of the proto, so
# its package is self-contained), and the Python client's protobuf modules (when the
# project's virtualenv exists).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# gen_types PROTO_DIR OUT_DIR: grpc-js types of seam/v1/seam.proto under PROTO_DIR.
gen_types() {
  rm -rf "$2"
  proto-loader-gen-types seam/v1/seam.proto --grpcLib=@grpc/grpc-js --keepCase --longs=Number \
    --enums=String --oneofs --includeComments --importFileExtension=.ts \
    --includeDirs="$1" --outDir="$2" >/dev/null
}
gen_types "$root/proto" "$root/server/grpc/generated"

sdk="$root/clients/ts"
rm -rf "$sdk/proto" && mkdir -p "$sdk/proto/seam"
cp -r "$root/proto/seam/v1" "$sdk/proto/seam/"
gen_types "$sdk/proto" "$sdk/src/generated"

if [ -x "$python" ]; then
  py_out="$root/clients/python/pulsar_seam/_generated"
  rm -rf "$py_out" && mkdir -p "$py_out"
  "$python" -m grpc_tools.protoc -I "$root/proto" --python_out="$py_out" seam/v1/seam.proto
fi
