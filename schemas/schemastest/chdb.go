package schemastest

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// EnvChdb names the Python interpreter that has chdb installed
// (CLARION_TEST_CHDB=python3; .ci/chdb.sh installs it). chdb is the
// current ClickHouse engine (26.x) in process: the tests run the modern
// DDL, the README's and dashboards' SQL and the Parquet lake on it.
const EnvChdb = "CLARION_TEST_CHDB"

//go:embed chdb.py
var chdbScript string

// Chdb is one chdb session in a Python child process, closed when the test
// ends. Its methods are safe for concurrent use (requests are serialized).
type Chdb struct {
	// Version is "chdb <version> <ClickHouse version>".
	Version string

	mu  sync.Mutex
	in  io.WriteCloser
	out *bufio.Reader
}

// ChdbError is an error chdb reported for a statement.
type ChdbError struct {
	Code    int // ClickHouse error code ("Code: 62."), 0 if none was given
	Message string
}

func (e *ChdbError) Error() string { return "chdb: " + e.Message }

var codeRE = regexp.MustCompile(`Code: (\d+)\.`)

// OpenChdb starts a chdb session with its data in a fresh temp dir,
// skipping (or, under CI, failing) the test when EnvChdb is not set.
func OpenChdb(t testing.TB) *Chdb {
	t.Helper()
	return openChdb(t, "")
}

// OpenChdbConfig is OpenChdb with a server configuration (XML, e.g.
// macros, remote_servers, an in-memory TestKeeper). Such a session may not
// stop by itself (Keeper threads), so its process is killed at the end of
// the test rather than waited for.
func OpenChdbConfig(t testing.TB, configXML string) *Chdb {
	t.Helper()
	return openChdb(t, configXML)
}

func openChdb(t testing.TB, configXML string) *Chdb {
	t.Helper()
	py := os.Getenv(EnvChdb)
	if py == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set under CI: run .ci/chdb.sh and export %s=python3", EnvChdb, EnvChdb)
		}
		t.Skipf("%s not set: skipping the current-ClickHouse (chdb) test; pip install chdb and set %s=python3", EnvChdb, EnvChdb)
	}
	dir := t.TempDir()
	session := filepath.Join(dir, "data")
	if configXML != "" {
		f := filepath.Join(dir, "config.xml")
		if err := os.WriteFile(f, []byte(configXML), 0o600); err != nil {
			t.Fatal(err)
		}
		session += "?config-file=" + f
	}
	cmd := exec.Command(py, "-c", chdbScript, session)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s with chdb: %v", py, err)
	}
	c := &Chdb{in: in, out: bufio.NewReaderSize(outPipe, 1<<20)}
	t.Cleanup(func() {
		_ = in.Close()
		if configXML != "" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return
		}
		if err := cmd.Wait(); err != nil {
			t.Logf("chdb process: %v", err)
		}
	})
	v, err := c.read()
	if err != nil {
		t.Fatalf("chdb did not start (is chdb installed for %s?): %v", py, err)
	}
	c.Version = "chdb " + v
	return c
}

func (c *Chdb) read() (string, error) {
	line, err := c.out.ReadBytes('\n')
	if err != nil {
		return "", fmt.Errorf("chdb: read answer: %w", err)
	}
	var ans struct {
		OK    bool   `json:"ok"`
		Out   string `json:"out"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(line, &ans); err != nil {
		return "", fmt.Errorf("chdb: answer %q: %w", line, err)
	}
	if !ans.OK {
		e := &ChdbError{Message: strings.TrimSpace(ans.Error)}
		if m := codeRE.FindStringSubmatch(ans.Error); m != nil {
			e.Code, _ = strconv.Atoi(m[1])
		}
		return "", e
	}
	return ans.Out, nil
}

// Query runs sql and returns its output in format (TSV when empty).
func (c *Chdb) Query(sql, format string) (string, error) {
	req, err := json.Marshal(map[string]string{"sql": sql, "format": format})
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.in.Write(append(req, '\n')); err != nil {
		return "", fmt.Errorf("chdb: send: %w", err)
	}
	return c.read()
}

// DuckDB runs sql in an in-memory DuckDB in the same Python process and
// returns its rows as a JSON array of arrays.
func (c *Chdb) DuckDB(sql string) (string, error) {
	req, err := json.Marshal(map[string]string{"sql": sql, "engine": "duckdb"})
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.in.Write(append(req, '\n')); err != nil {
		return "", fmt.Errorf("duckdb: send: %w", err)
	}
	return c.read()
}

// Exec runs a statement whose output is not needed.
func (c *Chdb) Exec(sql string) error {
	_, err := c.Query(sql, "TSV")
	return err
}

// MustExec runs a statement and fails the test on error.
func (c *Chdb) MustExec(t testing.TB, sql string) {
	t.Helper()
	if err := c.Exec(sql); err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
}

// Count runs a query of one number (count(), uniqExact(...)).
func (c *Chdb) Count(t testing.TB, sql string) uint64 {
	t.Helper()
	out, err := c.Query(sql, "TSV")
	if err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(out), 10, 64)
	if err != nil {
		t.Fatalf("%s: not a count: %q", sql, out)
	}
	return n
}

// IsChdbError reports whether err is an error chdb reported.
func IsChdbError(err error) (*ChdbError, bool) {
	var e *ChdbError
	ok := errors.As(err, &e)
	return e, ok
}
