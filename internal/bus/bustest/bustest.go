// Package bustest starts in-process Kafka clusters (franz-go's kfake) for
// tests, with Clarion's topics created, and small helpers to produce and
// consume under a timeout.
package bustest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
)

// Cluster is a test Kafka cluster.
type Cluster struct {
	*kfake.Cluster
	Brokers []string
}

// New starts a one-broker cluster with every Clarion topic created with
// partitions partitions (0: 3), and closes it when the test ends.
// Extra kfake options (DataDir, ...) are applied last.
func New(t testing.TB, partitions int32, opts ...kfake.Opt) *Cluster {
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
	return &Cluster{Cluster: c, Brokers: c.ListenAddrs()}
}

// Client returns a client for brokers, closed when the test ends.
func Client(t testing.TB, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
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
