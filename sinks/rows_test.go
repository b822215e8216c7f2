package sinks_test

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/okta/logevent"
	"github.com/clarion-itdr/clarion/sinks"
	"github.com/clarion-itdr/clarion/sinks/sinkstest"
)

func rec(topic, v string) *kgo.Record {
	return &kgo.Record{Topic: topic, Value: []byte(v), Timestamp: time.Unix(1700000000, 0), Partition: 2, Offset: 7}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	var ev logevent.Event
	var er sinks.EventRow
	var an sinks.AnomalyRow
	var al sinks.AlertRow
	var ac sinks.ActionRow
	for _, c := range []struct {
		name   string
		decode func() error
		want   error
	}{
		{"event truncated", func() error { return sinks.DecodeEvent(rec(bus.TopicEvents, `{"uuid":"a"`), &ev, &er) }, sinks.ErrInvalidJSON},
		{"event array", func() error { return sinks.DecodeEvent(rec(bus.TopicEvents, `[{"uuid":"a"}]`), &ev, &er) }, sinks.ErrNotObject},
		{"event no uuid", func() error { return sinks.DecodeEvent(rec(bus.TopicEvents, `{"eventType":"x"}`), &ev, &er) }, sinks.ErrNoUUID},
		{"event empty", func() error { return sinks.DecodeEvent(rec(bus.TopicEvents, ``), &ev, &er) }, sinks.ErrInvalidJSON},
		{"anomaly no id", func() error { return sinks.DecodeAnomaly(rec(bus.TopicAnomalies, `{"type":"x"}`), &an) }, sinks.ErrNoID},
		{"anomaly empty id", func() error { return sinks.DecodeAnomaly(rec(bus.TopicAnomalies, `{"id":""}`), &an) }, sinks.ErrNoID},
		{"anomaly object id", func() error { return sinks.DecodeAnomaly(rec(bus.TopicAnomalies, `{"id":{"a":1}}`), &an) }, sinks.ErrNoID},
		{"alert string", func() error { return sinks.DecodeAlert(rec(bus.TopicAlerts, `"al-1"`), &al) }, sinks.ErrNotObject},
		{"action trailing garbage", func() error { return sinks.DecodeAction(rec(bus.TopicActions, `{"id":"x"} {`), &ac) }, sinks.ErrInvalidJSON},
	} {
		if err := c.decode(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestDecodeTolerant(t *testing.T) {
	t.Parallel()
	// Minimal objects: everything but the id missing.
	var an sinks.AnomalyRow
	if err := sinks.DecodeAnomaly(rec(bus.TopicAnomalies, `{"id":"an-1"}`), &an); err != nil {
		t.Fatal(err)
	}
	if an.ID != "an-1" || an.Published.Unix() != 0 || an.Evidence != "" || an.KafkaOffset != 7 || !an.RecordedAt.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("minimal anomaly: %+v", an)
	}
	// Numeric id, user as a string, epoch-millisecond time, a far-future time.
	var al sinks.AlertRow
	err := sinks.DecodeAlert(rec(bus.TopicAlerts, `{"id":42,"user":"00uX","first_seen":1700000000123,"last_seen":"9999-01-01T00:00:00Z",
		"anomalies":["an-1",{"id":"an-2","type":"unusual_time"},null],"version":"3"}`), &al)
	if err != nil {
		t.Fatal(err)
	}
	if al.ID != "42" || al.UserID != "00uX" || al.FirstSeen.UnixMilli() != 1700000000123 || al.LastSeen.Year() != 2105 ||
		len(al.AnomalyIDs) != 2 || al.AnomalyIDs[1] != "an-2" || len(al.AnomalyTypes) != 1 || al.Version != 3 {
		t.Errorf("alert: %+v", al)
	}
	var ac sinks.ActionRow
	if err := sinks.DecodeAction(rec(bus.TopicActions, `{"id":"a/suspend","user":{"id":"00u1","alternateId":"x@example.com"},"executed_at":null,"result":{"ok":true},"version":-1}`), &ac); err != nil {
		t.Fatal(err)
	}
	if ac.UserLogin != "x@example.com" || ac.ExecutedAt.Unix() != 0 || ac.Result != `{"ok":true}` || ac.Version != 0 {
		t.Errorf("action: %+v", ac)
	}
}

func TestDecodeEventSamples(t *testing.T) {
	t.Parallel()
	var ev logevent.Event
	for _, raw := range sinkstest.Samples(t) {
		r := sinkstest.EventRecord(raw, "int1", bus.SourcePoll, time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC))
		var row sinks.EventRow
		if err := sinks.DecodeEvent(r, &ev, &row); err != nil {
			t.Fatalf("sample %s: %v", ev.UUID, err)
		}
		if row.Raw != string(raw) || row.IntegrationID != "int1" || row.Source != "poll" || row.ReceivedAt.UnixMilli() != time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC).UnixMilli() {
			t.Errorf("sample %s: %+v", row.UUID, row)
		}
		if row.Lat != 0 && row.H3 == 0 {
			t.Errorf("sample %s: location without H3 cell", row.UUID)
		}
		if row.Published.Before(time.Unix(0, 0)) || row.Published.After(time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("sample %s: published %v out of range", row.UUID, row.Published)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"uuid":"a","published":"2024-01-01T00:00:00Z","client":{"geographicalContext":{"geolocation":{"lat":91,"lon":1e400}}}}`,
		`{"id":"x","anomalies":[1,{"id":2}],"user":[]}`, `{"id":"x","first_seen":-5}`, `[`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev logevent.Event
		var er sinks.EventRow
		var an sinks.AnomalyRow
		var al sinks.AlertRow
		var ac sinks.ActionRow
		r := &kgo.Record{Value: b}
		if err := sinks.DecodeEvent(r, &ev, &er); err == nil && er.UUID == "" {
			t.Fatal("event without uuid accepted")
		}
		for _, err := range []error{sinks.DecodeAnomaly(r, &an), sinks.DecodeAlert(r, &al), sinks.DecodeAction(r, &ac)} {
			if err == nil && an.ID == "" && al.ID == "" && ac.ID == "" {
				t.Fatal("record without id accepted")
			}
		}
		for _, tm := range []time.Time{er.Published, er.ReceivedAt, an.Published, al.FirstSeen, al.LastSeen, ac.RequestedAt} {
			if !tm.IsZero() && (tm.Before(time.Unix(0, 0)) || tm.Year() > 2105) {
				t.Fatalf("time %v out of the storable range", tm)
			}
		}
	})
}

func BenchmarkDecodeEvent(b *testing.B) {
	recs := sinkstest.Events(b, "int1", 64)
	var ev logevent.Event
	var row sinks.EventRow
	for i := 0; b.Loop(); i++ {
		if err := sinks.DecodeEvent(recs[i%len(recs)], &ev, &row); err != nil {
			b.Fatal(err)
		}
	}
}
