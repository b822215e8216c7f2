package poller

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrFenced means another poller started with the same transactional id
// and took over: this one must stop (Run returns it).
var ErrFenced = errors.New("poller: fenced by another poller with the same transactional id")

// sink writes one page: its events, then its cursor.
type sink interface {
	write(ctx context.Context, events []*kgo.Record, cursor *kgo.Record) error
}

// plainSink writes events, waits for their acks, then writes the cursor:
// at least once (a crash between the two re-reads one page).
type plainSink struct{ cl *kgo.Client }

func (s plainSink) write(ctx context.Context, events []*kgo.Record, cursor *kgo.Record) error {
	if len(events) > 0 {
		if err := s.cl.ProduceSync(ctx, events...).FirstErr(); err != nil {
			return fmt.Errorf("poller: write events: %w", err)
		}
	}
	if err := s.cl.ProduceSync(ctx, cursor).FirstErr(); err != nil {
		return fmt.Errorf("poller: write cursor: %w", err)
	}
	return nil
}

// txSink writes a page's events and cursor in one Kafka transaction:
// readers with read_committed isolation see both or neither, so a crash
// never duplicates a page. Pages of all integrations share the one
// transactional producer, one transaction at a time.
type txSink struct {
	mu    sync.Mutex
	cl    *kgo.Client
	fatal error
}

func (s *txSink) write(ctx context.Context, events []*kgo.Record, cursor *kgo.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fatal != nil {
		return s.fatal
	}
	if err := s.cl.BeginTransaction(); err != nil {
		return s.check(fmt.Errorf("poller: begin transaction: %w", err))
	}
	recs := append(events[:len(events):len(events)], cursor)
	if err := s.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		// Nothing of this page may become visible: abort, and the page is
		// read again (the cursor did not move).
		_ = s.cl.AbortBufferedRecords(ctx)
		if aerr := s.cl.EndTransaction(ctx, kgo.TryAbort); aerr != nil {
			return s.check(fmt.Errorf("poller: write page: %w (abort: %v)", err, aerr))
		}
		return s.check(fmt.Errorf("poller: write page: %w", err))
	}
	if err := s.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		// The outcome is unknown; abort what may remain. If the commit did
		// succeed, the page is written twice (deduplicated downstream).
		_ = s.cl.EndTransaction(ctx, kgo.TryAbort)
		return s.check(fmt.Errorf("poller: commit page: %w", err))
	}
	return nil
}

// check records errors after which this producer can never write again.
func (s *txSink) check(err error) error {
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		s.fatal = fmt.Errorf("%w: %v", ErrFenced, err)
		return s.fatal
	}
	return err
}

func (s *txSink) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal
}
