// Package bustest gives tests a Kafka cluster with Clarion's topics
// created, and small helpers to produce and consume under a timeout.
//
// It is the one switch between brokers: New starts an in-process kfake
// cluster, or, when CLARION_TEST_KAFKA names a real cluster (.ci/kafka.sh
// runs the suite a second time on three Apache Kafka brokers), takes that
// cluster for the test. Tests on the real cluster take turns (a file lock
// across packages; Clarion's topic names are fixed) and find the topics
// new and empty; they are deleted when the test ends.
package bustest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/clarion-itdr/clarion/internal/bus"
)

// Cluster is a test Kafka cluster.
type Cluster struct {
	// Cluster is the kfake cluster; nil on a real cluster (see Fake).
	*kfake.Cluster
	Brokers []string
	// Opts are the TLS and SASL options of a real cluster's listener, for
	// the clients a test gives components (nil on kfake and on a
	// plaintext listener). Client adds them by itself.
	Opts []kgo.Opt
	// Real reports a real cluster.
	Real bool

	t testing.TB
}

// Fake returns the kfake cluster, and skips the test on a real cluster:
// what a test does with it (stop the broker, intercept requests) cannot be
// done to a shared Apache Kafka cluster.
func (c *Cluster) Fake() *kfake.Cluster {
	if c.Cluster == nil {
		c.t.Helper()
		c.t.Skip("drives kfake (stops the broker or intercepts requests): kfake only")
	}
	return c.Cluster
}

// Close stops a kfake cluster (the broker goes away); on a real cluster it
// skips the test.
func (c *Cluster) Close() { c.Fake().Close() }

// ControlKey is kfake's, on kfake only (skips the test on a real cluster).
func (c *Cluster) ControlKey(key int16, fn func(kmsg.Request) (kmsg.Response, error, bool)) {
	c.Fake().ControlKey(key, fn)
}

// KeepControl is kfake's, on kfake only.
func (c *Cluster) KeepControl() { c.Fake().KeepControl() }

// New returns a cluster with every Clarion topic created with partitions
// partitions (0: 3), released when the test ends: a one-broker kfake
// cluster, with the extra kfake options (DataDir, ...) applied last, or the
// real cluster of CLARION_TEST_KAFKA (kfake options do not apply there).
// A test that asks for a second cluster while it holds the real one gets
// kfake for it.
func New(t testing.TB, partitions int32, opts ...kfake.Opt) *Cluster {
	t.Helper()
	if partitions <= 0 {
		partitions = 3
	}
	if real := RealBrokers(); len(real) > 0 {
		h, ok := holder(t)
		if !ok {
			return newReal(t, real, partitions)
		}
		t.Logf("bustest: %s already holds the real cluster; this cluster is kfake", h)
	}
	return NewFake(t, partitions, opts...)
}

// NewFake is New on kfake always: for tests that drive kfake itself
// (ControlKey, restarts from a DataDir).
func NewFake(t testing.TB, partitions int32, opts ...kfake.Opt) *Cluster {
	t.Helper()
	if partitions <= 0 {
		partitions = 3
	}
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	cl := Client(t, c.ListenAddrs())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.EnsureTopics(ctx, cl, bus.Topics(partitions)); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	return &Cluster{Cluster: c, Brokers: c.ListenAddrs(), t: t}
}

// Client returns a client for brokers, closed when the test ends. On the
// real cluster it connects with the cluster's TLS and SASL options.
func Client(t testing.TB, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, securityFor(t, brokers)...)
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// ConsumeN reads n committed records from topic, starting at the beginning,
// and fails the test if they do not arrive within timeout. It reads with
// read_committed isolation, as Clarion's consumers do.
func ConsumeN(t testing.TB, brokers []string, topic string, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl := Client(t, brokers,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: got %d records of %d within %v", topic, len(out), n, timeout)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch: %v", err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// ConsumeAll reads every committed record in topic up to its current end.
func ConsumeAll(t testing.TB, brokers []string, topic string, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl := Client(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ends, err := kadmEnds(ctx, cl, topic)
	if err != nil {
		t.Fatalf("end offsets %s: %v", topic, err)
	}
	total := 0
	for _, e := range ends {
		total += int(e)
	}
	if total == 0 {
		return nil
	}
	return ConsumeN(t, brokers, topic, total, timeout)
}
