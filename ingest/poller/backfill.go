package poller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/okta"
)

// BackfillConfig configures Backfill.
type BackfillConfig struct {
	// Client reads the integration's org. Required.
	Client *okta.Client
	// IntegrationID labels the records. Required.
	IntegrationID string
	// Producer writes the records; configure it with ProducerOpts.
	// Required. Backfill flushes it before returning.
	Producer *kgo.Client
	// Since is where the import starts. Required.
	Since time.Time
	// Until is where it ends (exclusive). Default: now, when Backfill starts.
	Until time.Time
	// EventTypes are read. Default DefaultEventTypes().
	EventTypes []string
	// PageLimit is the page size. Default 1000.
	PageLimit int
	// Progress, if set, is called after each page is handed to Kafka.
	Progress func(BackfillProgress)
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// BackfillProgress describes an import so far.
type BackfillProgress struct {
	Events  int64 `json:"events"`
	Pages   int64 `json:"pages"`
	Skipped int64 `json:"skipped"`
	// Published is the latest published time read so far; with Since and
	// Until it tells how far through the window the import is.
	Published time.Time     `json:"published"`
	Since     time.Time     `json:"since"`
	Until     time.Time     `json:"until"`
	Elapsed   time.Duration `json:"elapsed"`
}

// Fraction is how far through [Since, Until) the import is, by published time.
func (p BackfillProgress) Fraction() float64 {
	span := p.Until.Sub(p.Since)
	if span <= 0 || p.Published.IsZero() {
		return 0
	}
	f := float64(p.Published.Sub(p.Since)) / float64(span)
	return max(0, min(1, f))
}

// Rate is events per second so far.
func (p BackfillProgress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Events) / p.Elapsed.Seconds()
}

// Backfill imports the System Log between Since and Until into
// clarion.okta.events (source=poll), in the poller's record shape, and
// returns once every record is acknowledged. It does not touch the
// poller's cursor: overlaps with the poller or the hook are removed
// downstream by uuid. Reading the next page overlaps with producing the
// current one.
func Backfill(ctx context.Context, cfg BackfillConfig) (BackfillProgress, error) {
	if cfg.Client == nil || cfg.Producer == nil || cfg.IntegrationID == "" || cfg.Since.IsZero() {
		return BackfillProgress{}, errors.New("poller: backfill needs Client, Producer, IntegrationID and Since")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.EventTypes) == 0 {
		cfg.EventTypes = DefaultEventTypes()
	}
	start := cfg.Now()
	if cfg.Until.IsZero() {
		cfg.Until = start
	}
	if !cfg.Until.After(cfg.Since) {
		return BackfillProgress{}, fmt.Errorf("poller: backfill window is empty: since %s is not before until %s", cfg.Since.Format(time.RFC3339), cfg.Until.Format(time.RFC3339))
	}
	first := cfg.Client.LogsURL(okta.LogQuery{Since: cfg.Since, Until: cfg.Until, Filter: okta.EventTypeFilter(cfg.EventTypes...), Limit: cfg.PageLimit})

	prog := BackfillProgress{Since: cfg.Since, Until: cfg.Until}
	var (
		produceErr error
		errOnce    sync.Once
		failed     atomic.Bool
	)
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			errOnce.Do(func() { produceErr = err })
			failed.Store(true)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	pages := make(chan fetched, 2)
	g.Go(func() error {
		defer close(pages)
		return readPages(gctx, cfg.Client, first, false, 0, cfg.Now, pages, nil)
	})
	g.Go(func() error {
		for f := range pages {
			pe, err := splitPage(f.page.Body, cfg.IntegrationID, f.at)
			if err != nil {
				return err
			}
			for _, r := range pe.records {
				cfg.Producer.Produce(ctx, r, promise) // not gctx: it ends when the reader does
			}
			if failed.Load() {
				return fmt.Errorf("poller: backfill write: %w", produceErr)
			}
			prog.Events += int64(len(pe.records))
			prog.Skipped += int64(pe.skipped)
			prog.Pages++
			if pe.maxPublished.After(prog.Published) {
				prog.Published = pe.maxPublished
			}
			prog.Elapsed = cfg.Now().Sub(start)
			if cfg.Progress != nil {
				cfg.Progress(prog)
			}
		}
		return nil
	})
	err := g.Wait()
	// Flush even after a failure, so what was read is not half-written.
	fctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if ferr := cfg.Producer.Flush(fctx); ferr != nil && err == nil {
		err = fmt.Errorf("poller: backfill flush: %w", ferr)
	}
	if err == nil && failed.Load() {
		err = fmt.Errorf("poller: backfill write: %w", produceErr)
	}
	prog.Elapsed = cfg.Now().Sub(start)
	if ctx.Err() != nil && err != nil {
		return prog, ctx.Err()
	}
	return prog, err
}

// maxBatchBytes keeps producer batches under Kafka's default
// message.max.bytes (1 MiB, also kfake's limit); bus.ProducerOpts allows
// 4 MiB batches, which a broker with default settings refuses with
// MESSAGE_TOO_LARGE once a 1000-event page fills a partition's batch.
const maxBatchBytes = 1_000_000

// ProducerOpts are the options of the poller's and backfill's producers:
// bus.ProducerOpts with batches that a default-configured broker accepts.
func ProducerOpts(linger time.Duration) []kgo.Opt {
	return append(bus.ProducerOpts(linger), kgo.ProducerBatchMaxBytes(maxBatchBytes))
}
