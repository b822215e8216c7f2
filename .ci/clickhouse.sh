#!/usr/bin/env bash
# Installs Debian's clickhouse-server (18.16 on bookworm) when missing, starts
# it in the background (no systemd on CI machines) unless it already answers,
# and waits until it does. Idempotent; run as root. Prints the addresses tests
# read from CLARION_TEST_CLICKHOUSE (plain native protocol, 9000) and
# CLARION_TEST_CLICKHOUSE_TLS (native protocol over TLS, 9440).
#
# TLS: a CA and a server certificate for 127.0.0.1/localhost, and a client
# certificate from the same CA, are generated with openssl at the first start
# into $TLS_DIR (ca.crt, server.*, client.*, plus rogue.* from a CA the
# server does not trust). The secure port asks for a client certificate and
# verifies one that is presented (verificationMode relaxed): connections
# without one are accepted, a certificate from another CA is refused.
#
#   bash .ci/clickhouse.sh && export CLARION_TEST_CLICKHOUSE=127.0.0.1:9000 \
#     CLARION_TEST_CLICKHOUSE_TLS=127.0.0.1:9440 CLARION_TEST_CLICKHOUSE_TLS_DIR=/etc/clickhouse-server/clarion-tls
set -euo pipefail

ADDR_HOST=127.0.0.1
PORT=9000
SECURE_PORT=9440
CONFIG=/etc/clickhouse-server/config.xml
LOG_DIR=/var/log/clickhouse-server
TLS_DIR=/etc/clickhouse-server/clarion-tls
PID_FILE=$LOG_DIR/clarion-server.pid

answers() { clickhouse-client --host "$ADDR_HOST" --port "$PORT" --query "SELECT 1" >/dev/null 2>&1; }
answers_tls() { (exec 3<>"/dev/tcp/$ADDR_HOST/$SECURE_PORT") 2>/dev/null; }

if ! command -v clickhouse-server >/dev/null 2>&1 || ! command -v clickhouse-client >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq clickhouse-server clickhouse-client openssl >/dev/null
fi

# Certificates, once.
if ! command -v openssl >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq openssl >/dev/null
fi
if [ ! -s "$TLS_DIR/server.crt" ]; then
	mkdir -p "$TLS_DIR"
	(
		cd "$TLS_DIR"
		gen_ca() { openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$2" -keyout "$1.key" -out "$1.crt" 2>/dev/null; }
		gen_leaf() { # name cn ca ext
			openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
			printf '%s\n' "$4" >"$1.ext"
			openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial -days 3650 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
			rm -f "$1.csr" "$1.ext"
		}
		gen_ca ca "Clarion CI ClickHouse CA"
		gen_ca rogue-ca "Untrusted CA"
		gen_leaf server localhost ca "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
		gen_leaf client clarion ca "extendedKeyUsage=clientAuth"
		gen_leaf rogue clarion rogue-ca "extendedKeyUsage=clientAuth"
	)
	chmod 0644 "$TLS_DIR"/*.crt
	chmod 0640 "$TLS_DIR"/*.key
	if id clickhouse >/dev/null 2>&1; then chgrp clickhouse "$TLS_DIR"/*.key; fi
fi
# The secure native port with that certificate (config.d is merged into
# config.xml; an empty dhParamsFile means none, so no slow dhparam step).
mkdir -p /etc/clickhouse-server/config.d
cat >/etc/clickhouse-server/config.d/clarion-tls.xml <<EOF
<yandex>
    <tcp_port_secure>$SECURE_PORT</tcp_port_secure>
    <openSSL>
        <server>
            <certificateFile>$TLS_DIR/server.crt</certificateFile>
            <privateKeyFile>$TLS_DIR/server.key</privateKeyFile>
            <dhParamsFile></dhParamsFile>
            <caConfig>$TLS_DIR/ca.crt</caConfig>
            <verificationMode>relaxed</verificationMode>
            <loadDefaultCAFile>false</loadDefaultCAFile>
        </server>
    </openSSL>
</yandex>
EOF

# A server this script started earlier without the secure port (an older
# version of this script): restart it, by the pid it recorded.
if answers && ! answers_tls && [ -s "$PID_FILE" ]; then
	kill "$(cat "$PID_FILE")" 2>/dev/null || true
	for _ in $(seq 1 60); do
		if ! answers; then break; fi
		sleep 0.5
	done
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
	echo $! >"$PID_FILE"
	for _ in $(seq 1 120); do
		if answers && answers_tls; then break; fi
		sleep 0.5
	done
fi

if ! answers || ! answers_tls; then
	echo "clickhouse: server did not answer on $ADDR_HOST:$PORT and $ADDR_HOST:$SECURE_PORT (TLS); last log lines:" >&2
	tail -n 30 "$LOG_DIR/clickhouse-server.err.log" "$LOG_DIR/stdout.log" >&2 2>/dev/null || true
	exit 1
fi
echo "clickhouse $(clickhouse-client --host "$ADDR_HOST" --port "$PORT" --query 'SELECT version()') on $ADDR_HOST:$PORT, TLS on $ADDR_HOST:$SECURE_PORT (CA $TLS_DIR/ca.crt)"
