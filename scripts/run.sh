#!/usr/bin/env bash
# Quickstart: the whole product at once. Builds logship, and, unless
# ELASTICSEARCH_HOSTS points at a cluster, starts a local OpenSearch-compatible server
# (osmem-server from PyPI, installed on first use) as the embedded default. Then runs
# the agent with the root pipeline.conf, which replays sample-logs/ as live traffic
# into it. Watch it with `logship console` (or `curl 127.0.0.1:9898/api/v1/snapshot`)
# from a second terminal; stop it with Ctrl-C.
#
#   scripts/run.sh                                        # embedded server
#   ELASTICSEARCH_HOSTS=https://es.example:9200 \
#   ELASTICSEARCH_USER=elastic ELASTICSEARCH_PASSWORD=… scripts/run.sh   # a real cluster
#
# Extra arguments go to logship, e.g. `scripts/run.sh --workers 1`. LOGSHIP_BIN runs
# another logship binary instead of building one (the quickstart test uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
logship=${LOGSHIP_BIN:-target/release/logship}
if [ -z "${LOGSHIP_BIN:-}" ]; then
    cargo build --release -p logship
fi

if [ -z "${ELASTICSEARCH_HOSTS:-}" ]; then
    if ! python3 -c "import osmem_server" >/dev/null 2>&1; then
        python3 -m pip install --quiet --disable-pip-version-check "osmem-server==0.1.6"
    fi
    osmem=$(python3 -c "import osmem_server; print(osmem_server.resolve_binary())")
    # 9200 when free, else any free port.
    addr=127.0.0.1:9200
    if (exec 3<>/dev/tcp/127.0.0.1/9200) 2>/dev/null; then
        addr=127.0.0.1:0
    fi
    ready=$(mktemp)
    # The server exits with this shell's process, which becomes logship below. It runs
    # in a session of its own, so that Ctrl-C (or `timeout`) stops only the agent: the
    # agent then delivers what it holds to a server that is still there, instead of
    # waiting out its shutdown timeout.
    setsid "$osmem" -addr "$addr" -no-stdin-watch -parent-pid $$ > "$ready" &
    for _ in $(seq 1 100); do
        grep -q '"url"' "$ready" && break
        sleep 0.1
    done
    url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$ready")
    rm -f "$ready"
    echo "logship: embedded OpenSearch-compatible server (osmem-server) at $url" >&2
    export ELASTICSEARCH_HOSTS=$url
fi

# Credentials in the URLs (user:password@) are not echoed.
shown_hosts=$(printf '%s' "$ELASTICSEARCH_HOSTS" | sed -E 's#//[^/@]*@#//***:***@#g')
echo "logship: shipping to $shown_hosts; control API on http://127.0.0.1:9898 unless --api-addr says otherwise" >&2
exec "$logship" --config pipeline.conf "$@"
