// Package logevent reads the fields Clarion analyses out of an Okta System
// Log event (LogEvent). The raw JSON stays the source of truth: it travels
// through Kafka byte for byte and is stored as it came; Event is the typed
// view that detectors and sinks use.
//
// Everything in an Event can be attacker-controlled (user agent, names,
// cities): treat every string as untrusted data.
package logevent

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Outcome results as Okta writes them in outcome.result.
const (
	OutcomeSuccess = "SUCCESS"
	OutcomeFailure = "FAILURE"
)

// EventTypeSessionStart is the sign-in event Clarion's detectors judge.
const EventTypeSessionStart = "user.session.start"

// ErrNotObject means the input is not a JSON object.
var ErrNotObject = errors.New("logevent: not a JSON object")

// ErrNoUUID means the event has no uuid, so it cannot be deduplicated.
var ErrNoUUID = errors.New("logevent: event has no uuid")

// Event is the typed view of one LogEvent. Zero values mean "absent".
type Event struct {
	UUID           string
	Published      time.Time // zero when absent or unparseable
	PublishedRaw   string
	EventType      string
	Severity       string
	DisplayMessage string
	Outcome        string // SUCCESS, FAILURE, ALLOW, DENY, ...
	OutcomeReason  string

	ActorID    string
	ActorLogin string // actor.alternateId
	ActorName  string // actor.displayName

	IP         string
	City       string
	State      string
	Country    string
	PostalCode string // Okta sends a string, some samples a number
	Lat, Lon   float64
	HasGeo     bool // geolocation present with both lat and lon

	ASN     int64
	ASOrg   string
	ISP     string
	Domain  string
	IsProxy bool

	UserAgent  string // client.userAgent.rawUserAgent
	Browser    string
	OS         string
	DeviceType string // client.device ("Computer", "Mobile", ...)

	DeviceFingerprint string // debugContext.debugData.deviceFingerprint
	ThreatSuspected   bool   // debugContext.debugData.threatSuspected == "true"
	Behaviors         string // debugContext.debugData.behaviors, "{New City=POSITIVE, ...}"
	Risk              string // debugContext.debugData.risk
	RequestURI        string
	SessionID         string // authenticationContext.externalSessionId
	TransactionID     string
}

// UserKey is the key of the user the event is about: actor.id, or
// actor.alternateId when Okta wrote "unknown" (failed sign-ins of unknown
// users) or left the id empty.
func (e *Event) UserKey() string { return UserKey(e.ActorID, e.ActorLogin) }

// UserKey applies the rule of Event.UserKey to raw values.
func UserKey(actorID, alternateID string) string {
	if actorID == "" || actorID == "unknown" {
		return alternateID
	}
	return actorID
}

// Success reports whether the event's outcome is SUCCESS.
func (e *Event) Success() bool { return e.Outcome == OutcomeSuccess }

// Parse fills ev from one LogEvent's JSON. It resets ev first. It fails only
// when raw is not a JSON object or has no uuid; odd field types (a number
// where Okta usually sends a string, a placeholder timestamp) are tolerated.
//
// Parse does not validate that raw is well-formed JSON beyond what it reads;
// the gateway validates deliveries before they reach Kafka.
func Parse(raw []byte, ev *Event) error {
	*ev = Event{}
	root := gjson.ParseBytes(raw)
	if !root.IsObject() {
		return ErrNotObject
	}
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "uuid":
			ev.UUID = v.String()
		case "published":
			ev.PublishedRaw = v.String()
			ev.Published, _ = ParseTime(ev.PublishedRaw)
		case "eventType":
			ev.EventType = v.String()
		case "severity":
			ev.Severity = v.String()
		case "displayMessage":
			ev.DisplayMessage = v.String()
		case "outcome":
			v.ForEach(func(k, v gjson.Result) bool {
				switch k.Str {
				case "result":
					ev.Outcome = str(v)
				case "reason":
					ev.OutcomeReason = str(v)
				}
				return true
			})
		case "actor":
			v.ForEach(func(k, v gjson.Result) bool {
				switch k.Str {
				case "id":
					ev.ActorID = str(v)
				case "alternateId":
					ev.ActorLogin = str(v)
				case "displayName":
					ev.ActorName = str(v)
				}
				return true
			})
		case "client":
			parseClient(v, ev)
		case "securityContext":
			v.ForEach(func(k, v gjson.Result) bool {
				switch k.Str {
				case "asNumber":
					ev.ASN = v.Int()
				case "asOrg":
					ev.ASOrg = str(v)
				case "isp":
					ev.ISP = str(v)
				case "domain":
					ev.Domain = str(v)
				case "isProxy":
					ev.IsProxy = v.Type == gjson.True || (v.Type == gjson.String && strings.EqualFold(v.Str, "true"))
				}
				return true
			})
		case "debugContext":
			v.Get("debugData").ForEach(func(k, v gjson.Result) bool {
				switch k.Str {
				case "deviceFingerprint":
					ev.DeviceFingerprint = str(v)
				case "threatSuspected":
					ev.ThreatSuspected = strings.EqualFold(v.String(), "true")
				case "behaviors":
					ev.Behaviors = str(v)
				case "risk":
					ev.Risk = str(v)
				case "requestUri":
					ev.RequestURI = str(v)
				}
				return true
			})
		case "authenticationContext":
			ev.SessionID = str(v.Get("externalSessionId"))
		case "transaction":
			ev.TransactionID = str(v.Get("id"))
		}
		return true
	})
	if ev.UUID == "" {
		return ErrNoUUID
	}
	return nil
}

func parseClient(v gjson.Result, ev *Event) {
	v.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "ipAddress":
			ev.IP = str(v)
		case "device":
			ev.DeviceType = str(v)
		case "userAgent":
			v.ForEach(func(k, v gjson.Result) bool {
				switch k.Str {
				case "rawUserAgent":
					ev.UserAgent = str(v)
				case "browser":
					ev.Browser = str(v)
				case "os":
					ev.OS = str(v)
				}
				return true
			})
		case "geographicalContext":
			v.ForEach(func(k, v gjson.Result) bool {
				switch k.Str {
				case "city":
					ev.City = str(v)
				case "state":
					ev.State = str(v)
				case "country":
					ev.Country = str(v)
				case "postalCode":
					ev.PostalCode = str(v)
				case "geolocation":
					lat, lon := v.Get("lat"), v.Get("lon")
					if lat.Type == gjson.Number && lon.Type == gjson.Number {
						ev.Lat, ev.Lon, ev.HasGeo = lat.Num, lon.Num, true
					}
				}
				return true
			})
		}
		return true
	})
}

// str returns a JSON string's value, a number's literal text, and "" for
// null, absent, objects and arrays.
func str(v gjson.Result) string {
	switch v.Type {
	case gjson.String:
		return v.Str
	case gjson.Number:
		return v.Raw
	case gjson.True:
		return "true"
	case gjson.False:
		return "false"
	}
	return ""
}

// ParseTime parses a LogEvent's published time: Okta's wire format
// (RFC 3339 with milliseconds) and the normalised "2006-01-02 15:04:05.999999999"
// (UTC) some exporters write.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02 15:04:05.999999999", s); err == nil {
		return t.UTC(), nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms > 1e11 {
		return time.UnixMilli(ms).UTC(), nil
	}
	return time.Time{}, errors.New("logevent: unrecognised time " + strconv.Quote(s))
}
