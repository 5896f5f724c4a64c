#!/usr/bin/env bash
# A Docker engine for the Compose test, from Debian (DESIGN.md §4): installs docker.io,
# docker-compose (1.29) and debootstrap when absent, starts dockerd in the background when no engine
# answers, and waits for it. Idempotent: with an engine already answering it changes nothing.
#
# Exit 0: an engine answers (at $DOCKER_HOST, or the default socket). Exit 3: none could be had
# here (the reason is printed; the Compose test then skips with it). Other codes: a real failure.
#
# DOCKER_HOST=unix:///some/path.sock starts the engine on that socket instead of the default one,
# e.g. to keep it away from other programs on a shared machine that look for /var/run/docker.sock.
set -uo pipefail

log() { echo "== docker-engine: $*"; }
no_engine() { log "no Docker engine: $*"; exit 3; }

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
  log "an engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
  exit 0
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || no_engine "${missing[*]} missing, and installing needs root"
  command -v apt-get >/dev/null 2>&1 || no_engine "${missing[*]} missing, and no apt-get"
  log "installing ${missing[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } \
    || no_engine "apt-get install ${missing[*]} failed"
fi

[ "$(id -u)" = 0 ] || no_engine "dockerd is not running, and starting it needs root"

socket=/var/run/docker.sock
case "${DOCKER_HOST:-}" in
  "") ;;
  unix://*) socket=${DOCKER_HOST#unix://} ;;
  *) no_engine "DOCKER_HOST=$DOCKER_HOST does not answer, and only a unix socket can be started here" ;;
esac
rundir=$(dirname "$socket")
mkdir -p "$rundir"
pidfile=$rundir/dockerd.pid
logfile=/var/log/inspiration-dockerd.log
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  log "dockerd (pid $(cat "$pidfile")) runs but does not answer yet; waiting"
else
  log "starting dockerd on unix://$socket (log: $logfile)"
  # setsid: the engine outlives this script and is not in its process group.
  setsid dockerd -H "unix://$socket" -p "$pidfile" >>"$logfile" 2>&1 </dev/null &
fi
for _ in $(seq 1 60); do
  if engine_answers; then
    log "engine ready: $(docker version --format 'server {{.Server.Version}}, client {{.Client.Version}}' 2>/dev/null)"
    exit 0
  fi
  if [ -s "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    break
  fi
  sleep 1
done
tail -5 "$logfile" | sed 's/^/   dockerd: /'
no_engine "dockerd did not come up (see $logfile)"
