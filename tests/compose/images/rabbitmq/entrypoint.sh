#!/bin/sh
# Writes rabbitmq.conf from the environment, then runs the server as PID 1 (SIGTERM stops it).
set -eu
{
  echo "loopback_users = none"
  echo "listeners.tcp.default = 5672"
  echo "management.tcp.port = 15672"
  if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then echo "default_user = $RABBITMQ_DEFAULT_USER"; fi
  if [ -n "${RABBITMQ_DEFAULT_PASS:-}" ]; then echo "default_pass = $RABBITMQ_DEFAULT_PASS"; fi
} >/etc/rabbitmq/rabbitmq.conf
exec "$@"
