#!/usr/bin/env bash
# How many of the root package's functions, and in how many files, one
# AddFile with a 503 retry, one AddFile reconciled after a 504, and one
# upload with a chunk reset run through: coverage of each trace test alone.
# Also the root package's non-test lines (without blank and comment lines).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in TestTraceAddFileAfterA503 TestTraceAddFileReconciledAfterA504 TestTraceUploadChunkReset; do
  go test -count=1 -run "^$t\$" -coverprofile="$tmp/$t.out" . >/dev/null
  go tool cover -func="$tmp/$t.out" | grep -v '^total' | awk '$NF != "0.0%"' >"$tmp/$t.func"
  funcs=$(wc -l <"$tmp/$t.func")
  files=$(cut -d: -f1 "$tmp/$t.func" | sort -u | wc -l)
  printf '%-40s %3d functions in %2d files\n' "$t" "$funcs" "$files"
done
lines=$(cat $(ls *.go | grep -v '_test.go$') | grep -v '^\s*$' | grep -v '^\s*//' | wc -l)
echo "root non-test lines (no blank or comment lines): $lines"
