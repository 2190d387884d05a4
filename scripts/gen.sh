#!/usr/bin/env bash
# Regenerates the TypeScript types of the seam.v1 API from proto/ (git-ignored output).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
out="$root/server/grpc/generated"
rm -rf "$out"
proto-loader-gen-types seam/v1/seam.proto --grpcLib=@grpc/grpc-js --keepCase --longs=Number \
  --enums=String --oneofs --includeComments --importFileExtension=.ts \
  --includeDirs="$root/proto" --outDir="$out" >/dev/null
