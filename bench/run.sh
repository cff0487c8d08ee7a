#!/usr/bin/env bash
# Berth side by side with CNCF Distribution 2.8, from a fresh clone, in one command:
#
#   bench/run.sh            (about 15 minutes; RUNS=5 DUR=10 by default, as the shared kit)
#
# 1. builds Berth and starts it on a fresh data directory (127.0.0.1:5150, log level warn: Distribution
#    runs with its access log off, the same work for both);
# 2. runs the shared kit (../shared/bench/peer-baseline.sh, or $BENCH_KIT) against Distribution (which the
#    kit starts on :5100) and Berth, interleaved round by round;
# 3. runs the workloads the kit lacks (bench/extra.ts) against Berth and a second Distribution on :5101:
#    start-up with 10k and 100k tags, RSS during a 1 GB push, 20 concurrent pushes, and the kit's 210 MB
#    push back to back beside Node's own floor for it (bench/push-floor-server.ts on :5157 and :5158),
#    and the kit's catalog populate in interleaved batches on warm servers (bench/populate-batches.py);
# 4. prints the Berth/Distribution ratio table against the targets (bench/report.ts) and writes it to
#    $WORK/report.md.
# Knobs: RUNS, DUR, REPOS (as the kit), WORK (/tmp/berth-bench/bench), SKIP_KIT=1, SKIP_EXTRA=1; ports:
# PORT (the kit's Distribution, 5100), BERTH_PORT (5150), DIST_PORT (5101), STARTUP_PORT (5155), PUSH_PORT (5156),
# FLOOR_PORT (5157; the floor that also stores takes the next one).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kit="${BENCH_KIT:-$root/../shared/bench}"
export WORK="${WORK:-/tmp/berth-bench/bench}" IMAGES="${IMAGES:-/tmp/berth-bench/images}"
export RUNS="${RUNS:-5}" DUR="${DUR:-10}"
berth_port=${BERTH_PORT:-5150} dist_port=${DIST_PORT:-5101} startup_port=${STARTUP_PORT:-5155} push_port=${PUSH_PORT:-5156}
floor_port=${FLOOR_PORT:-5157}
mkdir -p "$WORK"

if [ ! -x "$kit/peer-baseline.sh" ]; then
  echo "bench: the shared benchmark kit is not at $kit (set BENCH_KIT)" >&2
  exit 2
fi
command -v docker-registry >/dev/null || { apt-get update -qq && apt-get install -y -qq docker-registry >/dev/null; }

cd "$root"
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_up() { for _ in $(seq 1 200); do curl -s -m 1 -o /dev/null "$1/v2/" && return 0; sleep 0.05; done; echo "bench: $1 did not start" >&2; exit 1; }
# Something already answering on a port would be benchmarked in our place: refuse.
port_free() { if curl -s -m 1 -o /dev/null "http://127.0.0.1:$1/"; then echo "bench: port $1 is in use; stop what listens there" >&2; exit 2; fi; }

if [ "${SKIP_KIT:-0}" != 1 ]; then
  port_free $berth_port
  rm -rf "$WORK/berth-data"
  # As users run it (`npx berth serve`): through the bin script, with the node flags of its shebang.
  bin/berth.js serve --host 127.0.0.1 --port $berth_port --data "$WORK/berth-data" --log-level warn >"$WORK/berth.log" 2>&1 &
  berth_pid=$!; pids+=("$berth_pid")
  wait_up "http://127.0.0.1:$berth_port"
  kill -0 "$berth_pid" 2>/dev/null || { echo "bench: berth exited: $(cat "$WORK/berth.log")" >&2; exit 1; }
  LABELS="distribution berth" "$kit/peer-baseline.sh" --with-distribution "http://127.0.0.1:$berth_port"
  kill "$berth_pid"; wait "$berth_pid" 2>/dev/null || true
fi

if [ "${SKIP_EXTRA:-0}" != 1 ]; then
  port_free $dist_port; port_free $startup_port; port_free $push_port; port_free $floor_port; port_free $((floor_port + 1))
  rm -rf "$WORK/dist2-data"; mkdir -p "$WORK/dist2-data"
  cat >"$WORK/distribution2.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $WORK/dist2-data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$dist_port
YML
  setsid docker-registry serve "$WORK/distribution2.yml" >"$WORK/distribution2.log" 2>&1 &
  dist_pid=$!; pids+=("$dist_pid")
  wait_up "http://127.0.0.1:$dist_port"
  npx tsx bench/extra.ts --distribution "http://127.0.0.1:$dist_port" --distribution-pid "$dist_pid" --kit "$kit" --work "$WORK" --out "$WORK/extra.json" --port "$push_port" --startup-port "$startup_port" --floor-port "$floor_port"
fi

npx tsx bench/report.ts --kit "$WORK/result.json" --extra "$WORK/extra.json" | tee "$WORK/report.md"
