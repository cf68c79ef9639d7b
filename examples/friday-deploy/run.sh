#!/usr/bin/env bash
# Replays the Friday deploy through the gate, offline.
#
# Production runs support-assistant v14. A pull request brings v15: a newer
# model snapshot and two edited prompt sentences. This script builds that
# pull request as a throwaway git repo (base commit: v14; working tree: v15)
# and runs `promptgate gate` on it with the example's recorded responses,
# so it needs no API key and no network. The gate fails (exit 1), as it
# should: escalation regresses and cost per case rises.
#
# Extra arguments go to `promptgate gate`, e.g. --format json.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
example="$root/examples/support-assistant"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp -R "$example/." "$work/"
cp "$root/examples/friday-deploy/support-assistant.v14.yaml" "$work/artifacts/support-assistant.yaml"
cp "$root/examples/friday-deploy/production.v14.yaml" "$work/environments/production.yaml"
git -C "$work" init -q -b main
git -C "$work" add -A
git -C "$work" -c user.name=example -c user.email=example@localhost -c commit.gpgsign=false commit -qm "support-assistant v14"
cp "$example/artifacts/support-assistant.yaml" "$work/artifacts/support-assistant.yaml"
cp "$example/environments/production.yaml" "$work/environments/production.yaml"

bin="${PROMPTGATE:-}"
if [ -z "$bin" ]; then
  bin="$work/.promptgate"
  (cd "$root" && go build -o "$bin" ./cmd/promptgate)
fi
code=0
"$bin" gate --repo "$work" --base main --offline --cache "$work/.cache.db" "$@" || code=$?
exit "$code"
