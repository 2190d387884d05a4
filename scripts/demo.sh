#!/usr/bin/env bash
# The README's run command (after npm install). For now it brings a real Pulsar standalone
# up and shows it serving: the official client writes and reads a topic, and the admin API
# shows its segments. Pulsar keeps running afterwards; 'npm run pulsar stop' stops it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bash "$root/scripts/setup.sh"
bash "$pulsar" start

topic=persistent://public/default/seam-hello
official="$root/test/support/official.py"
echo "== producing 10000 messages of 100 B to $topic with the official Python client"
"$python" "$official" produce "$topic" --count 10000 --size 100 --keys 10 --compression LZ4 | tail -n 1 |
  sed 's/^/last message id: /'
echo "== reading the topic back with the official reader"
"$python" "$official" read "$topic" | wc -l | sed 's/^/messages in the topic: /'
echo "== the topic's segments (ledgers), from the managed-ledger metadata"
curl -sf "http://127.0.0.1:${SEAM_PULSAR_WEB_PORT:-8080}/admin/v2/persistent/public/default/seam-hello/internalStats" |
  node -e '
    const s = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
    for (const l of s.ledgers) console.log(`ledger ${l.ledgerId}: ${l.entries || s.currentLedgerEntries} entries, ${l.size || s.currentLedgerSize} bytes${l.entries ? "" : " (open)"}`);
    console.log(`${s.entriesAddedCounter} entries in all; last confirmed entry ${s.lastConfirmedEntry}`);'
echo "Pulsar keeps running at pulsar://127.0.0.1:${SEAM_PULSAR_BROKER_PORT:-6650}; stop it with: npm run pulsar stop"
