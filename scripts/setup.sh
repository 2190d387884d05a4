#!/usr/bin/env bash
# Installs what npm does not: a Python virtualenv (the official Pulsar client as test
# producer and reference reader, the Seam Python client, pytest), the Java Flight client
# (clients/java, whose flight-core jar yields Flight.proto), generated code, and
# Pulsar's jars. Idempotent; fast when nothing changed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_node_modules

command -v python3 >/dev/null || die "python3 is missing: install Python >= 3.9 (apt-get install python3-venv)"
requirements="$root/test/requirements.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python test dependencies into .venv ..." >&2
  [ -x "$python" ] || python3 -m venv "$venv" || die "could not create a virtualenv: install python3-venv"
  (cd "$root" && "$python" -m pip install -q --disable-pip-version-check -r "$requirements")
  echo "$want" >"$stamp"
fi

# Before gen.sh: the Java client build also yields proto/arrow/flight/protocol/Flight.proto.
bash "$root/scripts/java-client.sh"
bash "$root/scripts/gen.sh"
bash "$pulsar" resolve

# grpcurl, for the test that reads through server reflection as generic tools do.
if command -v go >/dev/null && [ ! -x "$root/.tools/bin/grpcurl" ]; then
  GOBIN="$root/.tools/bin" go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4 ||
    die "go install of grpcurl failed"
fi
