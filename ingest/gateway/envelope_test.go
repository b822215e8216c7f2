package gateway

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// samplesDir is the repository's one copy of the public Okta samples
// (shared/okta-samples, unchanged).
const samplesDir = "../../okta/logevent/testdata/samples/"

// sampleEvents returns every single-event sample, by file name.
func sampleEvents(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(samplesDir + "*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(filepath.Base(f), "event-hook-delivery") {
			continue
		}
		out[filepath.Base(f)] = bytes.TrimSpace(b) // the JSON value itself, as it sits inside an envelope
	}
	return out
}

// wrap builds an Okta delivery envelope around events, inserting each
// event's bytes verbatim (indentation and all).
func wrap(eventID string, events ...[]byte) []byte {
	var b bytes.Buffer
	b.WriteString(`{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1","source":"https://example.okta.com/api/v1/eventHooks/who1","eventId":"`)
	b.WriteString(eventID)
	b.WriteString(`","eventTime":"2026-11-29T10:00:00.000Z","contentType":"application/json","data":{"events":[`)
	for i, e := range events {
		if i > 0 {
			b.WriteString(",\n ")
		}
		b.Write(e)
	}
	b.WriteString("]}}")
	return b.Bytes()
}

func TestSplitEnvelopeSamplesByteForByte(t *testing.T) {
	t.Parallel()
	samples := sampleEvents(t)
	var all [][]byte
	for name, ev := range samples {
		all = append(all, ev)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var got []EventRef
			env, err := SplitEnvelope(wrap("d1", ev), func(r EventRef) error { got = append(got, r); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if env.Events != 1 || len(got) != 1 || env.EventID != "d1" || got[0].DeliveryID != "d1" {
				t.Fatalf("env %+v, %d refs", env, len(got))
			}
			if !bytes.Equal(got[0].Raw, ev) {
				t.Fatalf("event bytes changed:\n got %q\nwant %q", got[0].Raw, ev)
			}
			var ref struct {
				UUID  string `json:"uuid"`
				Actor struct {
					ID          string `json:"id"`
					AlternateID string `json:"alternateId"`
				} `json:"actor"`
			}
			if err := json.Unmarshal(ev, &ref); err != nil {
				t.Fatal(err)
			}
			if got[0].UUID != ref.UUID || got[0].ActorID != ref.Actor.ID || got[0].AlternateID != ref.Actor.AlternateID {
				t.Fatalf("fields %+v, want %+v", got[0], ref)
			}
		})
	}
	t.Run("all in one delivery", func(t *testing.T) {
		t.Parallel()
		var got [][]byte
		if _, err := SplitEnvelope(wrap("d2", all...), func(r EventRef) error { got = append(got, r.Raw); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(all) {
			t.Fatalf("%d events, want %d", len(got), len(all))
		}
		for i := range all {
			if !bytes.Equal(got[i], all[i]) {
				t.Fatalf("event %d changed", i)
			}
		}
	})
}

func TestSplitEnvelopeOktaDeliverySample(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile(samplesDir + "event-hook-delivery-user-session-start-success.okta-docs.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(samplesDir + "user-session-start-success.okta-docs.json")
	if err != nil {
		t.Fatal(err)
	}
	var got []EventRef
	env, err := SplitEnvelope(body, func(r EventRef) error { got = append(got, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if env.EventID != "85b60edb-4263-4e13-993b-818e26201052" || len(got) != 1 {
		t.Fatalf("env %+v", env)
	}
	// The delivery sample nests the event with deeper indentation; compare
	// as JSON, and check the bytes are a verbatim slice of the body.
	if !bytes.Contains(body, got[0].Raw) {
		t.Fatal("raw event is not a slice of the body")
	}
	var a, b any
	json.Unmarshal(got[0].Raw, &a)
	json.Unmarshal(want, &b)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Fatal("the delivery sample's event differs from the standalone sample")
	}
}

func TestSplitEnvelopeRejects(t *testing.T) {
	t.Parallel()
	ok := `{"uuid":"u1","actor":{"id":"00u1","alternateId":"a@b.c"}}`
	for _, tc := range []struct {
		name, body, want string
	}{
		{"empty", ``, "not valid JSON"},
		{"truncated", `{"data":{"events":[` + ok, "not valid JSON"},
		{"trailing garbage", `{"data":{"events":[]}} x`, "not valid JSON"},
		{"array", `[` + ok + `]`, "not a JSON object"},
		{"string", `"hello"`, "not a JSON object"},
		{"no data", `{"eventType":"com.okta.event_hook"}`, `no "data" object`},
		{"data not object", `{"data":[]}`, `no "data" object`},
		{"no events", `{"data":{}}`, `no "data.events" array`},
		{"events not array", `{"data":{"events":{}}}`, `no "data.events" array`},
		{"wrong event type", `{"eventType":"com.example.other","data":{"events":[]}}`, "eventType"},
		{"bad event in invalid JSON", `{"data":{"events":[1,` + ok + `]}`, "not valid JSON"},
		{"invalid utf8 escape", `{"data":{"events":[{"uuid":"\x","actor":{}}]}}`, "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			called := 0
			_, err := SplitEnvelope([]byte(tc.body), func(EventRef) error { called++; return nil })
			var ee *EnvelopeError
			if !errors.As(err, &ee) {
				t.Fatalf("want *EnvelopeError, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if called != 0 {
				t.Fatalf("callback called %d times for a rejected delivery", called)
			}
		})
	}
}

// TestSplitEnvelopeRejectsEvents: within a valid envelope, an element
// Clarion cannot key is handed over with its reason, in its place among
// the good ones, which are unaffected.
func TestSplitEnvelopeRejectsEvents(t *testing.T) {
	t.Parallel()
	ok := `{"uuid":"u1","actor":{"id":"00u1","alternateId":"a@b.c"}}`
	for _, tc := range []struct {
		name, event, code, reason string
	}{
		{"not an object", `1`, RejectNotObject, "data.events[1]: the event is not a JSON object"},
		{"array", `[{"uuid":"u","actor":{}}]`, RejectNotObject, "not a JSON object"},
		{"no uuid", `{"actor":{"id":"x"}}`, RejectNoUUID, "data.events[1]: the event has no string \"uuid\""},
		{"empty uuid", `{"uuid":"","actor":{"id":"x"}}`, RejectNoUUID, `no string "uuid"`},
		{"numeric uuid", `{"uuid":5,"actor":{}}`, RejectNoUUID, `no string "uuid"`},
		{"long uuid", `{"uuid":"` + strings.Repeat("u", 129) + `","actor":{}}`, RejectLongUUID, "longer than 128 bytes"},
		{"no actor", `{"uuid":"u2","eventType":"user.session.start"}`, RejectNoActor, `data.events[1]: the event has no "actor" object`},
		{"null actor", `{"uuid":"u2","actor":null}`, RejectNoActor, `no "actor" object`},
		{"lowercased export", `{"uuid":"u2","actor":{"id":"x"},"eventtype":"user.session.start","displaymessage":"x"}`, RejectLowercased, "lowercased"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := `{"eventId":"d","data":{"events":[` + ok + `,` + tc.event + `,` + ok + `]}}`
			var got []EventRef
			env, err := SplitEnvelope([]byte(body), func(r EventRef) error { got = append(got, r); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if env.Events != 3 || env.Rejected != 1 || len(got) != 3 {
				t.Fatalf("env %+v, %d refs", env, len(got))
			}
			for i, r := range got {
				if r.Index != i || r.Count != 3 || r.DeliveryID != "d" {
					t.Fatalf("ref %d: index %d count %d delivery %q", i, r.Index, r.Count, r.DeliveryID)
				}
				if i != 1 {
					if r.Reject != "" || r.UUID != "u1" || r.ActorID != "00u1" || string(r.Raw) != ok {
						t.Fatalf("good event %d: %+v", i, r)
					}
					continue
				}
				if r.RejectCode != tc.code || !strings.Contains(r.Reject, tc.reason) {
					t.Fatalf("rejected event: code %q reason %q, want %q containing %q", r.RejectCode, r.Reject, tc.code, tc.reason)
				}
				if string(r.Raw) != tc.event {
					t.Fatalf("rejected event's bytes %q, want %q", r.Raw, tc.event)
				}
			}
		})
	}
}

func TestSplitEnvelopeAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		n          int
	}{
		{"empty events", `{"eventType":"com.okta.event_hook","data":{"events":[]}}`, 0},
		{"no eventType", `{"data":{"events":[{"uuid":"u","actor":{"id":"unknown","alternateId":"x@y"}}]}}`, 1},
		{"whitespace", " \n{ \"data\" : { \"events\" : [ {\"actor\":{},\"uuid\":\"u\"} ] } }\n", 1},
		{"escaped uuid", `{"data":{"events":[{"uuid":"a\u0062c","actor":{"id":null}}]}}`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, err := SplitEnvelope([]byte(tc.body), func(EventRef) error { return nil })
			if err != nil || env.Events != tc.n {
				t.Fatalf("env %+v err %v", env, err)
			}
		})
	}
	// The callback's error stops the split and is returned.
	stop := errors.New("stop")
	n := 0
	_, err := SplitEnvelope([]byte(`{"data":{"events":[{"uuid":"a","actor":{}},{"uuid":"b","actor":{}}]}}`), func(EventRef) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err %v after %d calls", err, n)
	}
}

// refAccepts is the reference: encoding/json with exact-case keys (maps,
// not structs, whose field matching is case-insensitive); the last of
// duplicate keys wins, as in SplitEnvelope. It returns the events' bytes
// when body is an envelope SplitEnvelope must accept, and whether each
// event can be keyed.
func refAccepts(body []byte) ([]json.RawMessage, []bool, bool) {
	var root map[string]json.RawMessage
	if json.Unmarshal(body, &root) != nil || root == nil {
		return nil, nil, false
	}
	if et, ok := root["eventType"]; ok {
		var s string
		if json.Unmarshal(et, &s) != nil || s != "com.okta.event_hook" {
			return nil, nil, false
		}
	}
	var data map[string]json.RawMessage
	if json.Unmarshal(root["data"], &data) != nil || data == nil {
		return nil, nil, false
	}
	var events []json.RawMessage
	if json.Unmarshal(data["events"], &events) != nil || events == nil {
		return nil, nil, false
	}
	good := make([]bool, len(events))
	for i, e := range events {
		var ev map[string]json.RawMessage
		if json.Unmarshal(e, &ev) != nil || ev == nil {
			continue
		}
		var uuid string
		if json.Unmarshal(ev["uuid"], &uuid) != nil || uuid == "" || len(uuid) > 128 {
			continue
		}
		var actor map[string]json.RawMessage
		if json.Unmarshal(ev["actor"], &actor) != nil || actor == nil {
			continue
		}
		_, camel := ev["eventType"]
		_, lower := ev["eventtype"]
		good[i] = camel || !lower
	}
	return events, good, true
}

// FuzzSplitEnvelope checks SplitEnvelope against the encoding/json
// reference on arbitrary bodies: no panic; it accepts exactly what the
// reference accepts (bodies nested deeper than maxDepth aside), the events
// it returns are the reference's, byte for byte, in order, and it rejects
// exactly the events the reference cannot key.
func FuzzSplitEnvelope(f *testing.F) {
	for _, ev := range sampleEvents(f) {
		f.Add(wrap("seed", ev))
	}
	if b, err := os.ReadFile(samplesDir + "event-hook-delivery-user-session-start-success.okta-docs.json"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{``, `{}`, `[]`, `{"data":{"events":[]}}`, `{"data":{"events":[{"uuid":"u","actor":{}}]}}`,
		`{"data":{"events":[{"uuid":"u","actor":{"id":"\ud800"}}]}}`, `{"data":{"events":[{"uuid":"u","actor":{}}],}}`,
		`{"data":{"events":[{"uuid":"u","actor":{}}]}}}`, `{"d\u0061ta":{"events":[{"uuid":"u","actor":{}}]},"data":5}`,
		`{"data":{"events":[{"uuid":"u","actor":{}}]},"data":{"events":[]}}`, `{"data":{"events":[{"uuid":"\u0075","actor":{"id":1e5}}]}}`,
		`{"data":{"events":[{"uuid":"u","actor":{},"x":[-0.5e+3,true,false,null,"\n"]}]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var raws [][]byte
		var keyed []bool
		env, err := SplitEnvelope(body, func(r EventRef) error {
			if r.Reject == "" && r.UUID == "" {
				t.Fatal("accepted an event without uuid")
			}
			if (r.Reject == "") != (r.RejectCode == "") {
				t.Fatalf("reason %q with code %q", r.Reject, r.RejectCode)
			}
			raws = append(raws, r.Raw)
			keyed = append(keyed, r.Reject == "")
			return nil
		})
		refEvents, refGood, refOK := refAccepts(body)
		if err != nil {
			var ee *EnvelopeError
			if !errors.As(err, &ee) {
				t.Fatalf("error of unexpected type %T: %v", err, err)
			}
			if len(raws) != 0 {
				t.Fatal("callback called for a rejected body")
			}
			if refOK && !strings.Contains(err.Error(), "nesting deeper") {
				t.Fatalf("rejected an envelope encoding/json accepts: %v\n%q", err, body)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if !refOK {
			t.Fatalf("accepted a body the reference rejects: %q", body)
		}
		if len(refEvents) != env.Events || len(raws) != env.Events {
			t.Fatalf("events: ref %d, env %d, raws %d", len(refEvents), env.Events, len(raws))
		}
		for i := range raws {
			if !bytes.Equal(raws[i], refEvents[i]) {
				t.Fatalf("event %d: %q != %q", i, raws[i], refEvents[i])
			}
			if keyed[i] != refGood[i] {
				t.Fatalf("event %d: keyed %v, reference %v: %q", i, keyed[i], refGood[i], raws[i])
			}
		}
	})
}

func TestSpecialMask8(t *testing.T) {
	t.Parallel()
	special := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }
	rng := rand.New(rand.NewPCG(7, 7))
	interesting := []byte{0, 0x1f, 0x20, 0x21, '"', '\\', 0x5b, 0x5d, 0x7f, 0x80, 0x9c, 0xa2, 0xdc, 0xff, 'a'}
	b := make([]byte, 8)
	for i := 0; i < 200000; i++ {
		for j := range b {
			if rng.IntN(2) == 0 {
				b[j] = interesting[rng.IntN(len(interesting))]
			} else {
				b[j] = byte(rng.IntN(256))
			}
		}
		first := -1
		for j, c := range b {
			if special(c) {
				first = j
				break
			}
		}
		m := specialMask8(binary.LittleEndian.Uint64(b))
		switch {
		case first < 0 && m != 0:
			t.Fatalf("specialMask8(%q) = %x, want 0", b, m)
		case first >= 0 && (m == 0 || bits.TrailingZeros64(m)>>3 != first):
			t.Fatalf("specialMask8(%q) = %x: first special byte is %d", b, m, first)
		}
		// Every marked byte at or below the first is exact; none below it.
		for j := 0; j < len(b) && j <= first; j++ {
			if marked := m>>(8*j+7)&1 == 1; marked != special(b[j]) && j <= first {
				t.Fatalf("specialMask8(%q) = %x: byte %d marked %v", b, m, j, marked)
			}
		}
	}
}
