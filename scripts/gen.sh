#!/usr/bin/env bash
# Regenerates code from proto/ (all of it git-ignored): the TypeScript types of the seam.v1
# API and of Arrow Flight for the server, the descriptor set of everything under proto/, the
# types for the TypeScript SDK (with the SDK's own copy of the proto, so its package is
# self-contained), and the Python client's protobuf modules (when the project's virtualenv
# exists).
#
#   gen.sh            all of it, in place
#   gen.sh sdk DIR    only the SDK's part, into DIR/proto and DIR/src/generated
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# gen_types PROTO_DIR OUT_DIR [FILE...]: grpc-js types of seam/v1/seam.proto (and FILEs)
# under PROTO_DIR.
gen_types() {
  rm -rf "$2"
  proto-loader-gen-types seam/v1/seam.proto "${@:3}" --grpcLib=@grpc/grpc-js --keepCase --longs=Number \
    --enums=String --oneofs --includeComments --importFileExtension=.ts \
    --includeDirs="$1" --outDir="$2" >/dev/null
}

# gen_sdk DIR: the SDK's copy of the proto (with Flight.proto, for flightInfo and doGet)
# and its types.
gen_sdk() {
  rm -rf "$1/proto" && mkdir -p "$1/proto/seam"
  cp -r "$root/proto/seam/v1" "$1/proto/seam/"
  local sdk_flight=()
  if [ -f "$root/proto/arrow/flight/protocol/Flight.proto" ]; then
    mkdir -p "$1/proto/arrow/flight/protocol"
    cp "$root/proto/arrow/flight/protocol/Flight.proto" "$1/proto/arrow/flight/protocol/"
    sdk_flight=(arrow/flight/protocol/Flight.proto)
  fi
  gen_types "$1/proto" "$1/src/generated" "${sdk_flight[@]}"
}

if [ "${1:-}" = sdk ]; then
  gen_sdk "$2"
  exit
fi
# Flight.proto comes from Arrow Java's jar (scripts/java-client.sh, with Maven): without it
# the gateway serves ReadStream only, and the unit tier needs only seam.v1.
flight=()
[ -f "$root/proto/arrow/flight/protocol/Flight.proto" ] && flight=(arrow/flight/protocol/Flight.proto)
gen_types "$root/proto" "$root/server/grpc/generated" "${flight[@]}"
# Every file under proto/ (seam.v1, Flight.proto, the google/protobuf files they import) as
# one FileDescriptorSet, as protoc would write it: the registry Flight's JSON commands are
# parsed with (server/flight/descriptor.ts).
buf build "$root/proto" -o "$root/server/grpc/generated/descriptors.binpb"
gen_sdk "$root/clients/ts"
if [ -x "$python" ]; then
  py_out="$root/clients/python/pulsar_seam/_generated"
  rm -rf "$py_out" && mkdir -p "$py_out"
  "$python" -m grpc_tools.protoc -I "$root/proto" --python_out="$py_out" seam/v1/seam.proto
fi
