// Package schemastest connects tests to the ClickHouse server named by
// CLARION_TEST_CLICKHOUSE (host:port of the native protocol, e.g.
// 127.0.0.1:9000). When it is unset, tests skip, unless CI is set, in which
// case they fail: CI must exercise the real server (.ci/clickhouse.sh starts it).
package schemastest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// EnvAddr is the environment variable naming the test server.
const EnvAddr = "CLARION_TEST_CLICKHOUSE"

// Addr returns the test server's address, skipping (or, under CI, failing)
// the test when none is configured.
func Addr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv(EnvAddr)
	if addr == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set under CI: run .ci/clickhouse.sh and export %s=127.0.0.1:9000", EnvAddr, EnvAddr)
		}
		t.Skipf("%s not set: skipping ClickHouse test", EnvAddr)
	}
	return addr
}

// EnvTLSAddr names the server's secure native port (127.0.0.1:9440) and
// EnvTLSDir the directory .ci/clickhouse.sh generated its certificates in:
// ca.crt (signs the server's), client.crt/.key (from that CA) and
// rogue.crt/.key (from a CA the server does not trust).
const (
	EnvTLSAddr = "CLARION_TEST_CLICKHOUSE_TLS"
	EnvTLSDir  = "CLARION_TEST_CLICKHOUSE_TLS_DIR"
)

// TLSAddr returns the secure port's address and the certificates'
// directory, skipping (or, under CI, failing) the test when unset.
func TLSAddr(t testing.TB) (addr, dir string) {
	t.Helper()
	addr, dir = os.Getenv(EnvTLSAddr), os.Getenv(EnvTLSDir)
	if addr == "" || dir == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s or %s is not set under CI: run .ci/clickhouse.sh and export them", EnvTLSAddr, EnvTLSDir)
		}
		t.Skipf("%s/%s not set: skipping ClickHouse TLS test", EnvTLSAddr, EnvTLSDir)
	}
	return addr, dir
}

// Open connects to addr's default database, closed when the test ends.
func Open(t testing.TB, addr string) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Auth:        clickhouse.Auth{Database: "default"},
		DialTimeout: 5 * time.Second,
		ReadTimeout: 60 * time.Second,
	})
	if err != nil {
		t.Fatalf("clickhouse open %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("clickhouse ping %s: %v", addr, err)
	}
	return conn
}

// TempDB returns a fresh database name ("clarion_test_<hex>") that is dropped
// when the test ends, so tests running at once never share tables. The
// database itself is not created.
func TempDB(t testing.TB, conn driver.Conn) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	db := "clarion_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Logf("drop %s: %v", db, err)
		}
	})
	return db
}

// Count runs a `SELECT count() ...` style query and returns its single number.
func Count(t testing.TB, conn driver.Conn, query string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n uint64
	if err := conn.QueryRow(ctx, query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
