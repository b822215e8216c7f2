package bustest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/clarion-itdr/clarion/internal/bus"
)

// Environment of the real-cluster run (.ci/kafka.sh sets it from
// `make kafka-up`).
const (
	// EnvKafka holds the seed brokers of a real cluster. When set, New
	// returns that cluster instead of starting kfake.
	EnvKafka = "CLARION_TEST_KAFKA"
	// EnvCA, EnvSASLMechanism, EnvSASLUser and EnvSASLPassword are the
	// security of EnvKafka's listener (none: plaintext, no SASL).
	EnvCA            = "CLARION_TEST_KAFKA_CA"
	EnvSASLMechanism = "CLARION_TEST_KAFKA_SASL_MECHANISM"
	EnvSASLUser      = "CLARION_TEST_KAFKA_SASL_USER"
	EnvSASLPassword  = "CLARION_TEST_KAFKA_SASL_PASSWORD"
	// EnvSASL holds the SASL_SSL listeners of the cluster for the
	// security tests (each component's own principal), EnvSASLCA their
	// CA, EnvCredentials the env file of the principals' passwords
	// (deploy/kafka/setup writes it).
	EnvSASL        = "CLARION_TEST_KAFKA_SASL"
	EnvSASLCA      = "CLARION_TEST_KAFKA_SASL_CA"
	EnvCredentials = "CLARION_TEST_KAFKA_CREDENTIALS"
)

// RealBrokers returns the brokers of EnvKafka, or nil.
func RealBrokers() []string {
	v := strings.TrimSpace(os.Getenv(EnvKafka))
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// RealSecurity returns the security settings of EnvKafka's listener.
func RealSecurity() bus.Security {
	return bus.Security{
		CA:            os.Getenv(EnvCA),
		SASLMechanism: os.Getenv(EnvSASLMechanism),
		SASLUser:      os.Getenv(EnvSASLUser),
		Env: func(k string) (string, bool) {
			if k == bus.EnvSASLPassword {
				return os.LookupEnv(EnvSASLPassword)
			}
			return os.LookupEnv(k)
		},
	}
}

// SkipReal skips the test when New would return the real cluster: for
// tests that need kfake's behaviour before they touch it (an ack deadline
// a fresh Apache Kafka producer cannot meet, a broker that goes away).
func SkipReal(t testing.TB, why string) {
	t.Helper()
	if len(RealBrokers()) > 0 {
		t.Skip("kfake only: " + why)
	}
}

// securityFor returns the TLS and SASL options for brokers when they are
// the real cluster's, so helpers given c.Brokers connect like New did.
func securityFor(t testing.TB, brokers []string) []kgo.Opt {
	real := RealBrokers()
	if len(real) == 0 || len(brokers) == 0 || strings.Join(brokers, ",") != strings.Join(real, ",") {
		return nil
	}
	opts, err := RealSecurity().Opts()
	if err != nil {
		t.Fatalf("%s security: %v", EnvKafka, err)
	}
	return opts
}

// held records the tests that hold the real cluster, so a second New in
// the same test (or a subtest of it) does not wait for itself. Test
// support only: the lock is per process and per test binary.
var held sync.Map // test name -> struct{}

func holder(t testing.TB) (string, bool) {
	name := t.Name()
	for {
		if _, ok := held.Load(name); ok {
			return name, true
		}
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			return "", false
		}
		name = name[:i]
	}
}

// newReal takes the real cluster for the test: an exclusive file lock
// (tests of every package share the cluster and Clarion's fixed topic
// names, so they take turns), then deletes Clarion's topics and consumer
// groups left by anyone and creates the topics anew. When the test ends
// it deletes them again and releases the lock.
func newReal(t testing.TB, brokers []string, partitions int32) *Cluster {
	t.Helper()
	opts, err := RealSecurity().Opts()
	if err != nil {
		t.Fatalf("%s security: %v", EnvKafka, err)
	}
	lockPath := filepath.Join(os.TempDir(), "clarion-test-kafka.lock")
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("real kafka lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("real kafka lock: %v", err)
	}
	held.Store(t.Name(), struct{}{})
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	adm := kadm.NewClient(cl)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// The next test waits for the deletion to finish; this one need not.
		if err := wipe(ctx, adm, false); err != nil {
			t.Errorf("real kafka cleanup: %v", err)
		}
		cl.Close()
		held.Delete(t.Name())
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := wipe(ctx, adm, true); err != nil {
		t.Fatalf("real kafka: %v", err)
	}
	specs := bus.Topics(partitions)
	for {
		err := createTopics(ctx, cl, specs)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("real kafka: create topics: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := waitTopics(ctx, adm, specs); err != nil {
		t.Fatalf("real kafka: %v", err)
	}
	return &Cluster{Brokers: brokers, Opts: opts, Real: true, t: t}
}

// createTopics creates specs in one request (one controller round trip
// instead of one per topic, as bus.EnsureTopics does); topics that exist
// are fine.
func createTopics(ctx context.Context, cl *kgo.Client, specs []bus.TopicSpec) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30_000
	for _, s := range specs {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = s.Name, s.Partitions, -1
		for k, v := range s.Configs {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = k, v
			rt.Configs = append(rt.Configs, c)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("%s: %w", rt.Topic, err)
		}
	}
	return nil
}

// wipe deletes every topic whose name starts with "clarion." and every
// consumer group and, with wait, waits until the topics are gone.
func wipe(ctx context.Context, adm *kadm.Client, wait bool) error {
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("list groups: %w", err)
	}
	if gs := groups.Groups(); len(gs) > 0 {
		if _, err := adm.DeleteGroups(ctx, gs...); err != nil {
			return fmt.Errorf("delete groups: %w", err)
		}
	}
	deleted := false
	for {
		td, err := adm.ListTopics(ctx)
		if err != nil {
			return fmt.Errorf("list topics: %w", err)
		}
		var names []string
		for _, n := range td.Names() {
			if strings.HasPrefix(n, "clarion.") {
				names = append(names, n)
			}
		}
		if len(names) == 0 || deleted && !wait {
			return nil
		}
		resp, err := adm.DeleteTopics(ctx, names...)
		deleted = true
		if err != nil {
			return fmt.Errorf("delete topics: %w", err)
		}
		for _, r := range resp {
			if r.Err != nil && r.Err != kerr.UnknownTopicOrPartition {
				return fmt.Errorf("delete topic %s: %w", r.Topic, r.Err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics not deleted: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitTopics waits until every partition of specs has a leader that
// answers for it, so the first request of a test does not race the cluster.
func waitTopics(ctx context.Context, adm *kadm.Client, specs []bus.TopicSpec) error {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	for {
		td, err := adm.ListTopics(ctx, names...)
		ready := err == nil
		for _, s := range specs {
			d, ok := td[s.Name]
			if !ok || d.Err != nil || int32(len(d.Partitions)) < s.Partitions {
				ready = false
				break
			}
			for _, p := range d.Partitions {
				if p.Leader < 0 || p.Err != nil {
					ready = false
				}
			}
		}
		if ready {
			// Every leader must host its partitions, not only the
			// metadata say so: ListOffsets goes to each leader.
			ends, err := adm.ListEndOffsets(ctx, names...)
			if err == nil && ends.Error() == nil {
				n := 0
				ends.Each(func(kadm.ListedOffset) { n++ })
				want := 0
				for _, s := range specs {
					want += int(s.Partitions)
				}
				if n >= want {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics not ready: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
