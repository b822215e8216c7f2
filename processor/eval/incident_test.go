package eval

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/processor/scenario"
	"github.com/clarion-itdr/clarion/processor/source"
)

// The shipped tenant-wide scenario files: Clarion reaches F1 >= 0.90 for
// each source type and beats the Panther-style spray rule.
func TestIncidentScenarioFiles(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sources-seed1.jsonl.gz", "sources-seed2.jsonl.gz"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			reps := map[string]*IncidentReport{}
			for _, m := range []string{ModeClarion, ModePanther} {
				f, err := Open("../testdata/" + name)
				if err != nil {
					t.Fatal(err)
				}
				rep, err := RunIncidents(f, m)
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
				reps[m] = rep
			}
			for _, typ := range source.Types() {
				c, p := reps[ModeClarion].Detectors[typ], reps[ModePanther].Detectors[typ]
				if c.TP == 0 || c.F1 < 0.9 || c.F1 <= p.F1 {
					t.Errorf("%s: clarion %+v, panther %+v", typ, c, p)
				}
			}
		})
	}
}

// The scoring rules on a hand-made file: a spray found (TP), a stuffing
// missed (FN) and a look-alike flagged (FP).
func TestIncidentScoring(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	at := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
	line := func(s scenario.Signin, expect, incident string) {
		ev, err := json.Marshal(s.Event())
		if err != nil {
			t.Fatal(err)
		}
		exp := []string{}
		if expect != "" {
			exp = []string{expect}
		}
		l, _ := json.Marshal(map[string]any{"event": json.RawMessage(ev), "expect": exp, "incident": incident})
		b.Write(append(l, '\n'))
	}
	// Incident A: a spray of 8 users from one IP (no device token: the IP key reports it).
	for i := 0; i < 8; i++ {
		line(scenario.Signin{UserID: fmt.Sprintf("a%d", i), Login: fmt.Sprintf("a%d@x", i), At: at.Add(time.Duration(i) * 10 * time.Second), Place: scenario.Moscow, IP: "95.24.1.1", Failure: true}, source.TypePasswordSpray, "A")
	}
	// Incident B: expects stuffing, 2 attempts only: missed.
	for i := 0; i < 2; i++ {
		line(scenario.Signin{UserID: fmt.Sprintf("b%d", i), Login: fmt.Sprintf("b%d@x", i), At: at.Add(time.Hour + time.Duration(i)*time.Second), Place: scenario.Lagos, IP: "105.112.1.1", Failure: true}, source.TypeCredentialStuffing, "B")
	}
	// Unlabelled: 8 users failing from one IP, which Clarion reports: a false positive.
	for i := 0; i < 8; i++ {
		line(scenario.Signin{UserID: fmt.Sprintf("c%d", i), Login: fmt.Sprintf("c%d@x", i), At: at.Add(2*time.Hour + time.Duration(i)*time.Second), Place: scenario.Tokyo, IP: "106.72.1.1", Failure: true}, "", "")
	}
	rep, err := RunIncidents(strings.NewReader(b.String()), ModeClarion)
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.Detectors[source.TypePasswordSpray]; s.TP != 1 || s.FP != 1 || s.FN != 0 {
		t.Errorf("password_spray %+v, want tp 1 fp 1 fn 0", s)
	}
	if s := rep.Detectors[source.TypeCredentialStuffing]; s.TP != 0 || s.FP != 0 || s.FN != 1 {
		t.Errorf("credential_stuffing %+v, want tp 0 fp 0 fn 1", s)
	}
	// Per-event scoring leaves the source types alone.
	ev, err := Run(strings.NewReader(b.String()), ModeClarion)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ev.Detectors[source.TypePasswordSpray]; ok {
		t.Errorf("per-event report scores %s", source.TypePasswordSpray)
	}
	// An expect of a source type without an incident is an error.
	if _, err := RunIncidents(strings.NewReader(`{"event":{"uuid":"x","published":"2026-03-02T14:00:00.000Z","eventType":"user.session.start","actor":{"id":"u","alternateId":"u"},"outcome":{"result":"FAILURE"}},"expect":["password_spray"]}`+"\n"), ModeClarion); err == nil {
		t.Error("no error for an expect without an incident")
	}
}
