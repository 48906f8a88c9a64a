#!/usr/bin/env bash
# Azurite, Microsoft's Blob Storage emulator, for azblobstore's tests.
#
#   scripts/azurite.sh start   install (once) and start the blob service on a
#                              free loopback port; prints AZURITE_BLOB_URL=...
#   scripts/azurite.sh stop    stop the one start started
#
# It installs the pinned npm package azurite into
# ${AZURITE_HOME:-$HOME/.cache/eventattach-azurite} (needs node and npm, and
# the npm registry the first time), runs only the blob service, in memory
# (nothing on disk; all is lost when it stops), with telemetry off (it must
# send nothing anywhere), and writes AZURITE_BLOB_URL and AZURITE_PID to
# $AZURITE_HOME/run.env. The account is Azurite's dev account,
# devstoreaccount1, with its well-known key.
set -euo pipefail

AZURITE_VERSION=3.37.0
AZURITE_HOME=${AZURITE_HOME:-$HOME/.cache/eventattach-azurite}
run_env=$AZURITE_HOME/run.env
bin=$AZURITE_HOME/node_modules/.bin/azurite-blob

installed_version() {
  local pkg=$AZURITE_HOME/node_modules/azurite/package.json
  [ -f "$pkg" ] && node -p 'require(process.argv[1]).version' "$pkg" 2>/dev/null || true
}

stop() {
  [ -f "$run_env" ] || return 0
  local pid
  pid=$(sed -n 's/^AZURITE_PID=//p' "$run_env")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$run_env"
}

start() {
  command -v node >/dev/null || { echo "azurite.sh: node is not installed (apt-get install nodejs npm)" >&2; exit 1; }
  mkdir -p "$AZURITE_HOME"
  if [ "$(installed_version)" != "$AZURITE_VERSION" ]; then
    echo "azurite.sh: installing azurite@$AZURITE_VERSION into $AZURITE_HOME" >&2
    npm install --prefix "$AZURITE_HOME" --no-audit --no-fund --loglevel=error \
      "azurite@$AZURITE_VERSION" >&2
  fi
  stop # one Azurite per AZURITE_HOME

  # A free loopback port: the kernel picks one, node reports it.
  local port
  port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')

  local log=$AZURITE_HOME/azurite.log
  (cd "$AZURITE_HOME" && exec "$bin" --silent --disableTelemetry --inMemoryPersistence \
    --extentMemoryLimit 512 --blobHost 127.0.0.1 --blobPort "$port" \
    --skipApiVersionCheck --loose </dev/null >"$log" 2>&1) &
  local pid=$!
  local url=http://127.0.0.1:$port/devstoreaccount1

  # Up when it answers HTTP (any status: an unsigned request gets 403).
  local ok=
  for _ in $(seq 300); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    if curl -s -o /dev/null --max-time 1 "$url?comp=list"; then ok=1; break; fi
    sleep 0.1
  done
  if [ -z "$ok" ]; then
    echo "azurite.sh: Azurite did not answer on $url within 30 s; its log:" >&2
    cat "$log" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
  fi
  printf 'AZURITE_BLOB_URL=%s\nAZURITE_PID=%s\n' "$url" "$pid" >"$run_env"
  echo "AZURITE_BLOB_URL=$url"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
