package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/clarion-itdr/clarion/internal/app"
	"github.com/clarion-itdr/clarion/responder"
	"github.com/clarion-itdr/clarion/sinks/clickhouse"
)

// bindEnv gives every flag of cmd a CLARION_* environment equivalent
// (--kafka-brokers ⇔ CLARION_KAFKA_BROKERS); a flag given on the command
// line wins over the environment.
func bindEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := "CLARION_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	return err
}

// envUsage appends the environment variable to each flag's usage text.
func envUsage(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		f.Usage += " [$CLARION_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_")) + "]"
	})
}

// runFlags are the flags of `clarion run` and every component command.
type runFlags struct {
	dataDir       string
	httpAddr      string
	publicURL     string
	kafkaBrokers  []string
	embeddedKafka string
	partitions    int32
	eventsRetain  time.Duration
	clickhouse    string
	chUser        string
	chPassword    string
	chDatabase    string
	chCompression string
	chTLS         clickhouse.TLS
	chCluster     string
	retention     time.Duration
	lake          bool
	egress        egressFlag
	lakeFlush     time.Duration
	maxBody       int64
	ackTimeout    time.Duration
	allowInsecure bool
	oktaDomains   []string
	logLevel      string
	logFormat     string

	triage    triageFlags
	responder responder.Settings
	people    peopleFlags
	kafka     kafkaFlags
}

func (f *runFlags) register(fs *pflag.FlagSet, embedded bool) {
	fs.StringVar(&f.dataDir, "data-dir", "./data", "directory for generated secrets, the embedded Kafka and the Parquet lake")
	fs.StringVar(&f.httpAddr, "http", ":8080", "listen address for hooks, console, API, /metrics, /healthz and /readyz")
	fs.StringVar(&f.publicURL, "public-url", "", "base URL Okta reaches Clarion at (https in production); default http://127.0.0.1:<port>")
	fs.StringSliceVar(&f.kafkaBrokers, "kafka-brokers", nil, "Kafka seed brokers host:port,...")
	f.kafka.register(fs)
	if embedded {
		fs.StringVar(&f.embeddedKafka, "embedded-kafka", "127.0.0.1:9092", "listen address of the embedded Kafka started when --kafka-brokers is empty")
	}
	fs.Int32Var(&f.partitions, "partitions", 0, "partitions of data topics created when missing (default 6 embedded, 12 on a cluster)")
	fs.DurationVar(&f.eventsRetain, "events-retention", 0, "retention of clarion.okta.events when created (default 48h; history lives in the lake and ClickHouse)")
	fs.Int64Var(&f.maxBody, "max-body", 10<<20, "largest event hook delivery accepted, in bytes")
	fs.DurationVar(&f.ackTimeout, "ack-timeout", 2500*time.Millisecond, "wait for Kafka acks before answering a hook 503")
	fs.BoolVar(&f.allowInsecure, "allow-insecure-tenants", false, "allow http, IP and localhost tenant URLs (the simulated org only)")
	fs.StringSliceVar(&f.oktaDomains, "okta-domains", nil, "only call Okta orgs under these domains: *.okta.com,*.oktapreview.com,*.okta-emea.com and custom domains (default: any public host)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	f.people.register(fs)
}

// registerResponse adds the triage and responder flags, for the targets
// that run them.
func (f *runFlags) registerResponse(fs *pflag.FlagSet, triage, respond bool) {
	if triage {
		f.triage.register(fs)
	}
	if respond {
		f.responder.RegisterFlags(fs)
	}
}

// registerSinks adds the storage flags, for the targets that run the sinks.
func (f *runFlags) registerSinks(fs *pflag.FlagSet) {
	fs.StringVar(&f.clickhouse, "clickhouse", "", "ClickHouse native address host:9000; empty: no ClickHouse sink")
	fs.StringVar(&f.chUser, "clickhouse-user", "default", "ClickHouse user")
	fs.StringVar(&f.chPassword, "clickhouse-password", "", "ClickHouse password (prefer the environment variable)")
	fs.StringVar(&f.chDatabase, "clickhouse-database", "clarion", "ClickHouse database")
	fs.StringVar(&f.chCompression, "clickhouse-compression", "none", "native protocol compression: none, lz4 or zstd (use one across a WAN)")
	fs.BoolVar(&f.chTLS.Enabled, "clickhouse-tls", false, "TLS to ClickHouse's secure native port (9440; ClickHouse Cloud), server certificate verified")
	fs.StringVar(&f.chTLS.CAFile, "clickhouse-ca", "", "PEM CA bundle for the ClickHouse server certificate (implies --clickhouse-tls); default the system roots")
	fs.StringVar(&f.chTLS.CertFile, "clickhouse-cert", "", "PEM client certificate for ClickHouse (optional, with --clickhouse-key)")
	fs.StringVar(&f.chTLS.KeyFile, "clickhouse-key", "", "PEM key of --clickhouse-cert")
	fs.StringVar(&f.chCluster, "clickhouse-cluster", "", "ClickHouse cluster: ON CLUSTER DDL, Replicated tables behind Distributed ones (22.3+); see clarion schema")
	fs.DurationVar(&f.retention, "retention", 0, "keep ClickHouse rows this long (TTL on ClickHouse 22.3 and later, set when tables are created); 0 keeps them forever")
	fs.BoolVar(&f.lake, "lake", true, "write the Parquet lake under <data-dir>/lake")
	fs.Var(&f.egress, "egress-networks", "declared egress networks (corporate VPN, security proxy): [integration-id=]CIDR[,CIDR...], repeatable; without an id, every integration")
	fs.DurationVar(&f.lakeFlush, "lake-flush-interval", 0, "Parquet flush interval: fewer, larger files when longer (0: 30s)")
}

func (f *runFlags) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: redact}
	switch f.logFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json")
}

// redact is a last line of defence: attributes whose names say they hold
// secrets are never written, whatever a caller passes.
func redact(_ []string, a slog.Attr) slog.Attr {
	k := strings.ToLower(a.Key)
	if strings.HasSuffix(k, "_path") || strings.HasSuffix(k, "_file") {
		return a // where a secret lives, not the secret
	}
	if strings.HasPrefix(k, "max_") || strings.HasSuffix(k, "_set") {
		return a // a bound (max_tokens) or whether a secret is set, not a secret
	}
	for _, s := range []string{"secret", "token", "password", "authorization", "private", "assertion", "api_key", "apikey"} {
		if strings.Contains(k, s) {
			return slog.String(a.Key, "[redacted]")
		}
	}
	return a
}

func (f *runFlags) config(log *slog.Logger) app.Config {
	return app.Config{
		DataDir:               f.dataDir,
		HTTPAddr:              f.httpAddr,
		PublicURL:             f.publicURL,
		KafkaBrokers:          f.kafkaBrokers,
		Kafka:                 f.kafka.s,
		EmbeddedKafka:         f.embeddedKafka,
		Partitions:            f.partitions,
		EventsRetention:       f.eventsRetain,
		ClickHouse:            f.clickhouse,
		ClickHouseUser:        f.chUser,
		ClickHousePassword:    f.chPassword,
		ClickHouseDatabase:    f.chDatabase,
		ClickHouseCompression: f.chCompression,
		ClickHouseTLS:         f.chTLS,
		ClickHouseCluster:     f.chCluster,
		Retention:             f.retention,
		NoLake:                !f.lake,
		EgressNetworks:        f.egress.m,
		LakeFlushInterval:     f.lakeFlush,
		Triage:                f.triage.settings(),
		Responder:             f.responder,
		OktaDomains:           f.oktaDomains,
		AdminToken:            os.Getenv("CLARION_ADMIN_TOKEN"),
		MasterKey:             os.Getenv("CLARION_MASTER_KEY"),
		MaxBody:               f.maxBody,
		AckTimeout:            f.ackTimeout,
		AllowInsecureTenants:  f.allowInsecure,
		People:                f.people.config(),
		Logger:                log,
	}
}

// egressFlag is --egress-networks: "[integration-id=]CIDR[,CIDR...]",
// repeatable; an address alone is a /32 (/128).
type egressFlag struct{ m map[string][]netip.Prefix }

func (e *egressFlag) String() string {
	if e == nil || len(e.m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(e.m))
	for k := range e.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		ps := make([]string, len(e.m[k]))
		for i, p := range e.m[k] {
			ps[i] = p.String()
		}
		parts = append(parts, k+"="+strings.Join(ps, ","))
	}
	return strings.Join(parts, ";")
}

func (e *egressFlag) Type() string { return "networks" }

func (e *egressFlag) Set(v string) error {
	for _, group := range strings.Split(v, ";") {
		group = strings.TrimSpace(group)
		if group == "" {
			continue
		}
		integ, list := "*", group
		if i := strings.IndexByte(group, '='); i >= 0 {
			integ, list = strings.TrimSpace(group[:i]), group[i+1:]
			if integ == "" {
				return fmt.Errorf("egress networks %q: empty integration id before '='", group)
			}
		}
		for _, c := range strings.Split(list, ",") {
			c = strings.TrimSpace(c)
			if c == "" {
				continue
			}
			p, err := netip.ParsePrefix(c)
			if err != nil {
				a, aerr := netip.ParseAddr(c)
				if aerr != nil {
					return fmt.Errorf("egress networks: %q is neither a CIDR nor an address", c)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			if e.m == nil {
				e.m = map[string][]netip.Prefix{}
			}
			e.m[integ] = append(e.m[integ], p.Masked())
		}
	}
	return nil
}
