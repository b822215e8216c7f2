package bustest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Ends says where ReadCommitted stops reading a topic's partitions.
type Ends func(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error)

// StableEnds are the last stable offsets: everything committed so far,
// nothing of a transaction still open.
func StableEnds(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	lo, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	return offsets(lo, err)
}

// HighWatermarks are the partitions' ends, open transactions included:
// reading to them waits until those transactions end.
func HighWatermarks(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	return kadmEnds(ctx, cl, topic)
}

func offsets(lo kadm.ListedOffsets, err error) (map[int32]int64, error) {
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// ReadCommitted reads topic from the start with read_committed up to the
// offsets ends gives, and returns its data records: transaction markers
// count for the position only (on Apache Kafka they follow a transaction's
// records, partition by partition, after EndTxn returns). It fails the
// test past timeout.
func ReadCommitted(t testing.TB, brokers []string, topic string, ends Ends, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl := Client(t, brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	all, err := ends(ctx, cl, topic)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	want := map[int32]int64{}
	for p, o := range all {
		if o > 0 {
			want[p] = o
		}
	}
	var out []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: %v (left to read: %v)", topic, ctx.Err(), want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if r.Offset+1 >= end {
				delete(want, r.Partition)
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	return out
}
