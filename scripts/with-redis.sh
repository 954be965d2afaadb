#!/usr/bin/env bash
# Runs a command with REDIS_URL pointing at a private redis-server on a free loopback port, and
# stops that server (by its pid) afterwards, whatever happens.
#
#   scripts/with-redis.sh [--require] -- command args...
#
# If REDIS_URL is already set, the command runs against it and nothing is started.
# If no redis-server can run: with --require this fails; otherwise the command runs with REDIS_URL
# pointing at a closed port, so it exercises rcache's degraded behaviour, and a notice says so.
set -uo pipefail

require=0
while [ $# -gt 0 ]; do
  case "$1" in
    --require) require=1; shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--require] -- command..." >&2; exit 2; }

if [ -n "${REDIS_URL:-}" ]; then
  exec "$@"
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

dir=$(mktemp -d /tmp/rcache-with-redis-XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

port=""
if command -v redis-server >/dev/null 2>&1; then
  for _ in $(seq 1 20); do
    p=$(( 20000 + RANDOM % 25000 ))
    port_busy "$p" && continue
    redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
      --dir "$dir" --logfile "$dir/redis.log" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      port_busy "$p" && { port=$p; break; }
      sleep 0.05
    done
    [ -n "$port" ] && break
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""
  done
fi

if [ -n "$port" ]; then
  echo "with-redis: private redis-server pid $pid on 127.0.0.1:$port"
  export REDIS_URL="redis://127.0.0.1:$port/0"
else
  if [ $require -eq 1 ]; then
    echo "with-redis: could not start redis-server" >&2
    exit 1
  fi
  closed=$(( 20000 + RANDOM % 25000 ))
  echo "with-redis: NO redis-server could be started; running DEGRADED against closed port $closed"
  export REDIS_URL="redis://127.0.0.1:$closed/0"
fi
"$@"
