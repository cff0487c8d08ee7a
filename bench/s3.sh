#!/usr/bin/env bash
# Berth and CNCF Distribution 2.8 side by side on the same strict S3 server (OpenStack Swift + s3api,
# scripts/swift-s3.sh), as docs/benchmarks.md ("On S3") reports:
#
#   bench/s3.sh          (about 15 minutes; RUNS=3 DUR=5 by default)
#
# 1. starts Swift + s3api on 127.0.0.1:5300 (5300-5303) with a bucket for each registry;
# 2. starts Distribution (Debian's docker-registry 2.8, its s3 driver, redirects off so both registries
#    serve the bytes) on :5200 and Berth (bin/berth.js serve, BERTH_STORAGE_DRIVER=s3) on :5201;
# 3. runs the shared kit's registry_bench.py on both, interleaved round by round: skopeo push and pull of
#    the 210 MB image, manifest GET and HEAD blob under load, registry CPU per GB and per request;
# 4. measures Berth's RSS during a 1 GiB chunked push on S3 (bench/extra.ts rss1g, Berth on :5202), and the
#    cost of keeping an upload's hash state (bench/hash-state.ts);
# 5. writes $WORK/result.json, $WORK/extra.json, $WORK/hash.json.
# Knobs: RUNS, DUR, WORK, IMAGES, BENCH_KIT, SKIP_BUILD=1 (use dist/ as it is).
# Distribution is run with `env -u AWS_CA_BUNDLE`: this environment sets it, and its s3 driver panics on it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kit="${BENCH_KIT:-$root/../shared/bench}"
export WORK="${WORK:-/tmp/berth-bench/s3}" IMAGES="${IMAGES:-/tmp/berth-bench/images}"
RUNS="${RUNS:-3}" DUR="${DUR:-5}"
s3_port=5300 dist_port=5200 berth_port=5201 extra_port=5202
mkdir -p "$WORK"
need=()
for tool in docker-registry:docker-registry skopeo:skopeo wrk:wrk ab:apache2-utils curl:curl; do command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}"); done
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; fi
[ -x "$kit/registry_bench.py" ] || [ -f "$kit/registry_bench.py" ] || { echo "bench: the shared kit is not at $kit (set BENCH_KIT)" >&2; exit 2; }
[ -d "$IMAGES/big" ] || bash "$kit/make-images.sh" "$IMAGES"

cd "$root"
[ -d node_modules ] || npm ci --no-audit --no-fund
[ "${SKIP_BUILD:-0}" = 1 ] || npm run --silent build

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash scripts/swift-s3.sh stop "$WORK/swift" >/dev/null 2>&1 || true
}
trap cleanup EXIT
wait_up() { for _ in $(seq 1 400); do curl -s -m 1 -o /dev/null "$1/v2/" && return 0; sleep 0.05; done; echo "bench: $1 did not start" >&2; exit 1; }

rm -rf "$WORK/swift"
eval "$(bash scripts/swift-s3.sh start "$WORK/swift" $s3_port)"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
for b in dist-bench berth-bench; do bash scripts/swift-s3.sh create-bucket "$WORK/swift" $b; done

cat >"$WORK/distribution.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  s3:
    accesskey: $AWS_ACCESS_KEY_ID
    secretkey: $AWS_SECRET_ACCESS_KEY
    region: us-east-1
    regionendpoint: $S3_ENDPOINT
    bucket: dist-bench
    secure: false
    v4auth: true
    rootdirectory: /dist-$(date +%s)
  redirect:
    disable: true
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$dist_port
YML
env -u AWS_CA_BUNDLE setsid docker-registry serve "$WORK/distribution.yml" >"$WORK/distribution.log" 2>&1 &
dist_pid=$!; pids+=("$dist_pid")

export BERTH_STORAGE_DRIVER=s3 BERTH_STORAGE_S3_ENDPOINT="$S3_ENDPOINT" BERTH_STORAGE_S3_BUCKET=berth-bench BERTH_STORAGE_S3_FORCE_PATH_STYLE=true
BERTH_STORAGE_S3_PREFIX="run-$(date +%s)" bin/berth.js serve --host 127.0.0.1 --port $berth_port --data "$WORK/berth-data" --log-level warn >"$WORK/berth.log" 2>&1 &
berth_pid=$!; pids+=("$berth_pid")
wait_up "http://127.0.0.1:$dist_port"; wait_up "http://127.0.0.1:$berth_port"

python3 "$kit/registry_bench.py" --url "http://127.0.0.1:$dist_port" --url "http://127.0.0.1:$berth_port" \
  --pid "$dist_pid" --pid "$berth_pid" --label distribution-s3 --label berth-s3 \
  --images "$IMAGES" --work "$WORK/kit" --runs "$RUNS" --dur "$DUR" --repos 0 --json "$WORK/result.json" | tee "$WORK/result.txt"
kill "$berth_pid" "$dist_pid" 2>/dev/null || true

BERTH_STORAGE_S3_PREFIX="rss-$(date +%s)" npx tsx bench/extra.ts --only rss1g --port $extra_port --work "$WORK" --out "$WORK/extra.json"
npx tsx bench/hash-state.ts --endpoint "$S3_ENDPOINT" --bucket berth-bench | tee "$WORK/hash.json"
