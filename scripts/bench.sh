#!/usr/bin/env bash
# Issue 6's benchmarks, side by side: AddFile against raw net/http and a
# build-whole-body client (bench_test.go), and Upload against a raw PUT when
# upload_bench_test.go is there. Runs them, keeps the output, prints
# benchstat's table and the ratios against the issue's targets.
#
#   scripts/bench.sh                 # 5 rounds, in-process server
#   COUNT=10 scripts/bench.sh        # more samples
#   OUT=/tmp/b scripts/bench.sh      # where to keep bench.txt (default: a temp dir)
#   SERVER=proc scripts/bench.sh     # server in a child process: allocs are the client's alone
#   INTERLEAVE=0 scripts/bench.sh    # plain `-count $COUNT` per group instead of rounds
#
# A group is one `go test -bench` run of the benchmarks that share a
# benchtime: small (1000x), 3MB (30x), upload (2x). By default the groups run
# in COUNT interleaved rounds of -count 1, so a busy neighbour on the machine
# slows SDK and raw alike; INTERLEAVE=0 runs each group once with -count.
# Needs only Go; benchstat comes through the module proxy (`go run
# golang.org/x/perf/cmd/benchstat@latest`, outside this module: go.mod is
# not touched, and the script checks that).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
count=${COUNT:-5}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
raw=$out/bench.txt
: >"$raw"
export EVENTATTACH_BENCH_SERVER=${SERVER:-}

cd "$root"
gomod_before=$(sha256sum go.mod go.sum)

bin=$out/eventattach.test
go test -c -o "$bin" .

# name regexp, benchtime
groups=(
  'Benchmark(AddFile|RawNetHTTP)/small$|1000x'
  'Benchmark(AddFile|RawNetHTTP|BuildWholeBody)/3MB$|30x'
)
# (captured, not piped into grep -q: with pipefail, grep quitting early can
# fail the pipeline with SIGPIPE)
if [ -n "$("$bin" -test.list 'Benchmark(Upload100MiB|RawPUT100MiB)$')" ]; then
  groups+=('Benchmark(Upload100MiB|RawPUT100MiB)$|2x')
fi

run_group() { # $1 regexp, $2 benchtime, $3 count
  "$bin" -test.run '^$' -test.bench "$1" -test.benchtime "$2" -test.count "$3" -test.benchmem
}

if [ "${INTERLEAVE:-1}" = 1 ]; then
  echo "$count rounds of:"; c=1
else
  echo "once each:"; c=$count
fi
for g in "${groups[@]}"; do
  echo "  ${EVENTATTACH_BENCH_SERVER:+EVENTATTACH_BENCH_SERVER=$EVENTATTACH_BENCH_SERVER }$bin -test.run '^\$' -test.bench '${g%|*}' -test.benchtime ${g##*|} -test.count $c -test.benchmem"
done

start=$(date +%s)
{
  if [ "${INTERLEAVE:-1}" = 1 ]; then
    for ((i = 1; i <= count; i++)); do
      for g in "${groups[@]}"; do run_group "${g%|*}" "${g##*|}" 1; done
    done
  else
    for g in "${groups[@]}"; do run_group "${g%|*}" "${g##*|}" "$count"; done
  fi
} | tee -a "$raw" | grep -E '^(Benchmark|FAIL|panic|---)' || true
echo "benchmarks took $(($(date +%s) - start))s; output in $raw"
if grep -qE '^(FAIL|panic:|--- FAIL)' "$raw"; then
  echo "a benchmark failed" >&2
  exit 1
fi

echo
echo "== benchstat"
(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go run golang.org/x/perf/cmd/benchstat@latest "$raw") || echo "(benchstat unavailable; ratios below use medians)"

if [ "$gomod_before" != "$(sha256sum go.mod go.sum)" ]; then
  echo "WARNING: go.mod/go.sum changed while the script ran (by this script or by someone else): check git diff go.mod go.sum" >&2
fi

echo
echo "== ratios (medians of $count; targets from issue 6)"
awk -v payload3mb=$((3 << 20)) '
/^Benchmark/ {
  name = $1; sub(/-[0-9]+$/, "", name)
  for (i = 3; i < NF; i += 2) {
    unit = $(i + 1)
    if (unit == "ns/op" || unit == "B/op" || unit == "allocs/op" || unit == "conns/op") {
      n = ++cnt[name, unit]; val[name, unit, n] = $i; names[name] = 1
    }
  }
}
function median(name, unit,    n, i, j, t, a) {
  n = cnt[name, unit]
  if (n == 0) return -1
  for (i = 1; i <= n; i++) a[i] = val[name, unit, i] + 0
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function row(what, num, den, target, cmp,    r, ok) {
  if (num < 0 || den <= 0) { printf "%-44s %10s   (not measured)\n", what, "-"; return }
  r = num / den
  ok = (cmp == "<=") ? (r <= target) : (r >= target)
  printf "%-44s %10.3f   target %s %-5s %s\n", what, r, cmp, target, ok ? "ok" : "MISS"
  if (!ok) misses++
}
function info(what, num, den) {
  if (num < 0 || den <= 0) { printf "%-44s %10s   (not measured)\n", what, "-"; return }
  printf "%-44s %10.3f   (no target)\n", what, num / den
}
function show(name,    c) {
  if (!(name in names)) return
  c = median(name, "conns/op")
  printf "  %-34s %12.0f ns/op %12.0f B/op %8.0f allocs/op %s\n", name, median(name, "ns/op"), median(name, "B/op"), median(name, "allocs/op"), c < 0 ? "" : sprintf("%6.3f conns/op", c)
}
END {
  print "medians:"
  show("BenchmarkAddFile/small"); show("BenchmarkRawNetHTTP/small")
  show("BenchmarkAddFile/3MB"); show("BenchmarkRawNetHTTP/3MB"); show("BenchmarkBuildWholeBody/3MB")
  show("BenchmarkUpload100MiB"); show("BenchmarkRawPUT100MiB")
  print ""
  row("small: time sdk/raw", median("BenchmarkAddFile/small", "ns/op"), median("BenchmarkRawNetHTTP/small", "ns/op"), 1.5, "<=")
  row("small: allocs sdk/raw", median("BenchmarkAddFile/small", "allocs/op"), median("BenchmarkRawNetHTTP/small", "allocs/op"), 1.6, "<=")
  info("small: B/op sdk/raw", median("BenchmarkAddFile/small", "B/op"), median("BenchmarkRawNetHTTP/small", "B/op"))
  row("3MB: B/op sdk / payload", median("BenchmarkAddFile/3MB", "B/op"), payload3mb, 0.10, "<=")
  row("3MB: time sdk/raw", median("BenchmarkAddFile/3MB", "ns/op"), median("BenchmarkRawNetHTTP/3MB", "ns/op"), 1.3, "<=")
  row("3MB: time build-whole-body/sdk", median("BenchmarkBuildWholeBody/3MB", "ns/op"), median("BenchmarkAddFile/3MB", "ns/op"), 3, ">=")
  info("3MB: allocs sdk/raw", median("BenchmarkAddFile/3MB", "allocs/op"), median("BenchmarkRawNetHTTP/3MB", "allocs/op"))
  info("3MB: B/op sdk/raw", median("BenchmarkAddFile/3MB", "B/op"), median("BenchmarkRawNetHTTP/3MB", "B/op"))
  if ("BenchmarkUpload100MiB" in names) {
    info("100MiB upload: time sdk/raw PUT", median("BenchmarkUpload100MiB", "ns/op"), median("BenchmarkRawPUT100MiB", "ns/op"))
    info("100MiB upload: B/op sdk / payload", median("BenchmarkUpload100MiB", "B/op"), 100 * 1048576)
  }
  for (k in names) if (median(k, "conns/op") > 0.5) printf "note: %s opened a new connection on most calls (%.2f conns/op)\n", k, median(k, "conns/op")
  printf "\n%d target(s) missed\n", misses
}' "$raw"
