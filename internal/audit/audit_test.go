package audit

import (
	"strings"
	"testing"
	"time"
)

func TestRecordParse(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.FixedZone("x", 3600))
	e := New(ActionApprove, Actor{ID: "iss#sub", Name: "Ada", Role: "approver", Via: "session"}, at)
	e.Target, e.TargetID = "action", "act-1"
	r, err := Record(e)
	if err != nil {
		t.Fatal(err)
	}
	if r.Topic != Topic || string(r.Key) != "action/act-1" || !r.Timestamp.Equal(at) {
		t.Fatalf("record %s %s %v", r.Topic, r.Key, r.Timestamp)
	}
	back, err := Parse(r.Value)
	if err != nil || back.ID != e.ID || back.Actor.Name != "Ada" || back.At.Location() != time.UTC || !strings.HasPrefix(back.ID, "aud-") {
		t.Fatalf("parse: %+v %v", back, err)
	}
	e.AlertID = "al-1"
	if e.Key() != "alert/al-1" {
		t.Fatalf("key %s", e.Key())
	}
	for _, bad := range []string{`{}`, `{"id":"a","action":"x","at":"2026-01-01T00:00:00Z"}`, `not json`, `{"id":"a","actor":{"id":"p"},"at":"2026-01-01T00:00:00Z"}`} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
	if _, err := Record(&Event{ID: "x"}); err == nil {
		t.Error("an incomplete event became a record")
	}
}
