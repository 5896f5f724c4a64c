#!/usr/bin/env bash
# Builds the images the Compose test needs on a machine that can pull none (DESIGN.md §4):
#
#   inspiration-ci/debian:<hash>     Debian 12 minbase from debootstrap + `docker import`
#   inspiration-ci/python:<hash>     Debian's python3 with `python`, venv and pip, also tagged
#                                    python:3.11.13-slim-bookworm (the Dockerfile's FROM) unless a
#                                    real image of that name is present
#   inspiration-ci/mongo:<hash>      SecantusDB (MongoDB wire protocol) in a container
#   inspiration-ci/rabbitmq:<hash>   Debian's rabbitmq-server with the management plugin
#   inspiration-ci/mailpit:<hash>    an SMTP server that keeps the mails, Mailpit's HTTP API subset
#
# Each image is tagged by a hash of its build inputs (this script's stage, the files in
# images/<name>/, the CA bundle copied in, the image below it), so a second run on the same machine
# builds nothing. Prints the tags as shell assignments at the end (STANDIN_*=...), also written to
# $STANDIN_ENV_FILE when that is set.
#
# Usage: bash tests/compose/build-images.sh        (root, a running Docker engine, debootstrap)
# Exit 3: a prerequisite is missing (no engine, not root, no debootstrap): nothing can be built here.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMAGES="$HERE/images"
SUITE=bookworm
PYTHON_TAG=python:3.11.13-slim-bookworm   # the Dockerfile's FROM
LABEL=org.inspiration-talks.ci.inputs
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
export DOCKER_BUILDKIT=0                  # the classic builder never asks a registry for a local base

log() { echo "== build-images: $*" >&2; }
cannot() { echo "build-images: $*" >&2; exit 3; }

docker info >/dev/null 2>&1 || cannot "no Docker engine answers"

# The Debian mirror this machine uses (deb822 sources first, then sources.list).
mirror() {
  local m=""
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
    m=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

hash_of() { sha256sum | cut -c1-16; }

exists() { docker image inspect "$1" >/dev/null 2>&1; }

label_of() { docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true; }

# Remove the other tags of REPO (builds from older inputs), so a long-lived machine keeps one of each.
drop_older() {
  local repo=$1 keep=$2 old
  for old in $(docker images "$repo" --format '{{.Repository}}:{{.Tag}}'); do
    if [ "$old" != "$keep" ]; then docker rmi "$old" >/dev/null 2>&1 || true; fi
  done
}

# --- base: debootstrap minbase, imported -----------------------------------------------------------
# Bump BASE_STAGE to force a new base (e.g. monthly, for security updates).
BASE_STAGE="debootstrap --variant=minbase $SUITE v1"
base_hash=$(printf '%s\n' "$BASE_STAGE" | hash_of)
BASE=inspiration-ci/debian:$SUITE-$base_hash
if exists "$BASE"; then
  log "$BASE cached"
else
  command -v debootstrap >/dev/null || cannot "debootstrap is missing (apt-get install debootstrap)"
  [ "$(id -u)" = 0 ] || cannot "debootstrap needs root"
  rootfs=$(mktemp -d /var/tmp/inspiration-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  log "debootstrap $SUITE from $(mirror) (a few minutes, once per machine)"
  debootstrap --variant=minbase "$SUITE" "$rootfs" "$(mirror)" >/tmp/inspiration-debootstrap.log 2>&1 \
    || { tail -20 /tmp/inspiration-debootstrap.log >&2; exit 1; }
  # The same package sources as the host (updates and security included).
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    rm -f "$rootfs/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/debian.sources"
  fi
  # Small and reproducible: no package lists, no downloaded .debs, no docs, no recommends.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  cat >"$rootfs/etc/apt/apt.conf.d/90inspiration-ci" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/90inspiration-ci" <<'DPKG'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
DPKG
  log "importing $BASE"
  tar --numeric-owner -C "$rootfs" -c . | docker import --change "LABEL $LABEL=$base_hash" \
    --change 'CMD ["bash"]' - "$BASE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
  drop_older inspiration-ci/debian "$BASE"
fi

# --- stand-ins: a Dockerfile per folder under images/, built on the base (or on python) ------------
# build NAME FROM: context = images/NAME + the host's CA bundle (as host-ca.crt); prints the tag.
build() {
  local name=$1 from=$2 tag inputs ctx
  inputs=$( { docker image inspect --format '{{.Id}}' "$from"; sha256sum "$CA_BUNDLE" | cut -d' ' -f1;
              (cd "$IMAGES/$name" && find . -type f | LC_ALL=C sort | xargs sha256sum); } | hash_of)
  tag=inspiration-ci/$name:$inputs
  if exists "$tag" && [ "$(label_of "$tag")" = "$inputs" ]; then
    log "$tag cached"
    echo "$tag"
    return
  fi
  ctx=$(mktemp -d /var/tmp/inspiration-ctx.XXXXXX)
  cp -R "$IMAGES/$name/." "$ctx/"
  cp "$CA_BUNDLE" "$ctx/host-ca.crt"
  log "building $tag"
  if ! docker build --quiet --build-arg "BASE=$from" --label "$LABEL=$inputs" -t "$tag" "$ctx" \
      >/tmp/inspiration-build-"$name".log 2>&1; then
    tail -30 /tmp/inspiration-build-"$name".log >&2
    rm -rf "$ctx"
    exit 1
  fi
  rm -rf "$ctx"
  drop_older "inspiration-ci/$name" "$tag"
  echo "$tag"
}

python_tag=$(build python "$BASE")
# The project's Dockerfile builds FROM $PYTHON_TAG unchanged: give our stand-in that name, unless a
# real image of that name is present (a machine that could pull it), which then is used as it is.
if exists "$PYTHON_TAG" && [ -z "$(label_of "$PYTHON_TAG")" ]; then
  log "$PYTHON_TAG is present and not one of ours: the project's image builds on it"
else
  docker tag "$python_tag" "$PYTHON_TAG"
fi
mongo_tag=$(build mongo "$python_tag")
rabbitmq_tag=$(build rabbitmq "$BASE")
mailpit_tag=$(build mailpit "$python_tag")

assignments="STANDIN_PYTHON=$python_tag
STANDIN_MONGO=$mongo_tag
STANDIN_RABBITMQ=$rabbitmq_tag
STANDIN_MAILPIT=$mailpit_tag"
echo "$assignments"
if [ -n "${STANDIN_ENV_FILE:-}" ]; then
  echo "$assignments" >"$STANDIN_ENV_FILE"
fi
