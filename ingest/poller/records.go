package poller

import (
	"errors"
	"strings"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/okta/logevent"
)

// ErrPage means a System Log page was not a valid JSON array.
var ErrPage = errors.New("poller: System Log page is not a valid JSON array")

// pageEvents is what one page turned into.
type pageEvents struct {
	records []*kgo.Record
	// skipped counts elements that were not objects or had no uuid (they
	// cannot be deduplicated, so they are not written).
	skipped int
	// lastUUID and lastPublished are those of the last event in page order.
	lastUUID, lastPublished string
	// maxPublished is the latest published time in the page.
	maxPublished time.Time
}

// splitPage turns a System Log page (a JSON array of LogEvents) into one
// record per event for clarion.okta.events, each value the event's bytes
// exactly as Okta sent them (never re-encoded). Keys and headers are those
// the gateway writes: key integration/user, headers integration_id,
// source=poll, received_at and uuid.
func splitPage(body []byte, integrationID string, receivedAt time.Time) (pageEvents, error) {
	var out pageEvents
	// Header values shared by the page's records (never modified).
	idb := []byte(integrationID)
	rat := []byte(bus.FormatTime(receivedAt))
	src := []byte(bus.SourcePoll)
	// Records, headers and keys are carved from per-page slabs: a few
	// allocations per page instead of several per event.
	const slab = 256
	var (
		recs    []kgo.Record
		hdrs    []kgo.RecordHeader
		keys    []byte
		lastPub string // aliases body until the end
		maxPub  string
	)
	err := scanPage(body, func(e *element) {
		if !e.object || !e.uuidOK || e.uuid == "" {
			out.skipped++
			return
		}
		if len(recs) == cap(recs) {
			recs = make([]kgo.Record, 0, slab)
			hdrs = make([]kgo.RecordHeader, 0, 4*slab)
		}
		user := logevent.UserKey(e.actorID, e.actorLogin)
		n := len(integrationID) + 1 + len(user) + len(e.uuid)
		if cap(keys)-len(keys) < n {
			keys = make([]byte, 0, max(n, 64<<10))
		}
		k0 := len(keys)
		keys = bus.AppendKey(keys, integrationID, user)
		k1 := len(keys)
		keys = append(keys, e.uuid...)
		h0 := len(hdrs)
		hdrs = append(hdrs,
			kgo.RecordHeader{Key: bus.HeaderIntegrationID, Value: idb},
			kgo.RecordHeader{Key: bus.HeaderSource, Value: src},
			kgo.RecordHeader{Key: bus.HeaderReceivedAt, Value: rat},
			kgo.RecordHeader{Key: bus.HeaderUUID, Value: keys[k1:len(keys):len(keys)]},
		)
		recs = append(recs, kgo.Record{
			Topic:   bus.TopicEvents,
			Key:     keys[k0:k1:k1],
			Value:   e.raw,
			Headers: hdrs[h0:len(hdrs):len(hdrs)],
		})
		out.records = append(out.records, &recs[len(recs)-1])
		lastPub = e.published
		// Okta's published times share one format (RFC 3339, ms, UTC), so
		// they order as strings; the latest is parsed once, below.
		if e.published > maxPub {
			maxPub = e.published
		}
	})
	if err != nil {
		return pageEvents{}, err
	}
	if n := len(out.records); n > 0 {
		out.lastUUID = bus.Header(out.records[n-1], bus.HeaderUUID)
		out.lastPublished = strings.Clone(lastPub)
		if t, err := logevent.ParseTime(maxPub); err == nil {
			out.maxPublished = t
		}
	}
	return out, nil
}

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
