package bus

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TransactSpec describes a consume-transform-produce stage that commits
// its outputs, its state topic and its consumer offsets in one Kafka
// transaction (franz-go's GroupTransactSession): the processor and the
// responder.
type TransactSpec struct {
	Brokers         []string
	ClientID        string
	TransactionalID string
	Group           string
	// Input is the topic consumed, from the start, read_committed.
	Input string
	// State is the stage's state topic: records for it are written to the
	// partition set on the record (the input partition they belong to);
	// records for every other topic are hashed by key.
	State string
	// OnAssigned and OnRevoked (also used for lost partitions) restore and
	// drop the state of partitions.
	OnAssigned, OnRevoked func(context.Context, *kgo.Client, map[string][]int32)
	Logger                *slog.Logger
}

// TransactionTimeout is how long a transaction may stay open before the
// broker aborts it. It bounds how long a transaction left open by a
// process that died (and whose transactional ID nobody reuses) holds the
// last stable offset of the partitions it wrote, and with it every
// read_committed reader and restore. A batch's transaction lasts well
// under a second.
const TransactionTimeout = 10 * time.Second

// TransactOpts returns the options of a GroupTransactSession for s:
// read_committed, stable fetch offsets, acks=all, the state partitioner,
// the transactional ID as the static group instance ID, and
// TransactionTimeout.
func TransactOpts(s TransactSpec) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(s.Brokers...),
		kgo.ClientID(s.ClientID),
		kgo.TransactionalID(s.TransactionalID),
		kgo.TransactionTimeout(TransactionTimeout),
		// Static membership: a restarted instance takes its predecessor's
		// place in the group at once instead of waiting for the dead
		// member's session to time out (45 s) before a rebalance.
		kgo.InstanceID(s.TransactionalID),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumerGroup(s.Group),
		kgo.ConsumeTopics(s.Input),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RequireStableFetchOffsets(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(statePartitioner{state: s.State, hash: kgo.StickyKeyPartitioner(nil)}),
		kgo.OnPartitionsAssigned(s.OnAssigned),
		kgo.OnPartitionsRevoked(s.OnRevoked),
		kgo.OnPartitionsLost(s.OnRevoked),
		kgo.WithLogger(KgoLogger(s.Logger)),
	}
}

// statePartitioner writes records of the state topic to the partition set
// on the record and hashes keys everywhere else.
type statePartitioner struct {
	state string
	hash  kgo.Partitioner
}

func (p statePartitioner) ForTopic(t string) kgo.TopicPartitioner {
	if t == p.state {
		return kgo.ManualPartitioner().ForTopic(t)
	}
	return p.hash.ForTopic(t)
}

// FlushProduced flushes the records produced in the current transaction
// and returns the first produce error of prod (an AbortingFirstErrPromise
// given to every Produce of the transaction), or the flush's error. Called
// before ending a transaction: a non-nil error means the transaction must
// abort, since some record of it is not in the log.
func FlushProduced(ctx context.Context, cl *kgo.Client, prod *kgo.FirstErrPromise) error {
	if err := cl.Flush(ctx); err != nil {
		// Promises of records still buffered complete when the
		// transaction aborts; do not wait for them here.
		return err
	}
	return prod.Err()
}

// Fence initialises cl's transactional producer (InitProducerID) and
// returns how long it took. Called on partition assignment before a state
// restore: the broker first aborts the transaction a crashed predecessor
// with the same transactional ID left open, so the last stable offset of
// the state topic moves past it and the restore reads everything
// committed instead of stopping at (or waiting behind) the open
// transaction. The broker answers CONCURRENT_TRANSACTIONS while it
// aborts, which franz-go retries.
func Fence(ctx context.Context, cl *kgo.Client) (time.Duration, error) {
	start := time.Now()
	_, _, err := cl.ProducerID(ctx)
	return time.Since(start), err
}

// LeaveGroup removes the static member instanceID from group, for a clean
// shutdown: a static member's client does not leave the group when it
// closes (its successor is expected to take its place), so without this
// its partitions would wait for its session to time out (45 s) before
// moving to the other replicas. Errors are logged: the session timeout
// still applies.
func LeaveGroup(brokers []string, group, instanceID string, log *slog.Logger, opts ...kgo.Opt) {
	cl, err := NewClient(brokers, log, opts...)
	if err != nil {
		log.Warn("leave group", "group", group, "err", err)
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).LeaveGroup(ctx, kadm.LeaveGroup(group).InstanceIDs(instanceID).Reason("shutdown"))
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		log.Warn("leave group", "group", group, "instance_id", instanceID, "err", err)
	}
}

// KgoLogger adapts l to franz-go's logger at warn level (errors and
// warnings as such, the rest at debug).
func KgoLogger(l *slog.Logger) kgo.Logger { return slogAdapter{l} }

// FirstErr keeps the first non-nil error reported to it, from any
// goroutine: the produce promises of one transaction.
type FirstErr struct {
	mu  sync.Mutex
	err error
}

// Set records err if it is the first non-nil one.
func (e *FirstErr) Set(err error) {
	if err == nil {
		return
	}
	e.mu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.mu.Unlock()
}

// Err returns the first error recorded, or nil.
func (e *FirstErr) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// CheckStateTopics creates missing topics and verifies that the state
// topic has at least as many partitions as the input topic: a key's state
// lives in the state partition numbered like its input partition. The
// error is permanent (fix the topics; retrying does not help).
func CheckStateTopics(ctx context.Context, brokers []string, log *slog.Logger, input, state string, opts ...kgo.Opt) error {
	cl, err := NewClient(brokers, log, opts...)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	if err := EnsureTopics(ctx, cl, Topics(0)); err != nil {
		return err
	}
	td, err := kadm.NewClient(cl).ListTopics(ctx, input, state)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	in, st := len(td[input].Partitions), len(td[state].Partitions)
	if st < in {
		return fmt.Errorf("%s has %d partitions, fewer than %s's %d: state could not follow its keys", state, st, input, in)
	}
	return nil
}
