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
//
// NewPlan is everything Migrate runs, in order, for one server version;
// `clarion schema` prints it (Plan.WriteTo). With Options.Cluster the plan
// is ON CLUSTER DDL: Replicated <table>_local tables behind Distributed
// <table> ones. docs/storage.md says which statements ran on which
// ClickHouse versions.
package schemas

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
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
	// Cluster, when set, renders every statement ON CLUSTER Cluster: each
	// table is created as <table>_local with the Replicated variant of its
	// engine (Keeper path /clickhouse/tables/{shard}/<db>/<table>_local,
	// replica {replica}: both macros must be defined on every node) and as
	// <table>, a Distributed table over the cluster sharded by a hash of
	// its ORDER BY key, so every version of one row lands on one shard and
	// FINAL still collapses them. Queries and inserts use <table> as
	// without a cluster. Modern dialect only. Default "" (one server).
	Cluster string
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
	if o.Cluster != "" {
		if !dbName.MatchString(o.Cluster) {
			return o, fmt.Errorf("schemas: invalid cluster name %q", o.Cluster)
		}
		if !o.Dialect.Modern {
			return o, fmt.Errorf("schemas: cluster %s: ON CLUSTER DDL is rendered for ClickHouse %v and later only", o.Cluster, ModernSince)
		}
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
	days := retentionDays(opts.Retention)
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
		stmts := splitStatements(buf.String())
		if opts.Cluster != "" {
			if stmts, err = onCluster(opts, stmts); err != nil {
				return nil, fmt.Errorf("schemas: %s: %w", name, err)
			}
		}
		out = append(out, Migration{Version: v, Name: label, Statements: stmts})
	}
	return out, nil
}

// Setup returns the statements Migrate runs before the migrations, on
// every start: the database and the table that records applied
// migrations.
func Setup(opts Options) ([]string, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	db := opts.Database
	const cols = " (version UInt32, name String, dialect String, applied_at DateTime) ENGINE = "
	if opts.Cluster == "" {
		return []string{
			"CREATE DATABASE IF NOT EXISTS " + db,
			"CREATE TABLE IF NOT EXISTS " + db + ".schema_migrations" + cols + "ReplacingMergeTree ORDER BY version",
		}, nil
	}
	// One record for the whole cluster (no {shard} in the path): a
	// migration's DDL ran ON CLUSTER, on every node.
	oc := " ON CLUSTER " + opts.Cluster
	return []string{
		"CREATE DATABASE IF NOT EXISTS " + db + oc,
		"CREATE TABLE IF NOT EXISTS " + db + ".schema_migrations" + oc + cols +
			"ReplicatedReplacingMergeTree('/clickhouse/clarion/" + db + "/schema_migrations', '{replica}') ORDER BY version",
	}, nil
}

// Plan is everything Migrate would run on a fresh server of opts' dialect,
// in order: Setup, then every migration.
type Plan struct {
	Options    Options
	Setup      []string
	Migrations []Migration
}

// NewPlan renders opts' Plan.
func NewPlan(opts Options) (Plan, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Plan{}, err
	}
	setup, err := Setup(opts)
	if err != nil {
		return Plan{}, err
	}
	migs, err := Render(opts)
	if err != nil {
		return Plan{}, err
	}
	return Plan{Options: opts, Setup: setup, Migrations: migs}, nil
}

// WriteTo writes p as a SQL script, statements ending in ";" and a blank
// line, with comments naming each migration: what `clarion schema` prints.
func (p Plan) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	dialect := "legacy (DateTime, String, no codecs or TTL)"
	if p.Options.Dialect.Modern {
		dialect = "modern (DateTime64(3), LowCardinality, IPv6, codecs, TTL)"
	}
	fmt.Fprintf(&b, "-- Clarion ClickHouse schema: database %s, dialect %s\n", p.Options.Database, dialect)
	if p.Options.Retention > 0 {
		fmt.Fprintf(&b, "-- retention %d days (TTL)\n", retentionDays(p.Options.Retention))
	}
	if p.Options.Cluster != "" {
		fmt.Fprintf(&b, "-- cluster %s: ON CLUSTER, Replicated engines, Distributed tables\n", p.Options.Cluster)
	}
	b.WriteString("\n-- setup (every start; applied migrations are recorded in schema_migrations)\n")
	for _, s := range p.Setup {
		b.WriteString(s + ";\n\n")
	}
	for _, m := range p.Migrations {
		fmt.Fprintf(&b, "-- migration %04d_%s\n", m.Version, m.Name)
		for _, s := range m.Statements {
			b.WriteString(s + ";\n\n")
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// SplitScript splits a script WriteTo wrote back into its statements.
func SplitScript(script string) []string { return splitStatements(script) }

func retentionDays(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + 24*time.Hour - 1) / (24 * time.Hour))
}

var (
	createTable = regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS ([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)\n\(`)
	alterTable  = regexp.MustCompile(`^ALTER TABLE ([A-Za-z0-9_]+)\.([A-Za-z0-9_]+) `)
	engine      = regexp.MustCompile(`(?m)^ENGINE = ([A-Za-z]*MergeTree)(?:\(([^)]*)\))?$`)
	orderBy     = regexp.MustCompile(`(?m)^ORDER BY (.+)$`)
	dedupWindow = regexp.MustCompile(`, non_replicated_deduplication_window = \d+`)
)

// onCluster rewrites one migration's statements for a cluster (see
// Options.Cluster). It knows the two statement forms migrations use,
// CREATE TABLE IF NOT EXISTS <db>.<t> and ALTER TABLE <db>.<t>, and fails
// on any other, so a new kind of statement gets its cluster form written
// here rather than silently running on one node.
func onCluster(opts Options, stmts []string) ([]string, error) {
	oc := " ON CLUSTER " + opts.Cluster
	var out []string
	for _, s := range stmts {
		if m := createTable.FindStringSubmatch(s); m != nil {
			db, t := m[1], m[2]
			local := t + "_local"
			e := engine.FindStringSubmatch(s)
			o := orderBy.FindStringSubmatch(s)
			if e == nil || o == nil {
				return nil, fmt.Errorf("cluster: table %s: want an ENGINE = ...MergeTree line and an ORDER BY line", t)
			}
			args := "'/clickhouse/tables/{shard}/" + db + "/" + local + "', '{replica}'"
			if e[2] != "" {
				args += ", " + e[2]
			}
			ls := strings.Replace(s, m[0], "CREATE TABLE IF NOT EXISTS "+db+"."+local+oc+"\n(", 1)
			ls = strings.Replace(ls, e[0], "ENGINE = Replicated"+e[1]+"("+args+")", 1)
			// Replicated tables deduplicate inserts by replicated_deduplication_window.
			ls = dedupWindow.ReplaceAllString(ls, "")
			key := strings.TrimSpace(o[1])
			if !strings.HasPrefix(key, "(") {
				key = "(" + key + ")"
			}
			out = append(out, ls,
				"CREATE TABLE IF NOT EXISTS "+db+"."+t+oc+" AS "+db+"."+local+
					"\nENGINE = Distributed("+opts.Cluster+", "+db+", "+local+", cityHash64"+key+")")
			continue
		}
		if m := alterTable.FindStringSubmatch(s); m != nil {
			db, t := m[1], m[2]
			rest := strings.TrimPrefix(s, m[0])
			// The local table first: the Distributed one reads its columns.
			out = append(out,
				"ALTER TABLE "+db+"."+t+"_local"+oc+" "+rest,
				"ALTER TABLE "+db+"."+t+oc+" "+rest)
			continue
		}
		return nil, fmt.Errorf("cluster: no ON CLUSTER form for statement %q", firstLine(s))
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
	var res Result
	var err error
	if res.Server, err = ServerVersion(conn); err != nil {
		return res, err
	}
	res.Dialect = DialectFor(res.Server)
	opts.Dialect = res.Dialect
	plan, err := NewPlan(opts)
	if err != nil {
		return res, err
	}
	db, migs := plan.Options.Database, plan.Migrations
	for _, q := range plan.Setup {
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

// ParseVersion reads "X.Y" (or a full server version such as 24.8.4.13:
// only major and minor count).
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) < 2 {
		return Version{}, fmt.Errorf("schemas: server version %q: want MAJOR.MINOR, e.g. 24.8", s)
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || major < 1 || minor < 0 {
		return Version{}, fmt.Errorf("schemas: server version %q: want MAJOR.MINOR, e.g. 24.8", s)
	}
	return Version{major, minor}, nil
}

var createdTable = regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS [A-Za-z0-9_]+\.([A-Za-z0-9_]+)`)

// Tables returns the tables p's migrations create, in order, by the name
// queries and inserts use (on a cluster the Distributed table, not its
// <table>_local). schema_migrations is not among them.
func (p Plan) Tables() []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range p.Migrations {
		for _, s := range m.Statements {
			t := createdTable.FindStringSubmatch(s)
			if t == nil || seen[t[1]] || (p.Options.Cluster != "" && strings.HasSuffix(t[1], "_local")) {
				continue
			}
			seen[t[1]] = true
			out = append(out, t[1])
		}
	}
	return out
}
