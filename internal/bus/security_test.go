package bus_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/bus/bustest"
)

func envOf(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestSecurityOpts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caPath, _, certPath, keyPath := bustest.PKI(t, dir)
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := map[string]string{bus.EnvSASLPassword: "pw"}
	for _, tc := range []struct {
		name  string
		s     bus.Security
		nOpts int
		err   string // substring of the error; empty: no error
	}{
		{name: "plaintext", s: bus.Security{}, nOpts: 0},
		{name: "tls system roots", s: bus.Security{TLS: true}, nOpts: 1},
		{name: "tls ca", s: bus.Security{CA: caPath}, nOpts: 1},
		{name: "mtls", s: bus.Security{CA: caPath, Cert: certPath, Key: keyPath}, nOpts: 1},
		{name: "ca missing", s: bus.Security{CA: filepath.Join(dir, "nope.pem")}, err: "--kafka-ca"},
		{name: "ca not pem", s: bus.Security{CA: bad}, err: "holds no PEM certificate"},
		{name: "cert without key", s: bus.Security{Cert: certPath}, err: "go together"},
		{name: "scram-512", s: bus.Security{TLS: true, SASLMechanism: "scram-sha-512", SASLUser: "u", Env: envOf(pw)}, nOpts: 2},
		{name: "scram-256", s: bus.Security{SASLMechanism: "SCRAM-SHA-256", SASLUser: "u", Env: envOf(pw)}, nOpts: 1},
		{name: "plain", s: bus.Security{SASLMechanism: "plain", SASLUser: "u", Env: envOf(pw)}, nOpts: 1},
		{name: "no user", s: bus.Security{SASLMechanism: "plain", Env: envOf(pw)}, err: "--kafka-sasl-user is required"},
		{name: "no password", s: bus.Security{SASLMechanism: "scram-sha-512", SASLUser: "u", Env: envOf(nil)}, err: "$CLARION_KAFKA_SASL_PASSWORD is empty"},
		{name: "oauth token", s: bus.Security{SASLMechanism: "oauthbearer", Env: envOf(map[string]string{bus.EnvSASLToken: "t"})}, nOpts: 1},
		{name: "oauth nothing", s: bus.Security{SASLMechanism: "oauthbearer", Env: envOf(nil)}, err: "CLARION_KAFKA_SASL_TOKEN"},
		{name: "msk iam", s: bus.Security{TLS: true, SASLMechanism: "aws-msk-iam", Env: envOf(map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s"})}, nOpts: 2},
		{name: "msk iam no keys", s: bus.Security{SASLMechanism: "aws-msk-iam", Env: envOf(nil)}, err: "AWS_ACCESS_KEY_ID"},
		{name: "unknown", s: bus.Security{SASLMechanism: "gssapi"}, err: "unknown mechanism"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts, err := tc.s.Opts()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(opts) != tc.nOpts {
				t.Fatalf("%d options, want %d", len(opts), tc.nOpts)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		err      error
		topic    string
		kind     string // empty: not explained
		resource string
	}{
		{"topic authz", kerr.TopicAuthorizationFailed, bus.TopicAlerts, bus.FailAuthorization, `topic "clarion.alerts"`},
		{"group authz", kerr.GroupAuthorizationFailed, "", bus.FailAuthorization, "a consumer group"},
		{"txn authz", kerr.TransactionalIDAuthorizationFailed, bus.TopicActions, bus.FailAuthorization, "a transactional id"},
		{"sasl", kerr.SaslAuthenticationFailed, "", bus.FailAuthentication, ""},
		{"x509", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, "", bus.FailTLS, ""},
		{"plaintext to tls", errors.New("invalid large response size 352518912 > limit 104857600; the first three bytes received appear to be a tls alert record for TLS v1.2; is this a plaintext connection speaking to a tls endpoint?"), "", bus.FailTLS, ""},
		{"other", errors.New("connection refused"), "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := bus.Explain(tc.err, tc.topic)
			var ce *bus.ConnError
			if !errors.As(got, &ce) {
				if tc.kind != "" {
					t.Fatalf("%v not explained, want %s", got, tc.kind)
				}
				return
			}
			if ce.Kind != tc.kind || ce.Resource != tc.resource || !errors.Is(got, tc.err) {
				t.Fatalf("kind %q resource %q (%v), want %q %q", ce.Kind, ce.Resource, got, tc.kind, tc.resource)
			}
		})
	}
}

// TestACLTable checks the table's promises: only the processor writes
// anomalies, alerts and its changelog; only the responder writes actions;
// only the console (approvals) and triage (proposals) write requests.
func TestACLTable(t *testing.T) {
	t.Parallel()
	writers := map[string][]string{}
	for c, ts := range bus.ComponentTopics(bus.ACLs(), "WRITE") {
		for _, tp := range ts {
			writers[tp] = append(writers[tp], c)
		}
	}
	for topic, want := range map[string][]string{
		bus.TopicAnomalies:         {"processor"},
		bus.TopicAlerts:            {"processor"},
		bus.TopicChangelog:         {"processor"},
		bus.TopicActions:           {"responder"},
		bus.TopicResponderRequests: {"console", "triage"},
		bus.TopicTriage:            {"triage"},
		bus.TopicPollerCursors:     {"poller"},
	} {
		got := writers[topic]
		sort.Strings(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s writers %v, want %v", topic, got, want)
		}
	}
}

func kadmClient(cl *kgo.Client) *kadm.Client { return kadm.NewClient(cl) }

// backend is a secured cluster with one principal per component.
type backend struct {
	brokers []string
	ca      string
	pass    func(component string) string
	// saslErrors: the broker answers a failed login with an error (Apache
	// Kafka); kfake just closes the connection.
	saslErrors bool
}

func (b backend) security(user, pass string) bus.Security {
	return bus.Security{CA: b.ca, SASLMechanism: bus.SASLScramSHA512, SASLUser: user,
		Env: envOf(map[string]string{bus.EnvSASLPassword: pass})}
}

func (b backend) client(t *testing.T, s bus.Security, extra ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts, err := s.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(b.brokers...)}, opts...), extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// fakeBackend is kfake with TLS, SCRAM-SHA-512 and ACLs: the component
// users exist, and an admin applied bus.ACLs as kafka-up does.
func fakeBackend(t *testing.T) backend {
	t.Helper()
	c := bustest.NewSecure(t, 3)
	return backend{brokers: c.Brokers, ca: c.CA, pass: c.Password}
}

// realBackend is the SASL_SSL listener of `make kafka-up`
// (CLARION_TEST_KAFKA_SASL, _SASL_CA, _CREDENTIALS), or false.
func realBackend(t *testing.T) (backend, bool) {
	t.Helper()
	brokers := os.Getenv(bustest.EnvSASL)
	if brokers == "" {
		return backend{}, false
	}
	creds, err := readEnvFile(os.Getenv(bustest.EnvCredentials))
	if err != nil {
		t.Fatalf("%s: %v", bustest.EnvCredentials, err)
	}
	if len(bustest.RealBrokers()) > 0 {
		bustest.New(t, 3) // take the shared cluster: fresh topics, cleaned up after
	}
	return backend{
		brokers: strings.Split(brokers, ","), ca: os.Getenv(bustest.EnvSASLCA),
		pass:       func(c string) string { return creds["CLARION_KAFKA_SASL_PASSWORD_"+strings.ToUpper(c)] },
		saslErrors: true,
	}, true
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			out[k] = v
		}
	}
	return out, sc.Err()
}

// TestLeastPrivilege: with each component's own principal, what the ACL
// table denies fails with an authorization error naming the topic (no
// component but the processor can forge an alert or an anomaly, none but
// the console and triage a proposal or an approval, none but the responder
// an action), and what it allows works. A wrong password fails
// authentication and a missing CA fails TLS. On kfake (TLS, SCRAM, ACLs)
// always, and on the real cluster's SASL_SSL listener when
// CLARION_TEST_KAFKA_SASL is set.
func TestLeastPrivilege(t *testing.T) {
	t.Run("kfake", func(t *testing.T) { leastPrivilege(t, fakeBackend(t)) })
	t.Run("kafka", func(t *testing.T) {
		b, ok := realBackend(t)
		if !ok {
			t.Skipf("%s is not set (make kafka-up; see .ci/kafka.sh)", bustest.EnvSASL)
		}
		leastPrivilege(t, b)
	})
}

func leastPrivilege(t *testing.T, b backend) {
	cases := []struct {
		component, topic, what string
		allowed                bool
	}{
		{"gateway", bus.TopicAlerts, "forge an alert", false},
		{"triage", bus.TopicAlerts, "forge an alert", false},
		{"console", bus.TopicAlerts, "forge an alert", false},
		{"gateway", bus.TopicAnomalies, "forge an anomaly", false},
		{"gateway", bus.TopicResponderRequests, "forge a proposal or an approval", false},
		{"poller", bus.TopicResponderRequests, "forge a proposal or an approval", false},
		{"sink", bus.TopicResponderRequests, "forge a proposal or an approval", false},
		{"processor", bus.TopicResponderRequests, "forge a proposal or an approval", false},
		{"responder", bus.TopicResponderRequests, "forge a proposal or an approval", false},
		{"console", bus.TopicActions, "forge an action", false},
		{"triage", bus.TopicActions, "forge an action", false},
		{"processor", bus.TopicActions, "forge an action", false},
		{"sink", bus.TopicEvents, "write raw events", false},
		{"processor", bus.TopicAlerts, "write an alert", true},
		{"console", bus.TopicResponderRequests, "write an approval", true},
		{"triage", bus.TopicResponderRequests, "write a proposal", true},
		{"gateway", bus.TopicEvents, "write raw events", true},
		{"responder", bus.TopicActions, "write an action", true},
	}
	for _, tc := range cases {
		cl := b.client(t, b.security(bus.PrincipalFor(tc.component), b.pass(tc.component)),
			kgo.RecordRetries(2), kgo.UnknownTopicRetries(2))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: tc.topic, Key: []byte("int1/00u1"),
			Value: []byte(`{"id":"forged-by-` + tc.component + `"}`)}).FirstErr()
		cancel()
		err = bus.Explain(err, tc.topic)
		if tc.allowed {
			if err != nil {
				t.Errorf("%s may %s on %s: %v", tc.component, tc.what, tc.topic, err)
			}
			continue
		}
		var ce *bus.ConnError
		if !errors.As(err, &ce) || ce.Kind != bus.FailAuthorization || !strings.Contains(ce.Error(), tc.topic) {
			t.Errorf("%s could %s on %s: err %v, want an authorization error naming the topic", tc.component, tc.what, tc.topic, err)
		}
	}

	// Reading: the sink may not read the requests (approvals), triage may
	// read alerts.
	for _, tc := range []struct {
		component, topic string
		allowed          bool
	}{{"sink", bus.TopicResponderRequests, false}, {"gateway", bus.TopicAlerts, false}, {"triage", bus.TopicAlerts, true}} {
		cl := b.client(t, b.security(bus.PrincipalFor(tc.component), b.pass(tc.component)))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := bus.Explain(bus.EnsureTopics(ctx, cl, []bus.TopicSpec{{Name: tc.topic, Partitions: 3}}), tc.topic)
		if err != nil {
			t.Fatalf("%s describe %s: %v", tc.component, tc.topic, err)
		}
		_, err = kadmClient(cl).ListStartOffsets(ctx, tc.topic)
		if err == nil {
			err = fetchOnce(ctx, b, tc.component, tc.topic)
		}
		cancel()
		var ce *bus.ConnError
		if tc.allowed && err != nil {
			t.Errorf("%s may read %s: %v", tc.component, tc.topic, err)
		}
		if !tc.allowed && (!errors.As(bus.Explain(err, tc.topic), &ce) || ce.Kind != bus.FailAuthorization) {
			t.Errorf("%s could read %s: err %v", tc.component, tc.topic, err)
		}
	}

	// Authentication and TLS failures are told apart.
	cl := b.client(t, b.security(bus.PrincipalFor("gateway"), "wrong"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var ce *bus.ConnError
	err := bus.Check(ctx, cl)
	if err == nil || b.saslErrors && (!errors.As(err, &ce) || ce.Kind != bus.FailAuthentication) {
		t.Errorf("wrong password: %v, want an authentication error", err)
	}
	noCA := b.security(bus.PrincipalFor("gateway"), b.pass("gateway"))
	noCA.CA, noCA.TLS = "", true
	if err := bus.Check(ctx, b.client(t, noCA)); !errors.As(err, &ce) || ce.Kind != bus.FailTLS {
		t.Errorf("unknown CA: %v, want a TLS error", err)
	}
}

// fetchOnce consumes topic as component without a group for at most 3 s
// and returns the first fetch error (nil: none came, reading is allowed).
func fetchOnce(ctx context.Context, b backend, component, topic string) error {
	opts, err := b.security(bus.PrincipalFor(component), b.pass(component)).Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(b.brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchMaxWait(200*time.Millisecond))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	fs := cl.PollFetches(ctx)
	for _, e := range fs.Errors() {
		if !errors.Is(e.Err, context.DeadlineExceeded) {
			return e.Err
		}
	}
	return nil
}

// TestACLDoc keeps docs/kafka.md's ACL table equal to bus.ACLs.
func TestACLDoc(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "kafka.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), bus.ACLTable(bus.ACLs())) {
		t.Fatal("docs/kafka.md's ACL table differs from bus.ACLTable(bus.ACLs()): regenerate it")
	}
}
