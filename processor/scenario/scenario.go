// Package scenario builds Okta LogEvents and `clarion eval` scenario lines
// for tests and the shipped scenario files. The events follow Okta's
// user.session.start shape (as in /work/shared/okta-samples).
package scenario

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Place is a city with its coordinates and the network its broadband users get.
type Place struct {
	City, State, Country string
	Lat, Lon             float64
	ASN                  int
	ISP                  string
	IPPrefix             string // "73.12." for instance
}

// Common places for hand-written scenarios.
var (
	NewYork   = Place{"New York", "New York", "United States", 40.7128, -74.0060, 7922, "Comcast Cable Communications, LLC", "73.12."}
	Newark    = Place{"Newark", "New Jersey", "United States", 40.7357, -74.1724, 7922, "Comcast Cable Communications, LLC", "73.14."}
	Boston    = Place{"Boston", "Massachusetts", "United States", 42.3601, -71.0589, 7922, "Comcast Cable Communications, LLC", "73.30."}
	Chicago   = Place{"Chicago", "Illinois", "United States", 41.8781, -87.6298, 7018, "AT&T Services, Inc.", "99.20."}
	Denver    = Place{"Denver", "Colorado", "United States", 39.7392, -104.9903, 7922, "Comcast Cable Communications, LLC", "73.40."}
	Atlanta   = Place{"Atlanta", "Georgia", "United States", 33.7490, -84.3880, 7018, "AT&T Services, Inc.", "99.108."}
	London    = Place{"London", "England", "United Kingdom", 51.5074, -0.1278, 2856, "British Telecommunications PLC", "81.2."}
	Moscow    = Place{"Moscow", "Moscow", "Russia", 55.7558, 37.6173, 8359, "MTS PJSC", "95.24."}
	Lagos     = Place{"Lagos", "Lagos", "Nigeria", 6.5244, 3.3792, 29465, "MTN Nigeria", "105.112."}
	Amsterdam = Place{"Amsterdam", "North Holland", "Netherlands", 52.3676, 4.9041, 9009, "M247 Europe SRL", "185.65."}
	Auckland  = Place{"Auckland", "Auckland", "New Zealand", -36.8485, 174.7633, 9500, "One New Zealand", "202.27."}
	Suva      = Place{"Suva", "Central", "Fiji", -18.1248, 178.4501, 38442, "Vodafone Fiji", "144.120."}
	Apia      = Place{"Apia", "Tuamasaga", "Samoa", -13.8507, -171.7514, 38800, "Digicel Samoa", "202.4."}
	Honolulu  = Place{"Honolulu", "Hawaii", "United States", 21.3069, -157.8583, 36149, "Hawaiian Telcom", "66.8."}
	Tokyo     = Place{"Tokyo", "Tokyo", "Japan", 35.6762, 139.6503, 2516, "KDDI Corporation", "106.72."}
)

// Signin is one user.session.start to render.
type Signin struct {
	UserID, Login string
	At            time.Time
	Place         Place
	IP            string // default: Place.IPPrefix + a per-user suffix
	Failure       bool
	Proxy         bool
	Threat        bool
	NoGeo         bool
	Carrier       bool   // ISP is a mobile carrier
	Browser, OS   string // default CHROME / Mac OS X
	Device        string // default Computer
	PublishedRaw  string // overrides the published text (placeholders)
	UUID          string // default derived from user, time and place
	EventType     string // default user.session.start
	// CountryFix renders a country-level fix: city, state and postal code
	// null, lat/lon as given in Place (the geo database's default point).
	CountryFix bool
	ISP        string // overrides Place.ISP (and the carrier/proxy defaults) when set
	ASN        int    // overrides Place.ASN when set
	Category   string // the scenario category written beside expect
	Expect     []string
}

// UUID derives a stable RFC 4122-shaped id from parts.
func UUID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	b := h.Sum(nil)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Event renders s as a LogEvent JSON object.
func (s Signin) Event() map[string]any {
	if s.Browser == "" {
		s.Browser = "CHROME"
	}
	if s.OS == "" {
		s.OS = "Mac OS X"
	}
	if s.Device == "" {
		s.Device = "Computer"
	}
	if s.IP == "" {
		h := sha256.Sum256([]byte(s.UserID + s.Place.City))
		s.IP = fmt.Sprintf("%s%d.%d", s.Place.IPPrefix, h[0], h[1]|1)
	}
	if s.UUID == "" {
		s.UUID = UUID(s.UserID, s.At.Format(time.RFC3339Nano), s.Place.City, s.IP)
	}
	if s.EventType == "" {
		s.EventType = "user.session.start"
	}
	pub := s.At.UTC().Format("2006-01-02T15:04:05.000Z")
	if s.PublishedRaw != "" {
		pub = s.PublishedRaw
	}
	outcome := map[string]any{"result": "SUCCESS", "reason": nil}
	if s.Failure {
		outcome = map[string]any{"result": "FAILURE", "reason": "INVALID_CREDENTIALS"}
	}
	geoCtx := map[string]any{"city": s.Place.City, "state": s.Place.State, "country": s.Place.Country, "postalCode": nil}
	if s.CountryFix {
		geoCtx = map[string]any{"city": nil, "state": nil, "country": s.Place.Country, "postalCode": nil,
			"geolocation": map[string]any{"lat": s.Place.Lat, "lon": s.Place.Lon}}
	} else if !s.NoGeo {
		geoCtx["geolocation"] = map[string]any{"lat": s.Place.Lat, "lon": s.Place.Lon}
	} else {
		geoCtx = map[string]any{"city": nil, "state": nil, "country": nil, "postalCode": nil, "geolocation": nil}
	}
	isp := s.Place.ISP
	asn := s.Place.ASN
	if s.Carrier {
		isp, asn = "T-Mobile USA, Inc.", 21928
	}
	if s.Proxy {
		isp, asn = "M247 Europe SRL", 9009
	}
	if s.ISP != "" {
		isp = s.ISP
	}
	if s.ASN != 0 {
		asn = s.ASN
	}
	debug := map[string]any{"requestUri": "/idp/idx/identify", "threatSuspected": fmt.Sprint(s.Threat)}
	return map[string]any{
		"uuid":           s.UUID,
		"published":      pub,
		"eventType":      s.EventType,
		"version":        "0",
		"severity":       "INFO",
		"displayMessage": "User login to Okta",
		"actor":          map[string]any{"id": s.UserID, "type": "User", "alternateId": s.Login, "displayName": s.Login, "detailEntry": nil},
		"client": map[string]any{
			"userAgent":           map[string]any{"rawUserAgent": "Mozilla/5.0", "os": s.OS, "browser": s.Browser},
			"zone":                "null",
			"device":              s.Device,
			"id":                  nil,
			"ipAddress":           s.IP,
			"geographicalContext": geoCtx,
		},
		"outcome": outcome,
		"securityContext": map[string]any{
			"asNumber": asn, "asOrg": isp, "isp": isp, "domain": "example.net", "isProxy": s.Proxy,
		},
		"debugContext":          map[string]any{"debugData": debug},
		"authenticationContext": map[string]any{"authenticationStep": 0, "externalSessionId": "idx" + s.UUID[:8]},
		"transaction":           map[string]any{"type": "WEB", "id": "tx" + s.UUID[:8]},
		"target":                nil,
	}
}

// Line is one scenario line.
type Line struct {
	Event    json.RawMessage `json:"event"`
	Expect   []string        `json:"expect"`
	Category string          `json:"category,omitempty"`
}

// Write writes signins as scenario JSONL.
func Write(w io.Writer, signins []Signin) error {
	for _, s := range signins {
		ev, err := json.Marshal(s.Event())
		if err != nil {
			return err
		}
		exp := s.Expect
		if exp == nil {
			exp = []string{}
		}
		b, err := json.Marshal(Line{Event: ev, Expect: exp, Category: s.Category})
		if err != nil {
			return err
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// Workdays returns sign-ins for user at place on each weekday between
// from and to (exclusive), at the given local hours, in zone loc.
func Workdays(user, login string, p Place, loc *time.Location, from, to time.Time, hours ...int) []Signin {
	var out []Signin
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		day := time.Date(d.Year(), d.Month(), d.Day(), 12, 0, 0, 0, loc)
		if day.Weekday() == time.Saturday || day.Weekday() == time.Sunday {
			continue
		}
		for i, h := range hours {
			at := time.Date(day.Year(), day.Month(), day.Day(), h, 7+i*11, 0, 0, loc)
			out = append(out, Signin{UserID: user, Login: login, At: at, Place: p})
		}
	}
	return out
}
