package poller

import (
	"errors"
	"fmt"
	"time"

	"github.com/tidwall/gjson"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/okta/logevent"
)

// ErrPage means a System Log page was not a JSON array.
var ErrPage = errors.New("poller: System Log page is not a JSON array")

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
	if !gjson.ValidBytes(body) {
		return out, fmt.Errorf("%w: invalid JSON", ErrPage)
	}
	arr := gjson.ParseBytes(body)
	if !arr.IsArray() {
		return out, ErrPage
	}
	idb := []byte(integrationID)
	rat := []byte(bus.FormatTime(receivedAt))
	arr.ForEach(func(_, v gjson.Result) bool {
		if !v.IsObject() {
			out.skipped++
			return true
		}
		var uuid, published, actorID, actorLogin string
		v.ForEach(func(k, f gjson.Result) bool {
			switch k.Str {
			case "uuid":
				if f.Type == gjson.String {
					uuid = f.Str
				}
			case "published":
				published = f.String()
			case "actor":
				f.ForEach(func(k, a gjson.Result) bool {
					switch k.Str {
					case "id":
						actorID = a.String()
					case "alternateId":
						actorLogin = a.String()
					}
					return true
				})
			}
			return true
		})
		if uuid == "" {
			out.skipped++
			return true
		}
		out.records = append(out.records, &kgo.Record{
			Topic: bus.TopicEvents,
			Key:   bus.KeyFor(integrationID, logevent.UserKey(actorID, actorLogin)),
			Value: []byte(v.Raw),
			Headers: []kgo.RecordHeader{
				{Key: bus.HeaderIntegrationID, Value: idb},
				{Key: bus.HeaderSource, Value: sourcePoll},
				{Key: bus.HeaderReceivedAt, Value: rat},
				{Key: bus.HeaderUUID, Value: []byte(uuid)},
			},
		})
		out.lastUUID, out.lastPublished = uuid, published
		if t, err := logevent.ParseTime(published); err == nil && t.After(out.maxPublished) {
			out.maxPublished = t
		}
		return true
	})
	return out, nil
}
