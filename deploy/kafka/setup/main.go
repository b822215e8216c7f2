// Command setup prepares the local Kafka cluster of deploy/kafka/kafka.sh
// for Clarion: it waits for the brokers, creates Clarion's topics, one
// SCRAM-SHA-512 user per component (and clarion-test for the test suite),
// applies the least-privilege ACLs of bus.ACLs, proves a SASL_SSL login and
// writes the users' credentials to an env file (mode 0600).
//
// It talks to the PLAINTEXT listener, whose anonymous principal is a super
// user. Run again, it keeps the passwords it wrote before and re-applies
// the rest (every step is idempotent).
//
//	go run ./deploy/kafka/setup -brokers 127.0.0.1:19092 -sasl-brokers 127.0.0.1:19192 \
//	    -ca .kafka/tls/ca.pem -credentials .kafka/credentials.env
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
)

// TestUser is the principal of the test suite (CLARION_TEST_KAFKA): it may
// create and delete Clarion topics and use any group and transactional id.
const TestUser = "clarion-test"

func main() {
	brokers := flag.String("brokers", "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094", "PLAINTEXT listeners (anonymous super user)")
	saslBrokers := flag.String("sasl-brokers", "127.0.0.1:19192,127.0.0.1:19193,127.0.0.1:19194", "SASL_SSL listeners")
	ca := flag.String("ca", ".kafka/tls/ca.pem", "CA of the brokers' certificates")
	creds := flag.String("credentials", ".kafka/credentials.env", "env file of the SASL users, written with mode 0600")
	nodes := flag.Int("nodes", 3, "brokers to wait for")
	partitions := flag.Int("partitions", 6, "partitions of Clarion's data topics")
	timeout := flag.Duration("timeout", 3*time.Minute, "give up after")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, log, strings.Split(*brokers, ","), strings.Split(*saslBrokers, ","), *ca, *creds, *nodes, int32(*partitions)); err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, brokers, saslBrokers []string, ca, credPath string, nodes int, partitions int32) error {
	if err := waitBrokers(ctx, brokers, nodes); err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	log.Info("brokers up", "nodes", nodes)
	if err := bus.EnsureTopics(ctx, cl, bus.Topics(partitions)); err != nil {
		return err
	}

	users := map[string]string{} // user -> password
	old, err := readCredentials(credPath)
	if err != nil {
		return err
	}
	names := append(bus.Components(), "test")
	for _, c := range names {
		u := bus.PrincipalFor(c)
		if p := old[u]; p != "" {
			users[u] = p
			continue
		}
		users[u] = newPassword()
	}
	var up []kadm.UpsertSCRAM
	for u, p := range users {
		up = append(up, kadm.UpsertSCRAM{User: u, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: p})
	}
	res, err := adm.AlterUserSCRAMs(ctx, nil, up)
	if err != nil {
		return fmt.Errorf("scram users: %w", err)
	}
	if err := res.Error(); err != nil {
		return fmt.Errorf("scram users: %w", err)
	}
	if err := bus.ApplyACLs(ctx, adm, bus.ACLs(), nil); err != nil {
		return err
	}
	if err := testACLs(ctx, adm); err != nil {
		return err
	}
	log.Info("users and ACLs applied", "users", len(users))
	if err := writeCredentials(credPath, names, users); err != nil {
		return err
	}
	// SCRAM credentials reach every broker through the metadata log: retry
	// the login until all brokers know them.
	sec := bus.Security{CA: ca, SASLMechanism: bus.SASLScramSHA512, SASLUser: TestUser,
		Env: func(k string) (string, bool) { return users[TestUser], k == bus.EnvSASLPassword }}
	for _, b := range saslBrokers {
		if err := retry(ctx, func() error { return saslPing(ctx, sec, b) }); err != nil {
			return fmt.Errorf("SASL_SSL login on %s: %w", b, err)
		}
	}
	log.Info("SASL_SSL login works", "brokers", saslBrokers)
	return nil
}

// waitBrokers waits until every broker is registered and unfenced. Each
// try uses a new client: one that connected while the cluster formed can
// keep answering from a broker that saw fewer nodes.
func waitBrokers(ctx context.Context, brokers []string, n int) error {
	return retry(ctx, func() error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		if err != nil {
			return err
		}
		defer cl.Close()
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		m, err := kadm.NewClient(cl).BrokerMetadata(actx)
		if err != nil {
			return err
		}
		if len(m.Brokers) < n {
			return fmt.Errorf("%d of %d brokers registered", len(m.Brokers), n)
		}
		return nil
	})
}

// testACLs gives clarion-test what the test suite does: create, use and
// delete Clarion's topics, any group and transactional id.
func testACLs(ctx context.Context, adm *kadm.Client) error {
	p := "User:" + TestUser
	for _, b := range []*kadm.ACLBuilder{
		kadm.NewACLs().Allow(p).AllowHosts("*").Topics("clarion.").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpAll),
		kadm.NewACLs().Allow(p).AllowHosts("*").Groups("*").Operations(kadm.OpAll),
		kadm.NewACLs().Allow(p).AllowHosts("*").TransactionalIDs("*").Operations(kadm.OpAll),
		kadm.NewACLs().Allow(p).AllowHosts("*").Clusters().Operations(kadm.OpDescribe, kadm.OpAlter, kadm.OpDescribeConfigs),
	} {
		res, err := adm.CreateACLs(ctx, b)
		if err != nil {
			return fmt.Errorf("test acls: %w", err)
		}
		for _, r := range res {
			if r.Err != nil {
				return fmt.Errorf("test acls: %w", r.Err)
			}
		}
	}
	return nil
}

func saslPing(ctx context.Context, sec bus.Security, broker string) error {
	opts, err := sec.Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(broker))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return bus.Check(pctx, cl)
}

func retry(ctx context.Context, f func() error) error {
	var err error
	for {
		if err = f(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func newPassword() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Credential file lines: CLARION_KAFKA_SASL_USER_<C>=clarion-<c> and
// CLARION_KAFKA_SASL_PASSWORD_<C>=..., one pair per component.
func envSuffix(component string) string { return strings.ToUpper(component) }

func readCredentials(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && !strings.HasPrefix(k, "#") {
			kv[k] = v
		}
	}
	out := map[string]string{}
	for k, v := range kv {
		if s, ok := strings.CutPrefix(k, "CLARION_KAFKA_SASL_USER_"); ok {
			out[v] = kv["CLARION_KAFKA_SASL_PASSWORD_"+s]
		}
	}
	return out, sc.Err()
}

func writeCredentials(path string, components []string, users map[string]string) error {
	var b strings.Builder
	b.WriteString("# SASL users of the local Kafka cluster (deploy/kafka), one per Clarion component.\n")
	b.WriteString("# A component takes --kafka-sasl-user $CLARION_KAFKA_SASL_USER_<C> and\n")
	b.WriteString("# CLARION_KAFKA_SASL_PASSWORD=$CLARION_KAFKA_SASL_PASSWORD_<C>.\n")
	b.WriteString("CLARION_KAFKA_SASL_MECHANISM=scram-sha-512\n")
	sorted := append([]string(nil), components...)
	sort.Strings(sorted)
	for _, c := range sorted {
		u := bus.PrincipalFor(c)
		fmt.Fprintf(&b, "CLARION_KAFKA_SASL_USER_%s=%s\nCLARION_KAFKA_SASL_PASSWORD_%s=%s\n", envSuffix(c), u, envSuffix(c), users[u])
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
