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
	"slices"
	"strconv"
	"strings"
	"time"
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

// ErrLowercased means the event's top-level keys are lowercased
// ("eventtype", "displaymessage", "debugcontext"): a normalised export
// such as Panther's data lake writes, not a LogEvent as Okta sends it.
// Okta's hooks and System Log always write camelCase, so Clarion refuses
// these instead of guessing which spelling wins; re-export the raw JSON.
var ErrLowercased = errors.New(`logevent: the event's keys are lowercased ("eventtype", not "eventType"): a normalised export such as Panther's, not a LogEvent as Okta writes it`)

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

	IP         string // client.ipAddress; request.ipChain[0].ip when that is absent or "null"
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
	DTHash            string // debugContext.debugData.dtHash
	// debugContext.debugData.logOnlySecurityData, a JSON document inside a
	// string: {"risk":{"level":..,"reasons":..},"behaviors":{name: value}}.
	RiskLevel         string // risk.level (LOW, MEDIUM, HIGH)
	RiskReasons       string // risk.reasons
	SecurityBehaviors string // behaviors as "{New City=POSITIVE, New Device=NEGATIVE}", names sorted

	SessionID     string // authenticationContext.externalSessionId
	RootSessionID string // authenticationContext.rootSessionId
	TransactionID string

	// The top-level device object (Okta Verify / device-bound events).
	DeviceID       string // device.id
	DeviceName     string // device.name
	DeviceManaged  string // device.managed: "true", "false" or "" (absent)
	DevicePlatform string // device.os_platform (WINDOWS, OSX, IOS, ANDROID, ...)
}

// ipPlaceholder is what some exports write for an absent client address.
const ipPlaceholder = "null"

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

// Parse fills ev from one LogEvent's JSON. It resets ev first. It fails
// when raw is not a well-formed JSON object (ErrNotObject, ErrMalformed),
// is a lowercased export (ErrLowercased) or has no uuid (ErrNoUUID); odd field types (a number where Okta usually
// sends a string, a placeholder timestamp) are tolerated: strings read as
// themselves, numbers and booleans as their JSON text, null, objects and
// arrays as "". When a key repeats, the last occurrence wins, as with
// encoding/json.
//
// Parse reads raw in one pass without building a document; ev's strings
// share one copy of raw, so ev does not alias the caller's buffer.
func Parse(raw []byte, ev *Event) error {
	*ev = Event{}
	s := scanner{src: string(raw)}
	if s.kind() != '{' {
		return ErrNotObject
	}
	var chain chainHop // request.ipChain[0]
	var sawType, sawLowerType bool
	s.object(func(k string) {
		switch k {
		case "uuid":
			ev.UUID, _ = s.value()
		case "eventtype":
			sawLowerType = true
			s.skip()
		case "published":
			ev.PublishedRaw, _ = s.value()
			ev.Published, _ = ParseTime(ev.PublishedRaw)
		case "eventType":
			sawType = true
			ev.EventType, _ = s.value()
		case "severity":
			ev.Severity, _ = s.value()
		case "displayMessage":
			ev.DisplayMessage, _ = s.value()
		case "outcome":
			ev.Outcome, ev.OutcomeReason = "", ""
			s.object(func(k string) {
				switch k {
				case "result":
					ev.Outcome, _ = s.value()
				case "reason":
					ev.OutcomeReason, _ = s.value()
				default:
					s.skip()
				}
			})
		case "actor":
			ev.ActorID, ev.ActorLogin, ev.ActorName = "", "", ""
			s.object(func(k string) {
				switch k {
				case "id":
					ev.ActorID, _ = s.value()
				case "alternateId":
					ev.ActorLogin, _ = s.value()
				case "displayName":
					ev.ActorName, _ = s.value()
				default:
					s.skip()
				}
			})
		case "client":
			parseClient(&s, ev)
		case "securityContext":
			ev.ASN, ev.ASOrg, ev.ISP, ev.Domain, ev.IsProxy = 0, "", "", "", false
			s.object(func(k string) {
				switch k {
				case "asNumber":
					t, kind := s.value()
					ev.ASN = toInt(t, kind)
				case "asOrg":
					ev.ASOrg, _ = s.value()
				case "isp":
					ev.ISP, _ = s.value()
				case "domain":
					ev.Domain, _ = s.value()
				case "isProxy":
					t, kind := s.value()
					ev.IsProxy = (kind == 't') || (kind == 's' && strings.EqualFold(t, "true"))
				default:
					s.skip()
				}
			})
		case "debugContext":
			clearDebug(ev)
			s.object(func(k string) {
				if k != "debugData" {
					s.skip()
					return
				}
				clearDebug(ev)
				s.object(func(k string) {
					switch k {
					case "deviceFingerprint":
						ev.DeviceFingerprint, _ = s.value()
					case "threatSuspected":
						t, _ := s.value()
						ev.ThreatSuspected = strings.EqualFold(t, "true")
					case "behaviors":
						ev.Behaviors, _ = s.value()
					case "risk":
						ev.Risk, _ = s.value()
					case "requestUri":
						ev.RequestURI, _ = s.value()
					case "dtHash":
						ev.DTHash, _ = s.value()
					case "logOnlySecurityData":
						t, _ := s.value()
						parseSecurityData(t, ev)
					default:
						s.skip()
					}
				})
			})
		case "authenticationContext":
			ev.SessionID, ev.RootSessionID = "", ""
			s.object(func(k string) {
				switch k {
				case "externalSessionId":
					ev.SessionID, _ = s.value()
				case "rootSessionId":
					ev.RootSessionID, _ = s.value()
				default:
					s.skip()
				}
			})
		case "request":
			chain = chainHop{}
			s.object(func(k string) {
				if k != "ipChain" {
					s.skip()
					return
				}
				chain = chainHop{}
				s.array(func(i int) {
					if i == 0 {
						parseHop(&s, &chain)
					} else {
						s.skip()
					}
				})
			})
		case "device":
			ev.DeviceID, ev.DeviceName, ev.DeviceManaged, ev.DevicePlatform = "", "", "", ""
			s.object(func(k string) {
				switch k {
				case "id":
					ev.DeviceID, _ = s.value()
				case "name":
					ev.DeviceName, _ = s.value()
				case "managed":
					ev.DeviceManaged = boolText(s.value())
				case "os_platform":
					ev.DevicePlatform, _ = s.value()
				default:
					s.skip()
				}
			})
		case "transaction":
			ev.TransactionID = ""
			s.object(func(k string) {
				if k == "id" {
					ev.TransactionID, _ = s.value()
				} else {
					s.skip()
				}
			})
		default:
			s.skip()
		}
	})
	if s.err == nil && s.peek() != 0 {
		s.fail() // trailing data after the object
	}
	if s.err != nil {
		*ev = Event{}
		return s.err
	}
	if sawLowerType && !sawType {
		*ev = Event{}
		return ErrLowercased
	}
	if ev.UUID == "" {
		return ErrNoUUID
	}
	if ev.IP == ipPlaceholder {
		ev.IP = ""
	}
	if ev.IP == "" && chain.ip != "" {
		// Okta writes the address in request.ipChain only, for some
		// events (and exports drop client.ipAddress): the first hop is
		// the client. Its place stands in for the client's when the
		// client has none.
		ev.IP = chain.ip
		if ev.City == "" && ev.Country == "" && !ev.HasGeo {
			ev.City, ev.State, ev.Country, ev.PostalCode = chain.city, chain.state, chain.country, chain.postal
			ev.Lat, ev.Lon, ev.HasGeo = chain.lat, chain.lon, chain.hasGeo
		}
	}
	return nil
}

func clearDebug(ev *Event) {
	ev.DeviceFingerprint, ev.ThreatSuspected, ev.Behaviors, ev.Risk, ev.RequestURI = "", false, "", "", ""
	ev.DTHash, ev.RiskLevel, ev.RiskReasons, ev.SecurityBehaviors = "", "", "", ""
}

// boolText reads a boolean Okta may write as true/false or "true"/"false":
// "true", "false", or "" for anything else.
func boolText(t string, kind byte) string {
	switch {
	case kind == 't', kind == 's' && strings.EqualFold(t, "true"):
		return "true"
	case kind == 'f', kind == 's' && strings.EqualFold(t, "false"):
		return "false"
	}
	return ""
}

// chainHop is what Parse reads of request.ipChain[0].
type chainHop struct {
	ip, city, state, country, postal string
	lat, lon                         float64
	hasGeo                           bool
}

func parseHop(s *scanner, h *chainHop) {
	*h = chainHop{}
	s.object(func(k string) {
		switch k {
		case "ip":
			h.ip, _ = s.value()
		case "geographicalContext":
			h.city, h.state, h.country, h.postal, h.lat, h.lon, h.hasGeo = "", "", "", "", 0, 0, false
			s.object(func(k string) {
				switch k {
				case "city":
					h.city, _ = s.value()
				case "state":
					h.state, _ = s.value()
				case "country":
					h.country, _ = s.value()
				case "postalCode":
					h.postal, _ = s.value()
				case "geolocation":
					h.lat, h.lon, h.hasGeo = readGeo(s)
				default:
					s.skip()
				}
			})
		default:
			s.skip()
		}
	})
	if h.ip == ipPlaceholder {
		h.ip = ""
	}
}

// readGeo reads a geolocation object: lat and lon, both numbers, or none.
func readGeo(s *scanner) (lat, lon float64, ok bool) {
	var hasLat, hasLon bool
	s.object(func(k string) {
		switch k {
		case "lat":
			lat, hasLat = s.number()
		case "lon":
			lon, hasLon = s.number()
		default:
			s.skip()
		}
	})
	if hasLat && hasLon {
		return lat, lon, true
	}
	return 0, 0, false
}

// parseSecurityData reads logOnlySecurityData, a JSON document Okta sends
// inside a string. A malformed document leaves the fields empty; it never
// fails the event.
func parseSecurityData(doc string, ev *Event) {
	ev.RiskLevel, ev.RiskReasons, ev.SecurityBehaviors = "", "", ""
	s := scanner{src: doc}
	if s.kind() != '{' {
		return
	}
	var level, reasons string
	var behaviors map[string]string
	s.object(func(k string) {
		switch k {
		case "risk":
			level, reasons = "", ""
			s.object(func(k string) {
				switch k {
				case "level":
					level, _ = s.value()
				case "reasons":
					reasons, _ = s.value()
				default:
					s.skip()
				}
			})
		case "behaviors":
			behaviors = nil
			s.object(func(k string) {
				if behaviors == nil {
					behaviors = map[string]string{}
				}
				behaviors[k], _ = s.value()
			})
		default:
			s.skip()
		}
	})
	if s.err != nil || s.peek() != 0 {
		return
	}
	ev.RiskLevel, ev.RiskReasons = level, reasons
	ev.SecurityBehaviors = formatBehaviors(behaviors)
}

// formatBehaviors writes behaviours the way Okta writes debugData.behaviors,
// "{New City=POSITIVE, New Device=NEGATIVE}", with names sorted so the text
// is deterministic; "" when there are none.
func formatBehaviors(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(m[k])
	}
	b.WriteByte('}')
	return b.String()
}

// toInt reads asNumber: a JSON number (truncated toward zero) or a string
// of digits.
func toInt(t string, kind byte) int64 {
	switch kind {
	case 'n', 's':
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return n
		}
		if kind == 'n' {
			if f, err := strconv.ParseFloat(t, 64); err == nil && f > -9.2e18 && f < 9.2e18 {
				return int64(f)
			}
		}
	}
	return 0
}

func parseClient(s *scanner, ev *Event) {
	ev.IP, ev.DeviceType, ev.UserAgent, ev.Browser, ev.OS = "", "", "", "", ""
	clearGeo(ev)
	s.object(func(k string) {
		switch k {
		case "ipAddress":
			ev.IP, _ = s.value()
		case "device":
			ev.DeviceType, _ = s.value()
		case "userAgent":
			ev.UserAgent, ev.Browser, ev.OS = "", "", ""
			s.object(func(k string) {
				switch k {
				case "rawUserAgent":
					ev.UserAgent, _ = s.value()
				case "browser":
					ev.Browser, _ = s.value()
				case "os":
					ev.OS, _ = s.value()
				default:
					s.skip()
				}
			})
		case "geographicalContext":
			clearGeo(ev)
			s.object(func(k string) {
				switch k {
				case "city":
					ev.City, _ = s.value()
				case "state":
					ev.State, _ = s.value()
				case "country":
					ev.Country, _ = s.value()
				case "postalCode":
					ev.PostalCode, _ = s.value()
				case "geolocation":
					ev.Lat, ev.Lon, ev.HasGeo = readGeo(s)
				default:
					s.skip()
				}
			})
		default:
			s.skip()
		}
	})
}

func clearGeo(ev *Event) {
	ev.City, ev.State, ev.Country, ev.PostalCode = "", "", "", ""
	ev.Lat, ev.Lon, ev.HasGeo = 0, 0, false
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
