#!/usr/bin/env bash
# A three-broker Apache Kafka cluster on loopback for development and CI
# (make kafka-up / make kafka-down). KRaft, each node a combined controller
# and broker, from the jars that deploy/kafka/pom.xml makes Maven fetch.
#
#   bash deploy/kafka/kafka.sh up     # idempotent: starts what is not running
#   bash deploy/kafka/kafka.sh down   # idempotent: stops the nodes
#
# Listeners per node N = 1..3:
#   PLAINTEXT  127.0.0.1:1909(N+1)  anonymous, a super user (local tools, old tests)
#   SASL_SSL   127.0.0.1:1919(N+1)  SCRAM-SHA-512, certificates from a CA made here
#   CONTROLLER 127.0.0.1:1929(N+1)  KRaft quorum
# The SASL principals get only the ACLs of deploy/kafka/setup (one user per
# Clarion component, plus clarion-test for the test suite).
#
# State lives under $KAFKA_HOME (default .kafka/ at the repository root):
# certificates, data, logs, pid files and credentials.env. `up` prints
# KAFKA_BROKERS, KAFKA_SASL_BROKERS, KAFKA_CA and KAFKA_CREDENTIALS.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERE="$ROOT/deploy/kafka"
KAFKA_HOME="${KAFKA_HOME:-$ROOT/.kafka}"
HEAP="${KAFKA_HEAP:--Xmx512m -Xms192m}"
NODES=(1 2 3)
PLAIN_BROKERS="127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"
SASL_BROKERS="127.0.0.1:19192,127.0.0.1:19193,127.0.0.1:19194"
VOTERS="1@127.0.0.1:19292,2@127.0.0.1:19293,3@127.0.0.1:19294"

plain_port() { echo $((19091 + $1)); }
sasl_port() { echo $((19191 + $1)); }
ctl_port() { echo $((19291 + $1)); }

log() { echo "kafka: $*" >&2; }

alive() { # node
	local pf="$KAFKA_HOME/node$1/pid"
	[[ -f $pf ]] && kill -0 "$(cat "$pf")" 2>/dev/null
}

jars() {
	if [[ ! -f $HERE/target/lib/kafka_2.13-4.4.0.jar ]]; then
		if ! command -v mvn >/dev/null 2>&1; then
			log "installing maven"
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends maven >/dev/null
		fi
		log "fetching the Kafka jars with Maven"
		(cd "$HERE" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=target/lib)
	fi
}

certs() {
	local d="$KAFKA_HOME/tls"
	[[ -f $d/broker.p12 ]] && return
	mkdir -p "$d"
	log "making a CA and the broker certificate in $d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Clarion local Kafka CA" \
		-keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
		-keyout "$d/broker.key" -out "$d/broker.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >"$d/ext.cnf"
	openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
		-days 3650 -extfile "$d/ext.cnf" -out "$d/broker.pem" 2>/dev/null
	openssl rand -hex 16 >"$d/store.pass"
	openssl pkcs12 -export -in "$d/broker.pem" -inkey "$d/broker.key" -certfile "$d/ca.pem" \
		-name broker -passout "file:$d/store.pass" -out "$d/broker.p12"
	chmod 600 "$d"/*.key "$d/store.pass" "$d/broker.p12"
}

config() { # node
	local n=$1 dir="$KAFKA_HOME/node$1" pass
	pass="$(cat "$KAFKA_HOME/tls/store.pass")"
	mkdir -p "$dir"
	cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$VOTERS
listeners=PLAINTEXT://127.0.0.1:$(plain_port "$n"),SASL_SSL://127.0.0.1:$(sasl_port "$n"),CONTROLLER://127.0.0.1:$(ctl_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(plain_port "$n"),SASL_SSL://127.0.0.1:$(sasl_port "$n")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/data

sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$KAFKA_HOME/tls/broker.p12
ssl.keystore.password=$pass
ssl.key.password=$pass
ssl.client.auth=none

authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false

num.partitions=3
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=3
group.initial.rebalance.delay.ms=0
# Tests expire killed group members after a short session.
group.min.session.timeout.ms=100
auto.create.topics.enable=false
delete.topic.enable=true
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.segment.bytes=67108864
log.retention.check.interval.ms=60000
EOF
}

format() { # node
	local n=$1 dir="$KAFKA_HOME/node$1"
	[[ -f $dir/data/meta.properties ]] && return
	log "formatting node $n"
	java -cp "$HERE/target/lib/*" -Xmx256m -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
		kafka.tools.StorageTool format --cluster-id "$(cat "$KAFKA_HOME/cluster.id")" \
		--config "$dir/server.properties" --ignore-formatted >"$dir/format.log" 2>&1 ||
		{ cat "$dir/format.log" >&2; return 1; }
}

start() { # node
	local n=$1 dir="$KAFKA_HOME/node$1"
	alive "$n" && return
	log "starting node $n"
	# setsid + nohup: the broker outlives this script and its terminal.
	# ActiveProcessorCount keeps thread pools small on a shared machine.
	KAFKA_NODE_DIR="$dir" setsid nohup java $HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-XX:ActiveProcessorCount=2 -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$HERE/log4j2.properties" -Dkafka.logs.dir="$dir" \
		-cp "$HERE/target/lib/*" kafka.Kafka "$dir/server.properties" \
		>"$dir/stdout.log" 2>&1 </dev/null &
	echo $! >"$dir/pid"
}

up() {
	command -v java >/dev/null || { log "java not found (Kafka 4.4 needs Java 17)"; exit 1; }
	jars
	mkdir -p "$KAFKA_HOME"
	certs
	if [[ ! -f $KAFKA_HOME/cluster.id ]]; then
		java -cp "$HERE/target/lib/*" -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
			kafka.tools.StorageTool random-uuid >"$KAFKA_HOME/cluster.id"
	fi
	for n in "${NODES[@]}"; do
		config "$n"
		format "$n"
	done
	for n in "${NODES[@]}"; do start "$n"; done
	# Waits for the brokers, creates Clarion's topics, SCRAM users and ACLs,
	# proves a SASL_SSL login, and writes credentials.env.
	if ! (cd "$ROOT" && go run ./deploy/kafka/setup -brokers "$PLAIN_BROKERS" -sasl-brokers "$SASL_BROKERS" \
		-ca "$KAFKA_HOME/tls/ca.pem" -credentials "$KAFKA_HOME/credentials.env"); then
		for n in "${NODES[@]}"; do
			log "node $n: last log lines"
			tail -n 20 "$KAFKA_HOME/node$n/stdout.log" >&2 || true
		done
		exit 1
	fi
	echo "KAFKA_BROKERS=$PLAIN_BROKERS"
	echo "KAFKA_SASL_BROKERS=$SASL_BROKERS"
	echo "KAFKA_CA=$KAFKA_HOME/tls/ca.pem"
	echo "KAFKA_CREDENTIALS=$KAFKA_HOME/credentials.env"
}

stop() { # node [signal]
	local n=$1 sig=${2:-TERM} pf="$KAFKA_HOME/node$1/pid"
	alive "$n" || { rm -f "$pf"; return; }
	kill "-$sig" "$(cat "$pf")"
}

down() {
	for n in "${NODES[@]}"; do stop "$n"; done
	for _ in $(seq 1 60); do
		local any=0
		for n in "${NODES[@]}"; do alive "$n" && any=1; done
		[[ $any == 0 ]] && break
		sleep 0.5
	done
	for n in "${NODES[@]}"; do stop "$n" KILL; rm -f "$KAFKA_HOME/node$n/pid"; done
	log "stopped"
}

case "${1:-}" in
up) up ;;
down) down ;;
# start N / kill N: one node, for failure tests (kill is SIGKILL).
start) start "$2" ;;
kill) stop "$2" KILL ;;
*)
	echo "usage: $0 up|down|start N|kill N" >&2
	exit 2
	;;
esac
