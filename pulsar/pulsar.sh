#!/usr/bin/env bash
# A real Apache Pulsar standalone (broker + bookie + RocksDB metadata) from Pulsar's own
# jars, resolved from Maven Central. Everything lives under pulsar/: the jars in .lib/,
# data, rendered conf, logs and the pid in .data/ (both git-ignored).
#
#   pulsar.sh resolve        resolve the jars once (cached; re-resolved when pom.xml changes)
#   pulsar.sh start          start and wait until healthy (does nothing if already healthy)
#   pulsar.sh stop           SIGTERM, then SIGKILL after a grace period
#   pulsar.sh status         exit 0 when healthy
#   pulsar.sh restart        stop, then start (same data)
#   pulsar.sh wipe           stop and delete all data
#   pulsar.sh admin ARGS     Pulsar's own admin CLI (pulsar-admin)
#   pulsar.sh client ARGS    Pulsar's own client CLI (pulsar-client)
#   pulsar.sh perf ARGS      Pulsar's own perf tool (pulsar-perf: produce|read|consume ...)
#   pulsar.sh token ROLE [ARGS]  a JWT for ROLE signed with the standalone's secret key
#                            (Pulsar's token tool; ARGS e.g. --expiry-time 1h); needs SEAM_PULSAR_AUTH
#   pulsar.sh java-home      print the JDK this script runs Pulsar with
#
# Environment (defaults in brackets):
#   SEAM_PULSAR_BROKER_PORT [6650]          SEAM_PULSAR_WEB_PORT [8080]
#   SEAM_PULSAR_BROKER_TLS_PORT [6651]      TLS, with a test CA in .data/tls/ca.cert.pem
#   SEAM_PULSAR_ENTRIES_PER_LEDGER [1000]   entries (batches) before a ledger rolls over
#   SEAM_PULSAR_DATA [pulsar/.data]         data, conf, logs, pid
#   SEAM_PULSAR_AUTH [none]                 token: JWT authentication and authorization on
#                                           (conf/auth.conf; key and tokens in .data/auth/:
#                                           superuser "admin", Seam's proxy role "seam-proxy",
#                                           granted consume on public/default)
#   SEAM_PULSAR_AUTH_REFRESH_SECONDS [60]   how often the broker re-checks token expiry
#   SEAM_PULSAR_AUTHENTICATE_ORIGINAL [true]  whether brokers authenticate the credentials a
#                                           proxy role forwards for its caller (false: they
#                                           take the proxy's word for who the caller is)
#   SEAM_PULSAR_PROFILE [default]           secure: the security tests' second standalone, beside
#                                           the default one: authentication on, ports 6660, 8090,
#                                           6661, data in .data-auth, token re-checks every 5 s
#                                           trusted-proxy: a third one, as secure but trusting the
#                                           proxy role's word (callers identified by a client
#                                           certificate), ports 6670, 8100, 6671, data in .data-trust
#   SEAM_PULSAR_START_TIMEOUT [180]         seconds to wait for health
#   SEAM_PULSAR_TOOLS_LOG [.data/logs/tools.log]  where admin/client/perf log
#   SEAM_JAVA_HOME                          a JDK (>= 17); default: the newest under /usr/lib/jvm
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lib="$here/.lib"
case "${SEAM_PULSAR_PROFILE:-default}" in
  default) ;;
  secure)
    : "${SEAM_PULSAR_AUTH:=token}" "${SEAM_PULSAR_BROKER_PORT:=6660}" "${SEAM_PULSAR_WEB_PORT:=8090}"
    : "${SEAM_PULSAR_BROKER_TLS_PORT:=6661}" "${SEAM_PULSAR_DATA:=$here/.data-auth}"
    : "${SEAM_PULSAR_AUTH_REFRESH_SECONDS:=5}"
    ;;
  trusted-proxy)
    : "${SEAM_PULSAR_AUTH:=token}" "${SEAM_PULSAR_BROKER_PORT:=6670}" "${SEAM_PULSAR_WEB_PORT:=8100}"
    : "${SEAM_PULSAR_BROKER_TLS_PORT:=6671}" "${SEAM_PULSAR_DATA:=$here/.data-trust}"
    : "${SEAM_PULSAR_AUTHENTICATE_ORIGINAL:=false}"
    ;;
  *) echo "pulsar.sh: SEAM_PULSAR_PROFILE=$SEAM_PULSAR_PROFILE: expected default, secure or trusted-proxy" >&2; exit 1 ;;
esac
data=${SEAM_PULSAR_DATA:-$here/.data}
broker_port=${SEAM_PULSAR_BROKER_PORT:-6650}
web_port=${SEAM_PULSAR_WEB_PORT:-8080}
broker_tls_port=${SEAM_PULSAR_BROKER_TLS_PORT:-6651}
entries_per_ledger=${SEAM_PULSAR_ENTRIES_PER_LEDGER:-1000}
start_timeout=${SEAM_PULSAR_START_TIMEOUT:-180}
auth=${SEAM_PULSAR_AUTH:-none}
auth_dir="$data/auth"
superuser=admin
proxy_role=seam-proxy
web_url="http://127.0.0.1:$web_port"
pid_file="$data/pulsar.pid"
log_file="$data/logs/pulsar.log"

die() { echo "pulsar.sh: $*" >&2; exit 1; }
say() { echo "pulsar.sh: $*" >&2; }

# Prints the major version of the JDK whose java binary is $1.
java_major() {
  "$1" -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p'
}

# The JDK to run Pulsar with. Pulsar 4.0 is built for Java 21 and supports 17; the newest
# installed JDK wins (Temurin 25 here: 17.0.15 carries a JVM bug Pulsar warns about).
java_home() {
  if [ -n "${SEAM_JAVA_HOME:-}" ]; then
    [ -x "$SEAM_JAVA_HOME/bin/java" ] || die "SEAM_JAVA_HOME=$SEAM_JAVA_HOME has no bin/java"
    echo "$SEAM_JAVA_HOME"; return
  fi
  local best="" best_major=0 candidate major
  for candidate in /usr/lib/jvm/*/ "${JAVA_HOME:-/nonexistent}/"; do
    [ -x "$candidate/bin/java" ] || continue
    major=$(java_major "$candidate/bin/java")
    if [ -n "$major" ] && [ "$major" -gt "$best_major" ]; then best=${candidate%/}; best_major=$major; fi
  done
  if [ -z "$best" ] && command -v java >/dev/null; then
    best=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
    best_major=$(java_major "$best/bin/java")
  fi
  [ -n "$best" ] || die "no Java found: install a JDK >= 17 (e.g. apt-get install openjdk-17-jdk-headless) or set SEAM_JAVA_HOME"
  [ "$best_major" -ge 17 ] || die "Java $best_major at $best is too old: Pulsar 4 needs >= 17; set SEAM_JAVA_HOME"
  echo "$best"
}

resolve() {
  local stamp="$lib/.pom.sha256" want
  want=$(sha256sum "$here/pom.xml" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  command -v mvn >/dev/null || die "Maven is missing: install it (apt-get install maven) and run again"
  say "resolving Pulsar's jars with Maven (first time: about a minute, ~235 MiB)..."
  local tmp="$here/.lib.tmp" started=$SECONDS
  rm -rf "$tmp"
  mvn -B -q -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" ||
    die "Maven could not resolve Pulsar's jars (see above; a 'confluent ... Unknown host' line means a jar is missing from the repository, not a network problem)"
  rm -rf "$lib" && mv "$tmp" "$lib" && echo "$want" >"$stamp"
  say "resolved $(find "$lib" -name '*.jar' | wc -l) jars in $((SECONDS - started)) s"
}

# curl against the admin API, as the superuser when authentication is on.
admin_get() {
  local headers=()
  [ "$auth" = none ] || headers=(-H "Authorization: Bearer $(cat "$auth_dir/$superuser.token" 2>/dev/null)")
  curl -sf --max-time 2 "${headers[@]}" "$web_url$1" 2>/dev/null
}

healthy() {
  [ "$(admin_get /admin/v2/brokers/health)" = "ok" ] &&
    admin_get /admin/v2/namespaces/public | grep -q '"public/default"'
}

running_pid() {
  [ -f "$pid_file" ] || return 1
  local pid; pid=$(cat "$pid_file")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# JVM flags: $1 the Java major version, $2 the log file; then extra flags (heap).
jvm_flags() {
  local major=$1 log=$2
  shift 2
  local flags=("$@" -Dio.netty.leakDetectionLevel=disabled
    "-Dlog4j.configurationFile=$here/conf/log4j2.xml" "-Dseam.pulsar.log=$log"
    --add-opens java.base/java.io=ALL-UNNAMED --add-opens java.base/java.util.zip=ALL-UNNAMED
    --add-opens java.base/java.nio=ALL-UNNAMED --add-opens java.base/jdk.internal.misc=ALL-UNNAMED
    --add-opens java.base/sun.net=ALL-UNNAMED --add-opens java.management/sun.management=ALL-UNNAMED)
  # Newer JDKs warn about Netty's and RocksDB's native and Unsafe access without these.
  [ "$major" -ge 22 ] && flags+=(--enable-native-access=ALL-UNNAMED)
  [ "$major" -ge 23 ] && flags+=(--sun-misc-unsafe-memory-access=allow)
  printf '%s\n' "${flags[@]}"
}

# A test CA and a broker certificate for 127.0.0.1 and localhost, made once.
make_tls() {
  local dir="$data/tls"
  [ -f "$dir/broker.key-pk8.pem" ] && return
  command -v openssl >/dev/null || die "openssl is missing: install it (apt-get install openssl)"
  mkdir -p "$dir"
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Seam test CA" \
      -keyout ca.key.pem -out ca.cert.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout broker.key.pem -out broker.csr.pem
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >broker.ext
    openssl x509 -req -days 3650 -in broker.csr.pem -CA ca.cert.pem -CAkey ca.key.pem -CAcreateserial \
      -extfile broker.ext -out broker.cert.pem
    # The broker reads keys in PKCS#8 only.
    openssl pkcs8 -topk8 -nocrypt -in broker.key.pem -out broker.key-pk8.pem
  ) >/dev/null 2>&1 || die "could not make the test TLS certificates in $dir"
}

# Pulsar's token tool (TokensCliUtils, from the broker's jar) with the standalone's key.
tokens() {
  local jhome
  jhome=$(java_home)
  "$jhome/bin/java" -Xmx128m -cp "$lib/*" org.apache.pulsar.utils.auth.tokens.TokensCliUtils "$@" 2>/dev/null
}

# The secret key and the superuser's and proxy role's tokens, made once.
make_auth() {
  [ -f "$auth_dir/$proxy_role.token" ] && return
  mkdir -p "$auth_dir" && chmod 700 "$auth_dir"
  tokens create-secret-key --output "$auth_dir/secret.key" || die "could not make the token secret key"
  local role
  for role in "$superuser" "$proxy_role"; do
    tokens create --secret-key "file://$auth_dir/secret.key" --subject "$role" >"$auth_dir/$role.token.tmp" ||
      die "could not make the token of $role"
    mv "$auth_dir/$role.token.tmp" "$auth_dir/$role.token"
  done
}

render_conf() {
  make_tls
  sed -e "s/@BROKER_PORT@/$broker_port/" -e "s/@WEB_PORT@/$web_port/" \
    -e "s/@BROKER_TLS_PORT@/$broker_tls_port/" -e "s|@TLS_DIR@|$data/tls|" \
    -e "s/@ENTRIES_PER_LEDGER@/$entries_per_ledger/" "$here/conf/standalone.conf" >"$data/standalone.conf"
  cat >"$data/client.conf" <<EOF
webServiceUrl=$web_url
brokerServiceUrl=pulsar://127.0.0.1:$broker_port
EOF
  case "$auth" in
    none) ;;
    token)
      make_auth
      sed -e "s|@AUTH_DIR@|$auth_dir|" -e "s/@SUPERUSER@/$superuser/" -e "s/@PROXY_ROLE@/$proxy_role/" \
        -e "s/@AUTH_REFRESH_SECONDS@/${SEAM_PULSAR_AUTH_REFRESH_SECONDS:-60}/" \
        -e "s/@AUTHENTICATE_ORIGINAL@/${SEAM_PULSAR_AUTHENTICATE_ORIGINAL:-true}/" \
        "$here/conf/auth.conf" >>"$data/standalone.conf"
      cat >>"$data/client.conf" <<EOF
authPlugin=org.apache.pulsar.client.impl.auth.AuthenticationToken
authParams=file://$auth_dir/$superuser.token
EOF
      ;;
    *) die "SEAM_PULSAR_AUTH=$auth: expected none or token" ;;
  esac
}

start() {
  mkdir -p "$data/logs"
  # One start at a time: test workers may all ask for Pulsar at once.
  exec 9>"$data/.lock"
  flock 9
  if healthy; then say "already running and healthy at $web_url"; return; fi
  if ! running_pid >/dev/null; then
    resolve
    local jhome major started=$SECONDS
    jhome=$(java_home)
    major=$(java_major "$jhome/bin/java")
    render_conf
    say "starting Pulsar 4.0.8 standalone on Java $major (broker pulsar://127.0.0.1:$broker_port and pulsar+ssl://127.0.0.1:$broker_tls_port, admin $web_url); log: $log_file"
    mapfile -t flags < <(jvm_flags "$major" "$log_file" -Xms512m -Xmx1g -XX:MaxDirectMemorySize=1g -XX:+UseG1GC)
    setsid "$jhome/bin/java" "${flags[@]}" -cp "$lib/*" org.apache.pulsar.PulsarStandaloneStarter \
      -c "$data/standalone.conf" -nfw -nss -a 127.0.0.1 \
      --metadata-dir "$data/metadata" --bookkeeper-dir "$data/bookkeeper" \
      >>"$data/logs/stdout.log" 2>&1 </dev/null 9>&- &
    echo $! >"$pid_file"
    SECONDS_AT_START=$started
  else
    say "Pulsar (pid $(running_pid)) is starting; waiting for it"
    SECONDS_AT_START=$SECONDS
  fi
  while ! healthy; do
    if ! running_pid >/dev/null; then
      tail -n 30 "$data/logs/stdout.log" "$log_file" >&2 2>/dev/null || true
      die "Pulsar exited during start-up; the lines above are the end of its logs"
    fi
    if [ $((SECONDS - SECONDS_AT_START)) -ge "$start_timeout" ]; then
      tail -n 30 "$log_file" >&2 2>/dev/null || true
      die "Pulsar was not healthy after ${start_timeout}s; see $log_file (run 'pulsar.sh stop' before retrying)"
    fi
    sleep 0.5
  done
  [ "$auth" = none ] || grant_proxy_role
  say "healthy after $((SECONDS - SECONDS_AT_START)) s"
}

# Seam's proxy role may read what its callers may: `consume` on the namespace, no more.
grant_proxy_role() {
  curl -sf --max-time 10 -X POST -H "Authorization: Bearer $(cat "$auth_dir/$superuser.token")" \
    -H 'Content-Type: application/json' -d '["consume"]' \
    "$web_url/admin/v2/namespaces/public/default/permissions/$proxy_role" >/dev/null ||
    die "could not grant $proxy_role consume on public/default"
}

stop() {
  local pid
  if ! pid=$(running_pid); then say "not running"; rm -f "$pid_file"; return; fi
  kill -TERM "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then say "still running after 30 s: killing"; kill -KILL "$pid"; fi
  rm -f "$pid_file"
  say "stopped"
}

tool() {
  local main=$1; shift
  resolve
  mkdir -p "$data/logs" && render_conf
  local jhome flags
  jhome=$(java_home)
  mapfile -t flags < <(jvm_flags "$(java_major "$jhome/bin/java")" "${SEAM_PULSAR_TOOLS_LOG:-$data/logs/tools.log}" -Xmx512m)
  exec "$jhome/bin/java" "${flags[@]}" -cp "$lib/*" "$main" "$@"
}

case "${1:-}" in
  resolve) resolve ;;
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) if healthy; then echo "healthy at $web_url"; else echo "not healthy"; exit 1; fi ;;
  wipe) stop; rm -rf "$data"; say "data deleted" ;;
  java-home) java_home ;;
  admin) shift; tool org.apache.pulsar.admin.cli.PulsarAdminTool "$data/client.conf" "$@" ;;
  client) shift; tool org.apache.pulsar.client.cli.PulsarClientTool "$data/client.conf" "$@" ;;
  perf) shift; tool org.apache.pulsar.testclient.PulsarPerfTestTool "$data/client.conf" "$@" ;;
  token)
    shift
    [ "$auth" = token ] || die "token needs SEAM_PULSAR_AUTH=token"
    [ $# -ge 1 ] || die "usage: pulsar.sh token ROLE [--expiry-time 1h]"
    resolve && make_auth
    role=$1; shift
    tokens create --secret-key "file://$auth_dir/secret.key" --subject "$role" "$@" ;;
  *) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
