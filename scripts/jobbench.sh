#!/usr/bin/env bash
# Issue 15: how a whole attachment job fares against Outlook's per-mailbox
# limits, as graphtest models them (4 concurrent requests, 10,000 requests
# per 10 minutes, 150 MiB of PATCH/POST/PUT bodies per 5 minutes, each
# answering 429 ApplicationThrottled with a Retry-After), with its latency
# model (graphtest.DefaultLatency: 150 ms per Graph request + 100 ms per MiB
# of body, 100 ms per upload PUT + 100 ms per MiB, ±25 % seeded jitter), all
# at a TimeScale so the 5-minute windows pass in seconds.
#
# The job: N attachments (80 % of 1–200 KB, 15 % of 1–3 MB, 5 % of 5–40 MB,
# decimal units, seeded) across M mailboxes with W workers, worker i
# attaching mailbox (i mod M)'s files. Under 3 MiB a file is one POST (its
# content base64 in JSON), from 3 MiB an upload session: createUploadSession
# and 3.75 MiB chunk PUTs. Run in turn, each against a fresh server:
#   sdk      eventattach's Upload with the default ClientOptions (the budgets'
#            windows scaled like the server's time);
#   raw      plain net/http, the same requests, each 429/503 sent again
#            after its Retry-After;
#   msgraph  msgraph-sdk-go (scripts/msgraphjob, a module of its own), built
#            here unless MSGRAPH=0; it is left out if it does not build.
# Each run's time is wall time × TimeScale (model time); its 429s are those
# the server answered; every stored file's bytes are checked.
#
# The bound (model time) is the largest, over mailboxes, of
#   latency:  Σ model latency (no jitter) of the mailbox's requests / min(4, its workers)
#   chain:    the longest file's requests one after another
#   bytes:    (⌈B/150 MiB⌉ − 1) × 5 min + the last part's per-MiB time / 4 (B: its body bytes)
#   requests: (⌈R/10,000⌉ − 1) × 10 min (R: its requests)
# counting only the requests any client must send (the base64 content of a
# POST, the chunks of a session). With real CPU under a scaled clock, a run
# also pays its wall-clock work × TimeScale: the default job is bound by the
# byte budget, where that is small.
#
#   scripts/jobbench.sh                     # N=1600 M=4 W=32 SCALE=30
#   N=400 M=2 W=8 scripts/jobbench.sh
#   MSGRAPH=0 scripts/jobbench.sh           # skip msgraph-sdk-go
#   RSS=1 scripts/jobbench.sh               # only the memory check: 32 workers × 40 MiB
#   PROCS=1,4 scripts/jobbench.sh           # the sdk job split across K processes (see below)
#
# The last line is `job: sdk/bound R, 429s N`.
#
# PROCS (a comma list of K) runs only the SDK, once per K, against a fresh
# server in this process: the job split across K processes (jobbench
# -child), each its own Client with W/K workers on all M mailboxes, so each
# mailbox is hit by K clients that know nothing of each other, as replicas
# of a worker are. It prints one line per K, `job K=k: sdk/bound R, 429s
# N`; the bound is the same job's. About 45 s (K=1) and 80 s (K=4) here.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

go build -o "$out/jobbench" ./scripts/jobbench

if [ -n "${PROCS:-}" ]; then
  "$out/jobbench" -procs "$PROCS" -n "${N:-1600}" -m "${M:-4}" -w "${W:-32}" -scale "${SCALE:-30}" -seed "${SEED:-1}"
  exit 0
fi

if [ "${RSS:-0}" = 1 ]; then
  # The SDK uploads 2 files of 40 MiB per worker to a graphtest in a child
  # process; the client's peak RSS (its own VmHWM: /usr/bin/time would count
  # the server child, which keeps every file) must stay under workers × 2
  # chunks + 32 MiB.
  "$out/jobbench" -rss -w "${W:-32}" -m "${M:-8}"
  exit 0
fi

msgraph=()
if [ "${MSGRAPH:-1}" != 0 ]; then
  echo "building scripts/msgraphjob (msgraph-sdk-go; the first build takes minutes)..." >&2
  if (cd scripts/msgraphjob && go build -o "$out/msgraphjob" .) >"$out/msgraph-build.txt" 2>&1; then
    msgraph=(-msgraph "$out/msgraphjob")
  else
    echo "msgraph-sdk-go did not build; left out:" >&2
    tail -5 "$out/msgraph-build.txt" >&2
  fi
fi

"$out/jobbench" -n "${N:-1600}" -m "${M:-4}" -w "${W:-32}" -scale "${SCALE:-30}" -seed "${SEED:-1}" "${msgraph[@]}"
