// Package schemas holds Clarion's ClickHouse DDL (database clarion: tables
// okta_events, anomalies, alerts, actions, triage_runs) as embedded,
// numbered migrations, and applies them at start.
//
// The DDL is written once as templates and rendered for the server it runs
// on. Current ClickHouse (22.3 and later) gets DateTime64(3), LowCardinality,
// IPv6 addresses, column codecs, bloom-filter skip indexes, a TTL from the
// configured retention and non-replicated insert deduplication. Older servers
// (Debian's 18.16, which CI runs) get the closest types that exist there:
// DateTime, String, no codecs, no TTL. Column names are the same in both, so
// the sinks and every query written against them work on either.
//
// Migrations are idempotent (CREATE ... IF NOT EXISTS; ADD COLUMN IF NOT
// EXISTS, or on old servers a plain ADD COLUMN whose "already exists" error
// Migrate treats as done) and recorded in <db>.schema_migrations, so
// running Migrate on every start is safe, also from several sinks at once.
// Columns are only ever added, never renamed or dropped, so a sink of an
// older release keeps working against a newer schema.
package schemas

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ModernSince is the first server version that gets the modern DDL: every
// feature it uses (DateTime64, LowCardinality, IPv6, codecs, TTL, bloom
// filter indexes, insert_deduplication_token, non_replicated_deduplication_window)
// exists from 22.3 LTS on.
var ModernSince = Version{22, 3}

// Version is a ClickHouse server version, major.minor.
type Version struct{ Major, Minor int }

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool {
	return v.Major < w.Major || (v.Major == w.Major && v.Minor < w.Minor)
}

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Dialect is what the rendered DDL may use.
type Dialect struct {
	// Modern selects DateTime64(3), LowCardinality, IPv6, codecs, TTL and
	// insert deduplication. False renders for old servers (18.16).
	Modern bool
}

// DialectFor returns the dialect for a server version.
func DialectFor(v Version) Dialect { return Dialect{Modern: !v.Less(ModernSince)} }

// Options configures rendering and migration.
type Options struct {
	// Database is the database to create the tables in. Default "clarion".
	Database string
	// Retention is how long rows are kept, as a TTL (modern dialect only).
	// Zero keeps rows forever. Rounded up to whole days.
	Retention time.Duration
	// Dialect selects modern or old-server DDL. Migrate detects it from
	// the server; Render uses it as given.
	Dialect Dialect
}

// Migration is one numbered step of the schema.
type Migration struct {
	Version    int
	Name       string
	Statements []string
}

var dbName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (o Options) withDefaults() (Options, error) {
	if o.Database == "" {
		o.Database = "clarion"
	}
	if !dbName.MatchString(o.Database) {
		return o, fmt.Errorf("schemas: invalid database name %q", o.Database)
	}
	if o.Retention < 0 {
		return o, fmt.Errorf("schemas: negative retention %v", o.Retention)
	}
	return o, nil
}

// Render returns every migration rendered for opts, in order.
func Render(opts Options) ([]Migration, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	days := int64(0)
	if opts.Retention > 0 {
		days = int64((opts.Retention + 24*time.Hour - 1) / (24 * time.Hour))
	}
	modern := opts.Dialect.Modern
	funcs := template.FuncMap{
		"dt": func() string {
			if modern {
				return "DateTime64(3, 'UTC')"
			}
			return "DateTime('UTC')"
		},
		"lc": func() string {
			if modern {
				return "LowCardinality(String)"
			}
			return "String"
		},
		"ip": func() string {
			if modern {
				return "IPv6"
			}
			return "String"
		},
		"codec": func(c string) string {
			if modern {
				return " CODEC(" + c + ")"
			}
			return ""
		},
		"ttl": func(col string) string {
			if modern && days > 0 {
				return "TTL toDateTime(" + col + ") + INTERVAL " + strconv.FormatInt(days, 10) + " DAY\n"
			}
			return ""
		},
		// addcol starts an ALTER TABLE's column addition. 18.16 cannot
		// parse IF NOT EXISTS there; Migrate makes the plain form
		// idempotent (see alreadyAdded).
		"addcol": func() string {
			if modern {
				return "ADD COLUMN IF NOT EXISTS"
			}
			return "ADD COLUMN"
		},
		"settings": func() string {
			if modern {
				return "SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 1000"
			}
			return ""
		},
	}
	data := struct {
		DB     string
		Modern bool
	}{opts.Database, modern}
	var out []Migration
	for _, name := range names {
		base := strings.TrimSuffix(path.Base(name), ".sql")
		num, label, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("schemas: migration file %s: want NNNN_name.sql", name)
		}
		src, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		t, err := template.New(base).Funcs(funcs).Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", name, err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: label, Statements: splitStatements(buf.String())})
	}
	return out, nil
}

// splitStatements splits a file on semicolons that end a line and drops
// comment-only lines. The DDL never has a semicolon at a line end inside a
// string.
func splitStatements(s string) []string {
	var stmts []string
	var cur strings.Builder
	flush := func() {
		if st := strings.TrimSpace(cur.String()); st != "" {
			stmts = append(stmts, st)
		}
		cur.Reset()
	}
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") {
			continue
		}
		if strings.HasSuffix(t, ";") {
			cur.WriteString(strings.TrimSuffix(strings.TrimRight(line, " \t"), ";"))
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return stmts
}

// ServerVersion returns conn's server version.
func ServerVersion(conn driver.Conn) (Version, error) {
	sv, err := conn.ServerVersion()
	if err != nil {
		return Version{}, fmt.Errorf("schemas: server version: %w", err)
	}
	return Version{int(sv.Version.Major), int(sv.Version.Minor)}, nil
}

// Result says what Migrate did.
type Result struct {
	Server  Version
	Dialect Dialect
	Applied []int // versions applied by this call, in order
}

// Migrate creates the database and applies the migrations not yet recorded
// in <db>.schema_migrations, detecting the dialect from the server (the
// Dialect in opts is ignored). It uses only statements without bound
// parameters and a column-naming batch insert, which old servers accept.
func Migrate(ctx context.Context, conn driver.Conn, opts Options) (Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Result{}, err
	}
	var res Result
	if res.Server, err = ServerVersion(conn); err != nil {
		return res, err
	}
	res.Dialect = DialectFor(res.Server)
	opts.Dialect = res.Dialect
	migs, err := Render(opts)
	if err != nil {
		return res, err
	}
	db := opts.Database
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS " + db,
		"CREATE TABLE IF NOT EXISTS " + db + ".schema_migrations (version UInt32, name String, dialect String, applied_at DateTime) ENGINE = ReplacingMergeTree ORDER BY version",
	} {
		if err := conn.Exec(ctx, q); err != nil {
			return res, fmt.Errorf("schemas: %s: %w", firstLine(q), err)
		}
	}
	done := map[int]bool{}
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM "+db+".schema_migrations")
	if err != nil {
		return res, fmt.Errorf("schemas: read %s.schema_migrations: %w", db, err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return res, fmt.Errorf("schemas: read %s.schema_migrations: %w", db, err)
		}
		done[int(v)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("schemas: read %s.schema_migrations: %w", db, err)
	}
	dialect := "legacy"
	if res.Dialect.Modern {
		dialect = "modern"
	}
	for _, m := range migs {
		if done[m.Version] {
			continue
		}
		for _, q := range m.Statements {
			if err := conn.Exec(ctx, q); err != nil && !alreadyAdded(q, err) {
				return res, fmt.Errorf("schemas: migration %04d_%s: %w", m.Version, m.Name, err)
			}
		}
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".schema_migrations (version, name, dialect, applied_at)")
		if err != nil {
			return res, fmt.Errorf("schemas: record migration %d: %w", m.Version, err)
		}
		if err := b.Append(uint32(m.Version), m.Name, dialect, time.Now().UTC().Truncate(time.Second)); err != nil {
			_ = b.Abort()
			return res, fmt.Errorf("schemas: record migration %d: %w", m.Version, err)
		}
		if err := b.Send(); err != nil {
			return res, fmt.Errorf("schemas: record migration %d: %w", m.Version, err)
		}
		res.Applied = append(res.Applied, m.Version)
	}
	return res, nil
}

// addColumn matches a rendered ALTER TABLE that adds one column.
var addColumn = regexp.MustCompile(`^ALTER TABLE \S+ ADD COLUMN `)

// alreadyAdded reports whether err is the server refusing a plain ADD
// COLUMN because the column exists (code 44, ILLEGAL_COLUMN): an earlier
// run of the same migration was interrupted after the ALTER, or another
// sink is migrating at the same time. Old servers lack IF NOT EXISTS
// there, so this is what makes such a migration idempotent.
func alreadyAdded(stmt string, err error) bool {
	var exc *proto.Exception
	return addColumn.MatchString(stmt) && errors.As(err, &exc) && exc.Code == 44 &&
		strings.Contains(exc.Message, "already exists")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '('); i > 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}
