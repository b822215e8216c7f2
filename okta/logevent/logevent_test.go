package logevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func samples(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/samples/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// TestSamples: every real sample parses (the hook envelope's events too),
// with the quirks SOURCES.md lists.
func TestSamples(t *testing.T) {
	for name, raw := range samples(t) {
		var ev Event
		err := Parse(raw, &ev)
		if strings.HasPrefix(name, "event-hook-delivery") {
			if !errors.Is(err, ErrNoUUID) {
				t.Errorf("%s: envelope parsed as an event: %v", name, err)
			}
			var env struct {
				Data struct{ Events []json.RawMessage } `json:"data"`
			}
			if err := json.Unmarshal(raw, &env); err != nil || len(env.Data.Events) == 0 {
				t.Fatalf("%s: %v", name, err)
			}
			raw = env.Data.Events[0]
			err = Parse(raw, &ev)
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		checkAgainstReference(t, raw, &ev)
		if ev.EventType != EventTypeSessionStart || ev.UserKey() == "" {
			t.Errorf("%s: type %q user %q", name, ev.EventType, ev.UserKey())
		}
	}
	// Quirks.
	s := samples(t)
	var ev Event
	_ = Parse(s["user-session-start-success-behaviors-threatsuspected.google-secops-wrapper.json"], &ev)
	if !ev.Published.IsZero() || ev.PublishedRaw == "" || !ev.ThreatSuspected || !strings.HasPrefix(ev.Behaviors, "{") {
		t.Errorf("secops sample: published %v %q threat %v behaviors %q", ev.Published, ev.PublishedRaw, ev.ThreatSuspected, ev.Behaviors)
	}
	_ = Parse(s["user-session-start-success.panther-okta_login_signal.json"], &ev)
	if ev.Published.IsZero() || !ev.HasGeo {
		t.Errorf("panther sample: published %v geo %v", ev.Published, ev.HasGeo)
	}
	_ = Parse(s["user-session-start-failure-verification-error.demisto-okta_v2-readme.json"], &ev)
	if ev.Success() || ev.UserKey() != ev.ActorLogin || ev.ActorID != "unknown" {
		t.Errorf("failure sample: outcome %q key %q", ev.Outcome, ev.UserKey())
	}
	_ = Parse(s["user-session-start-success.okta-openapi-ListLogs-example.json"], &ev)
	if ev.PostalCode == "" {
		t.Errorf("numeric postalCode lost")
	}
}

func TestParseErrors(t *testing.T) {
	var ev Event
	for _, c := range []struct {
		in   string
		want error
	}{
		{`[1]`, ErrNotObject},
		{`"x"`, ErrNotObject},
		{``, ErrNotObject},
		{`{"uuid":"a"`, ErrMalformed},
		{`{"uuid":"a",}`, ErrMalformed},
		{`{"uuid":"a"} x`, ErrMalformed},
		{`{"uuid":tru}`, ErrMalformed},
		{`{"client":{"ipAddress":"1.2.3.4"}}`, ErrNoUUID},
		{`{"uuid":null}`, ErrNoUUID},
		{`{"uuid":"a","eventtype":"user.session.start","displaymessage":"User login to Okta"}`, ErrLowercased},
		{`{"eventtype":"user.session.start"}`, ErrLowercased},
	} {
		if err := Parse([]byte(c.in), &ev); !errors.Is(err, c.want) {
			t.Errorf("%q: %v, want %v", c.in, err, c.want)
		}
	}
	if err := Parse([]byte(`{"uuid":7,"published":"<published>","securityContext":{"asNumber":"15169","isProxy":"TRUE"},"client":{"geographicalContext":{"geolocation":{"lat":1.5}}}}`), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.UUID != "7" || !ev.Published.IsZero() || ev.ASN != 15169 || !ev.IsProxy || ev.HasGeo {
		t.Errorf("tolerant reading: %+v", ev)
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2023-03-26T21:05:32.159Z":      time.Date(2023, 3, 26, 21, 5, 32, 159e6, time.UTC),
		"2024-04-02 19:17:37.621000000": time.Date(2024, 4, 2, 19, 17, 37, 621e6, time.UTC),
		"2023-03-26T23:05:32.159+02:00": time.Date(2023, 3, 26, 21, 5, 32, 159e6, time.UTC),
		"1679864732159":                 time.UnixMilli(1679864732159).UTC(),
	} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseTime("<published>"); err == nil {
		t.Error("placeholder parsed")
	}
}

// reference computes the Event encoding/json's reading of raw implies,
// with the same tolerance rules, from a generic decode.
func reference(raw []byte) (Event, error) {
	var ev Event
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var root any
	if err := d.Decode(&root); err != nil {
		return ev, err
	}
	m, ok := root.(map[string]any)
	if !ok {
		return ev, ErrNotObject
	}
	obj := func(v any) map[string]any { o, _ := v.(map[string]any); return o }
	str := func(v any) string {
		switch x := v.(type) {
		case string:
			return x
		case json.Number:
			return string(x)
		case bool:
			if x {
				return "true"
			}
			return "false"
		}
		return ""
	}
	ev.UUID = str(m["uuid"])
	ev.PublishedRaw = str(m["published"])
	ev.Published, _ = ParseTime(ev.PublishedRaw)
	ev.EventType, ev.Severity, ev.DisplayMessage = str(m["eventType"]), str(m["severity"]), str(m["displayMessage"])
	o := obj(m["outcome"])
	ev.Outcome, ev.OutcomeReason = str(o["result"]), str(o["reason"])
	a := obj(m["actor"])
	ev.ActorID, ev.ActorLogin, ev.ActorName = str(a["id"]), str(a["alternateId"]), str(a["displayName"])
	c := obj(m["client"])
	ev.IP, ev.DeviceType = str(c["ipAddress"]), str(c["device"])
	ua := obj(c["userAgent"])
	ev.UserAgent, ev.Browser, ev.OS = str(ua["rawUserAgent"]), str(ua["browser"]), str(ua["os"])
	g := obj(c["geographicalContext"])
	ev.City, ev.State, ev.Country, ev.PostalCode = str(g["city"]), str(g["state"]), str(g["country"]), str(g["postalCode"])
	gl := obj(g["geolocation"])
	lat, ok1 := gl["lat"].(json.Number)
	lon, ok2 := gl["lon"].(json.Number)
	if ok1 && ok2 {
		la, e1 := lat.Float64()
		lo, e2 := lon.Float64()
		if e1 == nil && e2 == nil {
			ev.Lat, ev.Lon, ev.HasGeo = la, lo, true
		}
	}
	sc := obj(m["securityContext"])
	switch x := sc["asNumber"].(type) {
	case json.Number:
		ev.ASN = toInt(string(x), 'n')
	case string:
		ev.ASN = toInt(x, 's')
	}
	ev.ASOrg, ev.ISP, ev.Domain = str(sc["asOrg"]), str(sc["isp"]), str(sc["domain"])
	switch x := sc["isProxy"].(type) {
	case bool:
		ev.IsProxy = x
	case string:
		ev.IsProxy = strings.EqualFold(x, "true")
	}
	dd := obj(obj(m["debugContext"])["debugData"])
	ev.DeviceFingerprint, ev.Behaviors, ev.Risk, ev.RequestURI = str(dd["deviceFingerprint"]), str(dd["behaviors"]), str(dd["risk"]), str(dd["requestUri"])
	ev.ThreatSuspected = strings.EqualFold(str(dd["threatSuspected"]), "true")
	ev.DTHash = str(dd["dtHash"])
	if doc, ok := dd["logOnlySecurityData"].(string); ok {
		var sd map[string]any
		dec := json.NewDecoder(strings.NewReader(doc))
		dec.UseNumber()
		if dec.Decode(&sd) == nil && !dec.More() && sd != nil {
			risk := obj(sd["risk"])
			ev.RiskLevel, ev.RiskReasons = str(risk["level"]), str(risk["reasons"])
			bm := map[string]string{}
			for k, v := range obj(sd["behaviors"]) {
				bm[k] = str(v)
			}
			ev.SecurityBehaviors = formatBehaviors(bm)
		}
	}
	ac := obj(m["authenticationContext"])
	ev.SessionID, ev.RootSessionID = str(ac["externalSessionId"]), str(ac["rootSessionId"])
	ev.TransactionID = str(obj(m["transaction"])["id"])
	dev := obj(m["device"])
	ev.DeviceID, ev.DeviceName, ev.DevicePlatform = str(dev["id"]), str(dev["name"]), str(dev["os_platform"])
	switch x := dev["managed"].(type) {
	case bool:
		ev.DeviceManaged = str(x)
	case string:
		if strings.EqualFold(x, "true") || strings.EqualFold(x, "false") {
			ev.DeviceManaged = strings.ToLower(x)
		}
	}
	// The address from request.ipChain[0] when the client has none.
	if ev.IP == "null" {
		ev.IP = ""
	}
	chain, _ := obj(m["request"])["ipChain"].([]any)
	if ev.IP == "" && len(chain) > 0 {
		hop := obj(chain[0])
		if ip := str(hop["ip"]); ip != "" && ip != "null" {
			ev.IP = ip
			if ev.City == "" && ev.Country == "" && !ev.HasGeo {
				hg := obj(hop["geographicalContext"])
				ev.City, ev.State, ev.Country, ev.PostalCode = str(hg["city"]), str(hg["state"]), str(hg["country"]), str(hg["postalCode"])
				hl := obj(hg["geolocation"])
				lat, ok1 := hl["lat"].(json.Number)
				lon, ok2 := hl["lon"].(json.Number)
				if ok1 && ok2 {
					la, e1 := lat.Float64()
					lo, e2 := lon.Float64()
					if e1 == nil && e2 == nil {
						ev.Lat, ev.Lon, ev.HasGeo = la, lo, true
					}
				}
			}
		}
	}
	return ev, nil
}

func checkAgainstReference(t testing.TB, raw []byte, got *Event) {
	t.Helper()
	want, err := reference(raw)
	if err != nil {
		t.Fatalf("reference rejects input Parse accepted: %v", err)
	}
	if !got.Published.Equal(want.Published) {
		t.Errorf("published %v, reference %v", got.Published, want.Published)
	}
	g, w := *got, want
	g.Published, w.Published = time.Time{}, time.Time{}
	if g != w {
		t.Errorf("Parse disagrees with encoding/json:\n got %+v\nwant %+v", g, w)
	}
}

// FuzzParse: Parse never panics, and on every input encoding/json accepts
// as an object it agrees with encoding/json on every field.
func FuzzParse(f *testing.F) {
	for _, raw := range samples(f) {
		f.Add(raw)
	}
	f.Add([]byte(`{"uuid":"a","uuid":"b","client":{"geographicalContext":{"geolocation":{"lat":1e400,"lon":2}}},"client":5}`))
	f.Add([]byte(`{"uuid":"c","client":{"ipAddress":"null"},"request":{"ipChain":[{"ip":"1.2.3.4","geographicalContext":{"city":"X","geolocation":{"lat":1,"lon":2}}},{"ip":"5.6.7.8"}]},"request":{"ipChain":[{"ip":"9.9.9.9"}]}}`))
	f.Add([]byte(`{"uuid":"d","debugContext":{"debugData":{"dtHash":"h","logOnlySecurityData":"{\"risk\":{\"level\":\"HIGH\",\"reasons\":\"Anomalous Device\"},\"behaviors\":{\"New IP\":\"POSITIVE\",\"New City\":\"NEGATIVE\"}}"}},"device":{"id":"guo1","name":"Mac","managed":"TRUE","os_platform":"OSX"},"authenticationContext":{"rootSessionId":"r1","externalSessionId":"s1"}}`))
	f.Add([]byte(`{"uuid":"e","debugContext":{"debugData":{"logOnlySecurityData":"{\"risk\":{\"level\":\"LOW\"}} x"}},"device":5}`))
	f.Add([]byte("{\"uu\\u0069d\":\"\\ud83d\\ude00\xff\",\"actor\":{\"id\":\"x\"},\"actor\":{\"alternateId\":\"y\"}}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ev Event
		err := Parse(raw, &ev)
		if !json.Valid(raw) || !bytes.HasPrefix(bytes.TrimLeft(raw, " \t\r\n"), []byte("{")) {
			return
		}
		if err != nil {
			if errors.Is(err, ErrLowercased) {
				var m map[string]json.RawMessage
				_ = json.Unmarshal(raw, &m)
				_, camel := m["eventType"]
				_, lower := m["eventtype"]
				if camel || !lower {
					t.Fatalf("ErrLowercased, but eventType %v eventtype %v", camel, lower)
				}
				return
			}
			if errors.Is(err, ErrNoUUID) {
				if want, _ := reference(raw); want.UUID != "" {
					t.Fatalf("ErrNoUUID but the reference reads uuid %q", want.UUID)
				}
				return
			}
			t.Fatalf("valid JSON object rejected: %v", err)
		}
		checkAgainstReference(t, raw, &ev)
	})
}

// TestRealEventFields: what real events carry beyond the classic sign-in
// fields: the address in request.ipChain only, logOnlySecurityData (a JSON
// document in a string), dtHash, rootSessionId and the top-level device.
func TestRealEventFields(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, raw string
		check     func(ev *Event) bool
	}{
		{"ipChain when client has no address",
			`{"uuid":"a","client":{"geographicalContext":null},"request":{"ipChain":[{"ip":"175.16.199.1","geographicalContext":{"city":"Dublin","country":"United States","geolocation":{"lat":37.72,"lon":-121.91}}},{"ip":"10.0.0.1"}]}}`,
			func(ev *Event) bool {
				return ev.IP == "175.16.199.1" && ev.City == "Dublin" && ev.HasGeo && ev.Lat == 37.72
			}},
		{"ipChain when client's address is the placeholder",
			`{"uuid":"a","client":{"ipAddress":"null","geographicalContext":{"city":"Paris","country":"France"}},"request":{"ipChain":[{"ip":"2.3.4.5","geographicalContext":{"city":"Lyon"}}]}}`,
			func(ev *Event) bool { return ev.IP == "2.3.4.5" && ev.City == "Paris" }},
		{"client's address wins over ipChain",
			`{"uuid":"a","client":{"ipAddress":"1.1.1.1"},"request":{"ipChain":[{"ip":"2.2.2.2"}]}}`,
			func(ev *Event) bool { return ev.IP == "1.1.1.1" }},
		{"placeholder without chain is absent",
			`{"uuid":"a","client":{"ipAddress":"null"}}`,
			func(ev *Event) bool { return ev.IP == "" }},
		{"logOnlySecurityData",
			`{"uuid":"a","debugContext":{"debugData":{"dtHash":"751b15","logOnlySecurityData":"{\"risk\":{\"reasons\":\"Anomalous Location, Anomalous Device\",\"level\":\"HIGH\"},\"behaviors\":{\"New IP\":\"POSITIVE\",\"New City\":\"NEGATIVE\",\"Velocity\":\"NEGATIVE\"}}"}}}`,
			func(ev *Event) bool {
				return ev.RiskLevel == "HIGH" && ev.RiskReasons == "Anomalous Location, Anomalous Device" &&
					ev.SecurityBehaviors == "{New City=NEGATIVE, New IP=POSITIVE, Velocity=NEGATIVE}" && ev.DTHash == "751b15"
			}},
		{"malformed logOnlySecurityData is dropped, not fatal",
			`{"uuid":"a","debugContext":{"debugData":{"logOnlySecurityData":"{\"risk\":{\"level\":"}}}`,
			func(ev *Event) bool { return ev.RiskLevel == "" && ev.SecurityBehaviors == "" }},
		{"session ids and device",
			`{"uuid":"a","authenticationContext":{"externalSessionId":"idxB","rootSessionId":"idxR"},"device":{"id":"guofdhyjex1feOgbN1d9","name":"Mac15,6","managed":false,"os_platform":"OSX","registered":true}}`,
			func(ev *Event) bool {
				return ev.SessionID == "idxB" && ev.RootSessionID == "idxR" && ev.DeviceID == "guofdhyjex1feOgbN1d9" &&
					ev.DeviceName == "Mac15,6" && ev.DeviceManaged == "false" && ev.DevicePlatform == "OSX"
			}},
		{"device managed as a string, unknown as absent",
			`{"uuid":"a","device":{"managed":"True"}}`,
			func(ev *Event) bool { return ev.DeviceManaged == "true" }},
		{"device managed null",
			`{"uuid":"a","device":{"managed":null}}`,
			func(ev *Event) bool { return ev.DeviceManaged == "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ev Event
			if err := Parse([]byte(tc.raw), &ev); err != nil {
				t.Fatal(err)
			}
			if !tc.check(&ev) {
				t.Fatalf("%+v", ev)
			}
			checkAgainstReference(t, []byte(tc.raw), &ev)
		})
	}
}
