#!/usr/bin/env bash
# Runs the Kafka tests against a real Apache Kafka 4.4 cluster (three KRaft
# brokers on loopback, deploy/kafka), after `make test` ran them on kfake.
# Installs Maven when missing (Java 17 comes with the machine), starts the
# cluster, runs the packages whose tests talk to Kafka with
# CLARION_TEST_KAFKA set, and stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless maven >/dev/null
fi
echo "== Apache Kafka (deploy/kafka, $(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g'))"
out="$(bash deploy/kafka/kafka.sh up)"
echo "$out"
trap 'bash deploy/kafka/kafka.sh down' EXIT
eval "$(echo "$out" | sed 's/\x1b\[[0-9;]*m//g' | grep -E '^KAFKA_[A-Z_]+=')"

# The general suite talks to the PLAINTEXT listener (its tests hand
# components brokers only, no TLS/SASL options); the security tests
# (internal/bus TestLeastPrivilege, internal/app TestComponentsUnderOwnPrincipals)
# talk to SASL_SSL, each component with its own principal.
export CLARION_TEST_KAFKA="$KAFKA_BROKERS"
export CLARION_TEST_KAFKA_SASL="$KAFKA_SASL_BROKERS"
export CLARION_TEST_KAFKA_SASL_CA="$KAFKA_CA"
export CLARION_TEST_KAFKA_CREDENTIALS="$KAFKA_CREDENTIALS"

# The packages whose tests use bustest (internal/bus's own security tests
# among them).
pkgs="$(go list -f '{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./... |
	awk '/internal\/bus\/bustest( |$)/ {print $1}' | grep -v '/internal/bus/bustest$' | sort -u)"
echo "== go test on Apache Kafka: $(echo "$pkgs" | wc -l) packages"
# -p 1: one package at a time (bustest serializes tests on the shared
# cluster anyway) leaves the two cores to the brokers and the test. No
# -race: the kfake run had it; this run is about Apache Kafka's behaviour.
go test -count=1 -p 1 -timeout 25m $pkgs
