#!/usr/bin/env bash
# Installs Debian's clickhouse-server (18.16 on bookworm) when missing, starts
# it in the background (no systemd on CI machines) unless it already answers,
# and waits until it does. Idempotent; run as root. Prints the address tests
# read from CLARION_TEST_CLICKHOUSE.
#
#   bash .ci/clickhouse.sh && export CLARION_TEST_CLICKHOUSE=127.0.0.1:9000
set -euo pipefail

ADDR_HOST=127.0.0.1
PORT=9000
CONFIG=/etc/clickhouse-server/config.xml
LOG_DIR=/var/log/clickhouse-server

answers() { clickhouse-client --host "$ADDR_HOST" --port "$PORT" --query "SELECT 1" >/dev/null 2>&1; }

if ! command -v clickhouse-server >/dev/null 2>&1 || ! command -v clickhouse-client >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
fi

if ! answers; then
	mkdir -p /var/lib/clickhouse "$LOG_DIR"
	if id clickhouse >/dev/null 2>&1; then
		chown -R clickhouse:clickhouse /var/lib/clickhouse "$LOG_DIR"
		RUN=(setpriv --reuid=clickhouse --regid=clickhouse --init-groups)
	else
		RUN=()
	fi
	# A stale pid file from a killed server keeps 18.16 from starting.
	rm -f /var/lib/clickhouse/status
	# setsid + nohup: the server outlives this script and its terminal.
	setsid nohup "${RUN[@]}" clickhouse-server --config-file="$CONFIG" \
		>"$LOG_DIR/stdout.log" 2>&1 </dev/null &
	for _ in $(seq 1 120); do
		if answers; then break; fi
		sleep 0.5
	done
fi

if ! answers; then
	echo "clickhouse: server did not answer on $ADDR_HOST:$PORT; last log lines:" >&2
	tail -n 30 "$LOG_DIR/clickhouse-server.err.log" "$LOG_DIR/stdout.log" >&2 2>/dev/null || true
	exit 1
fi
echo "clickhouse $(clickhouse-client --host "$ADDR_HOST" --port "$PORT" --query 'SELECT version()') on $ADDR_HOST:$PORT"
