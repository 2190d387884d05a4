#!/usr/bin/env bash
# The README's run command (after npm install): a real Pulsar standalone, the Seam gateway,
# and the seed's merchant query reading through it in one ReadStream (demo/merchants.ts).
# Arguments go to the demo (e.g. --seconds 30). Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bash "$root/scripts/setup.sh"

if ! bash "$pulsar" status >/dev/null 2>&1; then
  bash "$pulsar" start
  trap 'bash "$pulsar" stop' EXIT
fi
node "$root/demo/merchants.ts" "$@"
