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

var (
	sourcePoll = []byte(bus.SourcePoll)
)

// splitPage turns a System Log page (a JSON array of LogEvents) into one
// record per event for clarion.okta.events, each value the event's bytes
// exactly as Okta sent them (never re-encoded). Keys and headers are those
// the gateway writes: key integration/user, headers integration_id,
// source=poll, received_at and uuid.
func splitPage(body []byte, integrationID string, receivedAt time.Time) (pageEvents, error) {
	var out pageEvents
	idb := []byte(integrationID)
	rat := []byte(bus.FormatTime(receivedAt))
	err := scanPage(body, func(e *element) {
		if !e.object || !e.uuidOK || e.uuid == "" {
			out.skipped++
			return
		}
		uuid := []byte(e.uuid)
		out.records = append(out.records, &kgo.Record{
			Topic: bus.TopicEvents,
			Key:   bus.KeyFor(integrationID, logevent.UserKey(e.actorID, e.actorLogin)),
			Value: e.raw,
			Headers: []kgo.RecordHeader{
				{Key: bus.HeaderIntegrationID, Value: idb},
				{Key: bus.HeaderSource, Value: sourcePoll},
				{Key: bus.HeaderReceivedAt, Value: rat},
				{Key: bus.HeaderUUID, Value: uuid},
			},
		})
		out.lastUUID, out.lastPublished = string(uuid), strings.Clone(e.published)
		if t, err := logevent.ParseTime(e.published); err == nil && t.After(out.maxPublished) {
			out.maxPublished = t
		}
	})
	if err != nil {
		return pageEvents{}, err
	}
	return out, nil
}

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
