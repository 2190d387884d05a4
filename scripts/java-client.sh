#!/usr/bin/env bash
# Builds the Java Flight client (clients/java) with Maven and extracts Flight.proto from the
# flight-core jar it resolves into proto/arrow/flight/protocol/ (git-ignored), so the gateway
# serves exactly the Flight protocol Arrow ships. Stamped by the pom's hash: a second run with
# an unchanged pom and sources only checks the stamp.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

java_dir="$root/clients/java"
flight_proto="$root/proto/arrow/flight/protocol/Flight.proto"
stamp="$java_dir/target/.setup.sha256"

command -v mvn >/dev/null ||
  die "mvn is missing: install Maven >= 3.8 and a JDK >= 17 (apt-get install maven openjdk-17-jdk-headless)"
command -v java >/dev/null || die "java is missing: install a JDK >= 17 (apt-get install openjdk-17-jdk-headless)"

want=$({ cat "$java_dir/pom.xml"; find "$java_dir/src" -type f -print0 | sort -z | xargs -0 cat; } |
  sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$flight_proto" ]; then
  exit 0
fi

echo "setup: building clients/java with Maven (the first run downloads Arrow Java, ~30 MB) ..." >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Maven's own output (with its terminal escapes) only when the build fails.
if ! (cd "$java_dir" && mvn -B -q package) >"$log" 2>&1; then
  cat "$log" >&2
  die "the Maven build of clients/java failed (output above)"
fi

# The flight-core jar Maven resolved from the local repository, as the build copied it into
# the runtime classpath (target/lib), byte for byte.
version=$(sed -n 's:.*<arrow.version>\(.*\)</arrow.version>.*:\1:p' "$java_dir/pom.xml")
jar="$java_dir/target/lib/flight-core-$version.jar"
[ -f "$jar" ] || die "the build did not resolve flight-core $version ($jar is missing)"
mkdir -p "$(dirname "$flight_proto")"
unzip -p "$jar" Flight.proto >"$flight_proto.tmp" || die "$jar has no Flight.proto"
mv "$flight_proto.tmp" "$flight_proto"
echo "setup: proto/arrow/flight/protocol/Flight.proto from flight-core $version" >&2
echo "$want" >"$stamp"
