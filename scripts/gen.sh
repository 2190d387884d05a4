#!/usr/bin/env bash
# Regenerates code from proto/ (all of it git-ignored): the TypeScript types of the seam.v1
# API for the server and for the TypeScript SDK (with the SDK's own copy of the proto, so
# its package is self-contained), and the Python client's protobuf modules (when the
# project's virtualenv exists).
#
#   gen.sh            all of it, in place
#   gen.sh sdk DIR    only the SDK's part, into DIR/proto and DIR/src/generated
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# gen_types PROTO_DIR OUT_DIR: grpc-js types of seam/v1/seam.proto under PROTO_DIR.
gen_types() {
  rm -rf "$2"
  proto-loader-gen-types seam/v1/seam.proto --grpcLib=@grpc/grpc-js --keepCase --longs=Number \
    --enums=String --oneofs --includeComments --importFileExtension=.ts \
    --includeDirs="$1" --outDir="$2" >/dev/null
}

# gen_sdk DIR: the SDK's copy of the proto and its types.
gen_sdk() {
  rm -rf "$1/proto" && mkdir -p "$1/proto/seam"
  cp -r "$root/proto/seam/v1" "$1/proto/seam/"
  gen_types "$1/proto" "$1/src/generated"
}

if [ "${1:-}" = sdk ]; then
  gen_sdk "$2"
  exit
fi
gen_types "$root/proto" "$root/server/grpc/generated"
gen_sdk "$root/clients/ts"
if [ -x "$python" ]; then
  py_out="$root/clients/python/pulsar_seam/_generated"
  rm -rf "$py_out" && mkdir -p "$py_out"
  "$python" -m grpc_tools.protoc -I "$root/proto" --python_out="$py_out" seam/v1/seam.proto
fi
