package poller

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
)

// Cursor is where an integration's poll resumes, stored as JSON in the
// compacted topic clarion.poller.cursors under the integration id.
type Cursor struct {
	IntegrationID string `json:"integration_id"`
	// Next is the System Log next link to request. It already carries the
	// filter, limit and order of the read it continues.
	Next string `json:"next,omitempty"`
	// Filter is the SCIM filter Next was made with; a poller configured
	// with other event types restarts the read from LastPublished.
	Filter string `json:"filter"`
	// LastUUID and LastPublished identify the last event written.
	LastUUID      string    `json:"last_uuid,omitempty"`
	LastPublished string    `json:"last_published,omitempty"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func (c Cursor) record() (*kgo.Record, error) {
	v, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: bus.TopicPollerCursors, Key: []byte(c.IntegrationID), Value: v}, nil
}

// LoadCursors reads every cursor in clarion.poller.cursors (the latest per
// integration) up to the topic's current end.
func LoadCursors(ctx context.Context, brokers []string, log *slog.Logger, extra ...kgo.Opt) (map[string]Cursor, error) {
	cl, err := bus.NewClient(brokers, log, append([]kgo.Opt{
		kgo.ConsumeTopics(bus.TopicPollerCursors),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // transaction markers take offsets: see them to reach the end
		kgo.FetchMaxWait(200 * time.Millisecond),
	}, extra...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, bus.TopicPollerCursors)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("poller: read %s end offsets: %w", bus.TopicPollerCursors, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	out := map[string]Cursor{}
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("poller: replay %s: %w", bus.TopicPollerCursors, err)
		}
		fs.EachError(func(t string, p int32, err error) {
			log.Warn("poller cursor fetch", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			id := string(r.Key)
			if r.Value == nil {
				delete(out, id)
				return
			}
			var c Cursor
			if err := json.Unmarshal(r.Value, &c); err != nil || c.IntegrationID != id {
				log.Error("poller: skipping a corrupt cursor", "offset", r.Offset, "err", err)
				return
			}
			out[id] = c
		})
	}
	return out, nil
}
