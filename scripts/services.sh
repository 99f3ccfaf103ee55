#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis that the storage tests use are running on this machine.
# Starts them where they are installed but stopped; under CI=true a service that cannot be
# reached is an error (the tests then fail rather than skip).
set -u
pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }

if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! redis_up && command -v redis-server >/dev/null 2>&1; then
  echo "services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
for _ in $(seq 1 30); do pg_up && redis_up && break; sleep 0.5; done
status=0
pg_up || { echo "services: PostgreSQL is not reachable on 127.0.0.1:5432"; status=1; }
redis_up || { echo "services: Redis is not reachable on 127.0.0.1:6379"; status=1; }
if [ "$status" -ne 0 ] && [ "${CI:-}" = "true" ]; then exit 1; fi
exit 0
