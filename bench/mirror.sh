#!/usr/bin/env bash
# The pull-through cache beside Distribution 2.8 in proxy mode (bench/mirror.ts says what it measures):
#
#   flock /tmp/berth-bench.lock bash bench/mirror.sh      (about 10 minutes with RUNS=3)
#
# Ports 5601, 5602, 5610, 5620 must be free. Knobs: RUNS (3), WORK (/tmp/berth-bench/mirror),
# LAYER_MB (50) and LAYERS (4): the image is LAYERS x LAYER_MB, CLIENTS (20) concurrent cold pulls,
# UPSTREAM_MBS: the upstream link's bandwidth in MB/s. Two runs by default: loopback (unlimited: the
# mirror's own CPU decides) and a 100 MB/s link (an upstream across a network, as Docker Hub is).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v docker-registry >/dev/null || { apt-get update -qq && apt-get install -y -qq docker-registry >/dev/null; }
cd "$root"
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
export WORK="${WORK:-/tmp/berth-bench/mirror}"
mkdir -p "$WORK"
: >"$WORK/report.md"
for mbs in ${UPSTREAM_MBS:-0 100}; do
  npx tsx bench/mirror.ts --runs "${RUNS:-3}" --work "$WORK" --layer-mb "${LAYER_MB:-50}" --layers "${LAYERS:-4}" --clients "${CLIENTS:-20}" \
    --upstream-mbs "$mbs" --out "$WORK/mirror-$mbs.json" | tee -a "$WORK/report.md"
done
