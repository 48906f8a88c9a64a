#!/usr/bin/env bash
# Issue 14's must-show: examples/largefile killed with SIGKILL mid-upload
# resumes on its next run from its saved state.
#
#   scripts/resume-largefile.sh
#
# It starts a graphtest emulator in its own process (graphtest/cmd/graphtest,
# with a latency on every chunk so the upload takes a few seconds), uploads a
# 20 MiB file with `largefile -state`, kills the upload with SIGKILL once
# the state file shows acknowledged bytes, runs largefile again with the
# same state file, and checks what the emulator holds: one attachment whose
# sha256 is the file's, with at most the file plus one chunk sent in all.
# Needs Go only; runs offline.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'kill $gt 2>/dev/null || true; rm -rf "$tmp"' EXIT

cd "$root"
go build -o "$tmp/graphtest" ./graphtest/cmd/graphtest
(cd examples/largefile && go build -o "$tmp/largefile" .)
size=$((20 << 20))
chunk=$((12 * 320 * 1024)) # DefaultChunkSize
head -c "$size" /dev/urandom >"$tmp/recording.bin"
want=$(sha256sum "$tmp/recording.bin" | cut -d' ' -f1)

"$tmp/graphtest" -users adele@contoso.com -events AAMkResumeDemo= -chunk-latency 400ms >"$tmp/gt.out" 2>"$tmp/gt.err" &
gt=$!
for _ in $(seq 100); do grep -q GRAPH_EVENT_ID "$tmp/gt.out" 2>/dev/null && break; sleep 0.1; done
set -a; eval "$(grep -E '^(EVENTATTACH_BASE_URL|EVENTATTACH_TOKEN|GRAPH_USER|GRAPH_EVENT_ID)=' "$tmp/gt.out")"; set +a

state="$tmp/recording.upload.json"
"$tmp/largefile" -file "$tmp/recording.bin" -state "$state" >"$tmp/run1.out" 2>&1 &
run1=$!
# Wait for a checkpoint past the first chunk, then kill without warning.
for _ in $(seq 300); do
  acked=$(grep -o '"acked":[0-9]*' "$state" 2>/dev/null | cut -d: -f2 || true)
  [ -n "${acked:-}" ] && [ "$acked" -gt 0 ] && break
  sleep 0.05
done
kill -9 "$run1"
wait "$run1" 2>/dev/null || true
[ -n "${acked:-}" ] && [ "$acked" -gt 0 ] || { cat "$tmp/run1.out"; echo "FAIL: no checkpoint before the kill"; exit 1; }
echo "killed the first run (SIGKILL) with $acked of $size bytes acknowledged"
grep -q '"uploadUrl"' "$state" || { echo "FAIL: no saved state"; exit 1; }

"$tmp/largefile" -file "$tmp/recording.bin" -state "$state" | tee "$tmp/run2.out" | grep -v '%)$' || true
grep -q "resuming" "$tmp/run2.out" || { echo "FAIL: the second run did not resume"; exit 1; }
grep -q "sha256 matches: true" "$tmp/run2.out" || { echo "FAIL: downloaded bytes differ"; exit 1; }
[ ! -e "$state" ] || { echo "FAIL: the state file was left behind"; exit 1; }

kill -TERM "$gt"
wait "$gt" || true
eval "$(grep -E '^(ATTACHMENTS|SHA256|PUT_BYTES)=' "$tmp/gt.out")"
echo "emulator: attachments=$ATTACHMENTS put-bytes=$PUT_BYTES (file $size, limit $((size + chunk)))"
[ "$ATTACHMENTS" = 1 ] || { echo "FAIL: $ATTACHMENTS attachments"; exit 1; }
[ "$SHA256" = "$want" ] || { echo "FAIL: stored sha256 $SHA256, want $want"; exit 1; }
[ "$PUT_BYTES" -le $((size + chunk)) ] || { echo "FAIL: $PUT_BYTES bytes sent, more than the file and one chunk"; exit 1; }
echo "resume: ok"
