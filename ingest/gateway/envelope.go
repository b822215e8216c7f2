package gateway

import (
	"errors"
	"fmt"

	"unsafe"

	"github.com/tidwall/gjson"
)

// EnvelopeError says why a delivery body is not an Okta event hook envelope.
// The gateway answers it with 400, which Okta does not retry.
type EnvelopeError struct{ Reason string }

func (e *EnvelopeError) Error() string { return "not an Okta event hook delivery: " + e.Reason }

func envErr(format string, args ...any) error {
	return &EnvelopeError{Reason: fmt.Sprintf(format, args...)}
}

// ErrStop, returned by a SplitEnvelope callback, stops the iteration and is
// returned by SplitEnvelope.
var ErrStop = errors.New("gateway: stop")

// EventRef is one element of an envelope's data.events: its exact bytes
// (a sub-slice of the body, not a copy) and the fields the gateway keys by.
type EventRef struct {
	Raw         []byte
	DeliveryID  string // the envelope's eventId, the same for every event of a delivery
	UUID        string
	ActorID     string
	AlternateID string
}

// Envelope is what the gateway reads of a delivery.
type Envelope struct {
	EventID string // the delivery's eventId ("" if absent)
	Events  int
}

// SplitEnvelope validates body as Okta's event hook envelope
// ({"eventType":"com.okta.event_hook", ..., "data":{"events":[...]}}) and
// calls fn for each element of data.events in order, with the element's
// bytes exactly as sent. Nothing is re-encoded.
//
// The whole body is validated as JSON first, so fn is never called for a
// body that is rejected. Each event must be an object with a string uuid and
// an actor object. An envelope with an empty events array is valid.
//
// Hazard: EventRef.Raw aliases body; copy it if it must outlive body.
func SplitEnvelope(body []byte, fn func(EventRef) error) (Envelope, error) {
	var env Envelope
	if !gjson.ValidBytes(body) {
		return env, envErr("the body is not valid JSON")
	}
	// Parse over the body's memory without copying it: every string gjson
	// returns aliases body, which SplitEnvelope's caller keeps alive.
	root := gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body)))
	if !root.IsObject() {
		return env, envErr("the body is not a JSON object")
	}
	var data, eventType, eventID gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "data":
			data = v
		case "eventType":
			eventType = v
		case "eventId":
			eventID = v
		}
		return true
	})
	if eventType.Exists() && eventType.Str != "com.okta.event_hook" {
		return env, envErr("eventType is %q, want \"com.okta.event_hook\"", truncate(eventType.String(), 64))
	}
	if eventID.Type == gjson.String {
		env.EventID = eventID.Str
	}
	if !data.IsObject() {
		return env, envErr("it has no \"data\" object")
	}
	events := data.Get("events")
	if !events.IsArray() {
		return env, envErr("it has no \"data.events\" array")
	}

	// Validate every element before calling fn for any, so a delivery is
	// taken whole or not at all.
	var refs [32]EventRef
	list := refs[:0]
	var bad error
	i := 0
	events.ForEach(func(_, ev gjson.Result) bool {
		ref, err := eventRef(body, ev)
		if err != nil {
			bad = envErr("data.events[%d]: %s", i, err)
			return false
		}
		list = append(list, ref)
		i++
		return true
	})
	if bad != nil {
		return env, bad
	}
	env.Events = len(list)
	for _, r := range list {
		r.DeliveryID = env.EventID
		if err := fn(r); err != nil {
			return env, err
		}
	}
	return env, nil
}

// eventRef reads one event's uuid and actor without decoding the rest.
func eventRef(body []byte, ev gjson.Result) (EventRef, error) {
	if !ev.IsObject() {
		return EventRef{}, errors.New("the event is not a JSON object")
	}
	ref := EventRef{Raw: rawOf(body, ev)}
	var sawUUID, sawActor bool
	ev.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "uuid":
			if v.Type == gjson.String {
				ref.UUID, sawUUID = v.Str, true
			}
		case "actor":
			if v.IsObject() {
				sawActor = true
				v.ForEach(func(k, v gjson.Result) bool {
					switch k.Str {
					case "id":
						if v.Type == gjson.String {
							ref.ActorID = v.Str
						}
					case "alternateId":
						if v.Type == gjson.String {
							ref.AlternateID = v.Str
						}
					}
					return true
				})
			}
		}
		return !(sawUUID && sawActor)
	})
	switch {
	case !sawUUID || ref.UUID == "":
		return ref, errors.New("the event has no string \"uuid\"")
	case len(ref.UUID) > 128:
		return ref, errors.New("the event's uuid is longer than 128 bytes")
	case !sawActor:
		return ref, errors.New("the event has no \"actor\" object")
	}
	return ref, nil
}

// rawOf returns the exact bytes of r inside body. r.Raw aliases body (see
// SplitEnvelope), so its offset is a pointer difference; the bounds check
// guards the invariant and falls back to a copy if it ever broke.
func rawOf(body []byte, r gjson.Result) []byte {
	if len(body) == 0 || len(r.Raw) == 0 {
		return []byte(r.Raw)
	}
	off := int(uintptr(unsafe.Pointer(unsafe.StringData(r.Raw))) - uintptr(unsafe.Pointer(unsafe.SliceData(body))))
	if off < 0 || off+len(r.Raw) > len(body) {
		return []byte(r.Raw)
	}
	return body[off : off+len(r.Raw) : off+len(r.Raw)]
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
