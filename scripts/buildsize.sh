#!/usr/bin/env bash
# Build cost of the SDK (issue 6): a one-call program using eventattach
# against one that imports only azidentity and go-retryablehttp and does a
# comparable call by hand. Each is cold-built with a fresh GOCACHE (the
# standard library is rebuilt too, as on a fresh CI machine) while
# GOMODCACHE is kept, so no download is timed. Prints times, binary sizes
# and the ratios against the targets (time <= 1.2x, size <= 1.1x).
#
#   scripts/buildsize.sh            # REPS=1 cold build of each, alternating
#   REPS=3 scripts/buildsize.sh     # medians of 3
#   KEEP=1 scripts/buildsize.sh     # keep the temp dir (programs, binaries)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reps=${REPS:-1}
work=$(mktemp -d)
if [ "${KEEP:-}" != 1 ]; then trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT; fi
azidentity_version=${AZIDENTITY_VERSION:-v1.15.0}
module=$(awk '/^module /{print $2; exit}' "$root/go.mod")
go_directive=$(awk '/^go /{print $2; exit}' "$root/go.mod")
retry_version=$(awk '$1=="github.com/hashicorp/go-retryablehttp"{print $2; exit}' "$root/go.mod")
azcore_version=$(awk '$1=="github.com/Azure/azure-sdk-for-go/sdk/azcore"{print $2; exit}' "$root/go.mod")

mkdir -p "$work/sdk" "$work/raw"

cat >"$work/sdk/main.go" <<'GO'
// One AddFile through the SDK.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/eventattach/eventattach"
)

func main() {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c, err := eventattach.NewClient(cred, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	att, err := c.Me().Events("e").Attachments().AddFile(context.Background(),
		&eventattach.FileAttachment{Name: "menu.txt", ContentType: "text/plain", ContentBytes: []byte("mac and cheese today")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(att.ID)
}
GO

cat >"$work/raw/main.go" <<'GO'
// The same AddFile by hand: azidentity for the token, go-retryablehttp for
// retries, encoding/json for the body and the answer.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/hashicorp/go-retryablehttp"
)

type fileAttachment struct {
	ODataType            string    `json:"@odata.type"`
	ID                   string    `json:"id,omitempty"`
	Name                 string    `json:"name"`
	ContentType          string    `json:"contentType,omitempty"`
	Size                 int64     `json:"size,omitempty"`
	IsInline             bool      `json:"isInline"`
	LastModifiedDateTime time.Time `json:"lastModifiedDateTime,omitzero"`
	ContentBytes         []byte    `json:"contentBytes"`
}

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return err
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		return err
	}
	body, err := json.Marshal(fileAttachment{ODataType: "#microsoft.graph.fileAttachment", Name: "menu.txt", ContentType: "text/plain", ContentBytes: []byte("mac and cheese today")})
	if err != nil {
		return err
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, "https://graph.microsoft.com/v1.0/me/events/e/attachments", body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("client-request-id", fmt.Sprintf("%x", time.Now().UnixNano()))
	req.Header.Set("User-Agent", "raw/1")
	rc := retryablehttp.NewClient()
	rc.Logger = nil
	resp, err := rc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	var out fileAttachment
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	fmt.Println(out.ID)
	return nil
}
GO

cat >"$work/sdk/go.mod" <<GOMOD
module buildsize/sdk

go $go_directive

require (
	github.com/Azure/azure-sdk-for-go/sdk/azidentity $azidentity_version
	$module v0.0.0
)

replace $module => $root
GOMOD

cat >"$work/raw/go.mod" <<GOMOD
module buildsize/raw

go $go_directive

// azcore at the SDK's version, so both programs build the same dependencies
require (
	github.com/Azure/azure-sdk-for-go/sdk/azcore $azcore_version
	github.com/Azure/azure-sdk-for-go/sdk/azidentity $azidentity_version
	github.com/hashicorp/go-retryablehttp $retry_version
)
GOMOD

# Resolve both modules from the module cache (no network); fall back to the
# proxy once if something is missing, and fetch every source the build needs
# (go list -deps) now: nothing of this is timed.
for p in sdk raw; do
  (cd "$work/$p" && { GOFLAGS=-mod=mod GOPROXY=off go mod tidy 2>/dev/null || GOFLAGS=-mod=mod go mod tidy; } \
     && GOFLAGS=-mod=mod go list -deps . >/dev/null)
done

# STDWARM=1: also time builds whose GOCACHE already holds the standard
# library (seeded once, copied per build): the cost of the third-party code.
if [ "${STDWARM:-}" = 1 ]; then
  std=$( (cd "$work/sdk" && GOFLAGS=-mod=mod go list -deps -f '{{if .Standard}}{{.ImportPath}}{{end}}' .;
          cd "$work/raw" && GOFLAGS=-mod=mod go list -deps -f '{{if .Standard}}{{.ImportPath}}{{end}}' .) | sort -u)
  (cd "$work/sdk" && GOCACHE=$work/stdcache go build $std)
fi

now() { date +%s.%N; }
build() { # $1 = sdk|raw, $2 = rep, $3 = seed cache or ""; prints seconds
  local dir=$work/$1 cache=$work/gocache-$1-$2
  rm -rf "$cache"
  if [ -n "${3:-}" ]; then cp -a "$3" "$cache"; fi
  local t0 t1
  t0=$(now)
  (cd "$dir" && GOCACHE=$cache GOFLAGS=-mod=mod go build -o "$work/$1.bin" .) >&2
  t1=$(now)
  # the stripped size too (-s -w), for reference
  [ -n "${3:-}" ] || (cd "$dir" && GOCACHE=$cache GOFLAGS=-mod=mod go build -ldflags='-s -w' -o "$work/$1.stripped" .) >&2
  chmod -R u+w "$cache" 2>/dev/null; rm -rf "$cache"
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f\n", b-a}'
}

median() { sort -n | awk '{v[NR]=$1} END{ if (NR%2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2 }'; }

echo "go: $(go version)"
echo "module: $module at $root"
echo "azidentity $azidentity_version, go-retryablehttp $retry_version; $reps cold build(s) of each, alternating"
sdk_times=() raw_times=()
for ((i = 1; i <= reps; i++)); do
  r=$(build raw "$i"); raw_times+=("$r")
  s=$(build sdk "$i"); sdk_times+=("$s")
  echo "rep $i: raw ${r}s  sdk ${s}s"
done
ws=0 wr=0
if [ "${STDWARM:-}" = 1 ]; then
  sdk_w=() raw_w=()
  for ((i = 1; i <= reps; i++)); do
    r=$(build raw "w$i" "$work/stdcache"); raw_w+=("$r")
    s=$(build sdk "w$i" "$work/stdcache"); sdk_w+=("$s")
    echo "rep $i, std already built: raw ${r}s  sdk ${s}s"
  done
  ws=$(printf '%s\n' "${sdk_w[@]}" | median)
  wr=$(printf '%s\n' "${raw_w[@]}" | median)
fi
ts=$(printf '%s\n' "${sdk_times[@]}" | median)
tr=$(printf '%s\n' "${raw_times[@]}" | median)
ss=$(stat -c %s "$work/sdk.bin"); sr=$(stat -c %s "$work/raw.bin")
sss=$(stat -c %s "$work/sdk.stripped"); srs=$(stat -c %s "$work/raw.stripped")
sdk_pkgs=$(cd "$work/sdk" && GOFLAGS=-mod=mod go list -deps . | wc -l)
raw_pkgs=$(cd "$work/raw" && GOFLAGS=-mod=mod go list -deps . | wc -l)

awk -v ws="$ws" -v wr="$wr" -v ts="$ts" -v tr="$tr" -v ss="$ss" -v sr="$sr" -v sss="$sss" -v srs="$srs" -v sp="$sdk_pkgs" -v rp="$raw_pkgs" 'BEGIN {
  printf "\n%-28s %12s %12s %8s %8s %s\n", "", "sdk", "raw", "ratio", "target", "verdict"
  printf "%-28s %11.2fs %11.2fs %8.3f %8s %s\n", "cold build (fresh GOCACHE)", ts, tr, ts/tr, "<=1.2", (ts/tr <= 1.2 ? "ok" : "MISS")
  if (wr > 0) printf "%-28s %11.2fs %11.2fs %8.3f %8s\n", "build, std already cached", ws, wr, ws/wr, "-"
  printf "%-28s %12d %12d %8.3f %8s %s\n", "binary bytes", ss, sr, ss/sr, "<=1.1", (ss/sr <= 1.1 ? "ok" : "MISS")
  printf "%-28s %12d %12d %8.3f %8s\n", "binary bytes (-s -w)", sss, srs, sss/srs, "-"
  printf "%-28s %12d %12d %8.3f %8s\n", "packages (go list -deps)", sp, rp, sp/rp, "-"
}'
if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; fi
