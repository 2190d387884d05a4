#!/usr/bin/env bash
# Regenerates code from proto/ (all of it git-ignored): the TypeScript types of the seam.v1
# API, and the Python client's protobuf modules (when the project's virtualenv exists).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
out="$root/server/grpc/generated"
rm -rf "$out"
proto-loader-gen-types seam/v1/seam.proto --grpcLib=@grpc/grpc-js --keepCase --longs=Number \
  --enums=String --oneofs --includeComments --importFileExtension=.ts \
  --includeDirs="$root/proto" --outDir="$out" >/dev/null

if [ -x "$python" ]; then
  py_out="$root/clients/python/pulsar_seam/_generated"
  rm -rf "$py_out" && mkdir -p "$py_out"
  "$python" -m grpc_tools.protoc -I "$root/proto" --python_out="$py_out" seam/v1/seam.proto
fi
