#!/usr/bin/env bash
# Start N CNN Explorer replicas (Streamlit) and nginx in front of them with sticky sessions.
#
#   bash deploy/run_replicas.sh [N=2] [PORT=8080] [FIRST_REPLICA_PORT=8601]
#
# Replicas listen on 127.0.0.1 only; nginx listens on PORT (set LISTEN=0.0.0.0:8080 to serve the class
# network). All replicas share one run cache folder (CNN_EXPLORER_CACHE_DIR, default
# ~/.cache/cnn-explorer/runs), so a run finished on one replica replays on the others, and one cookie
# secret, so uploads work whichever replica the browser lands on. Warm-up: CNN_EXPLORER_WARM=1 (each
# replica paints the quick picks at start) or `python -m explorer.warm` once beforehand. Ctrl-C (or
# SIGTERM) stops everything. Needs Debian's nginx (`apt-get install -y nginx-light`).
# Class mode: replicas share classes through one database; the default SQLite file serves replicas on
# one machine, CNN_EXPLORER_DB=postgresql+psycopg://... (exported here, inherited) serves any (deploy/README.md).
set -euo pipefail
N=${1:-2}
PORT=${2:-8080}
FIRST=${3:-8601}
LISTEN=${LISTEN:-127.0.0.1:$PORT}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${NGINX_PREFIX:-$(mktemp -d /tmp/cnn-explorer-nginx.XXXXXX)}
export CNN_EXPLORER_CACHE_DIR=${CNN_EXPLORER_CACHE_DIR:-$HOME/.cache/cnn-explorer/runs}
export STREAMLIT_SERVER_COOKIE_SECRET=${STREAMLIT_SERVER_COOKIE_SECRET:-$(python3 -c 'import secrets; print(secrets.token_hex(16))')}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
PY=${PYTHON:-python3}

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

upstreams=""
for ((i = 0; i < N; i++)); do
    port=$((FIRST + i))
    "$PY" -m streamlit run "$ROOT/streamlit_app.py" --server.port "$port" --server.address 127.0.0.1 \
        --server.headless true --browser.gatherUsageStats false --server.fileWatcherType none \
        > "$PREFIX/replica-$i.log" 2>&1 &
    pids+=($!)
    upstreams+="        server 127.0.0.1:$port max_fails=0;"$'\n'
done
chmod 755 "$PREFIX"   # nginx's workers (user nobody when started as root) create their temp folders in it
sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@LISTEN@|$LISTEN|g" "$ROOT/deploy/nginx.conf.template" \
    | awk -v ups="$upstreams" '{ if ($0 == "@UPSTREAMS@") printf "%s", ups; else print }' > "$PREFIX/nginx.conf"

for ((i = 0; i < N; i++)); do   # wait until every replica answers
    port=$((FIRST + i))
    for _ in $(seq 180); do
        if ! kill -0 "${pids[$i]}" 2>/dev/null; then
            echo "replica $i (port $port) exited: see $PREFIX/replica-$i.log" >&2
            exit 1
        fi
        if "$PY" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/_stcore/health', timeout=2)" 2>/dev/null; then
            break
        fi
        sleep 0.5
    done
done
"$NGINX" -t -q -c "$PREFIX/nginx.conf" -p "$PREFIX" 2>>"$PREFIX/error.log"
"$NGINX" -c "$PREFIX/nginx.conf" -p "$PREFIX" -g 'daemon off;' &
pids+=($!)
echo "CNN Explorer: http://$LISTEN/ -> $N replicas (ports $FIRST..$((FIRST + N - 1))); logs in $PREFIX"
wait -n "${pids[@]}"   # one part died: stop the rest
