#!/usr/bin/env bash
# Installs chdb (the current ClickHouse engine, 26.x, in process) and DuckDB
# for python3, for the tests that run Clarion's DDL, README and dashboard SQL
# and Parquet lake on a current engine (CLARION_TEST_CHDB=python3).
# Idempotent; pinned so CI runs the versions docs/storage.md names.
set -euo pipefail
PY=${PYTHON:-python3}
if ! command -v "$PY" >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq python3 python3-pip >/dev/null
fi
if ! "$PY" -c 'import chdb, duckdb' >/dev/null 2>&1; then
	if ! "$PY" -m pip --version >/dev/null 2>&1; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -qq python3-pip >/dev/null
	fi
	# Debian's python3 is "externally managed"; these go to a CI machine only.
	"$PY" -m pip install -q --disable-pip-version-check chdb==4.4.0 duckdb==2.0.1 ||
		"$PY" -m pip install -q --disable-pip-version-check --break-system-packages chdb==4.4.0 duckdb==2.0.1
fi
"$PY" -c 'import chdb, duckdb; print("chdb", chdb.__version__, "ClickHouse", chdb.query("SELECT version()", "TSV").bytes().decode().strip(), "duckdb", duckdb.__version__)'
