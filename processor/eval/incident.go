package eval

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/clarion-itdr/clarion/okta/logevent"
	"github.com/clarion-itdr/clarion/processor/source"
)

// Per-incident scoring (the tenant-wide types of processor/source).
//
// A scenario line may carry "incident": "<id>" beside expect. An anomaly
// of type T is a true positive for incident I when any event it cites in
// evidence.event_uuids belongs to I and I expects T; an anomaly of T that
// cites no event of an incident expecting T is a false positive; an
// incident expecting T that no anomaly of T cites is a false negative.
// TP counts incidents found (several anomalies citing one incident count
// once), FP anomalies.

// IncidentTypes are the types scored per incident rather than per event.
func IncidentTypes() []string { return source.Types() }

// incidentScored reports whether type t is scored per incident (Run skips it).
func incidentScored(t string) bool {
	for _, x := range source.Types() {
		if x == t {
			return true
		}
	}
	return false
}

// IncidentReport is the per-incident result of one replay.
type IncidentReport struct {
	Mode      string           `json:"mode"`
	Detectors map[string]Score `json:"detectors"`
	Incidents int              `json:"incidents"`
	Anomalies int              `json:"anomalies"`
	// Mistakes lists up to 50 false positives (anomaly ids) and false
	// negatives (incident ids).
	Mistakes []IncidentMistake `json:"mistakes,omitempty"`
}

// IncidentMistake is one wrong verdict.
type IncidentMistake struct {
	Kind     string `json:"kind"` // "fp" or "fn"
	Type     string `json:"type"`
	Incident string `json:"incident,omitempty"`
	Anomaly  string `json:"anomaly,omitempty"`
	Sentence string `json:"sentence,omitempty"`
}

type incLine struct {
	Event       json.RawMessage `json:"event"`
	Expect      []string        `json:"expect"`
	Incident    string          `json:"incident"`
	Integration string          `json:"integration_id"`
}

// cited is one anomaly (by id) and the events it cites, latest version.
type cited struct {
	typ, sentence string
	uuids         []string
}

// sourceDetector produces source anomalies from events in delivery order.
type sourceDetector interface {
	process(integ string, ev *logevent.Event, out map[string]*cited)
}

// RunIncidents replays the scenario stream r through the source stage's
// engine (mode clarion) or Panther's spray rule (mode panther) and scores
// the source types per incident. Mode okta-velocity has no such rule: its
// report has no detectors.
func RunIncidents(r io.Reader, mode string) (*IncidentReport, error) {
	var d sourceDetector
	switch mode {
	case "", ModeClarion:
		mode = ModeClarion
		d = &sourceClarion{eng: source.NewEngine(source.Params{}), srcs: map[string]*source.Source{}}
	case ModePanther:
		d = &pantherSpray{ips: map[string]*pantherIP{}}
	case ModeOktaVelocity:
	default:
		return nil, fmt.Errorf("%w %q (want one of %s)", ErrMode, mode, strings.Join(Modes(), ", "))
	}
	rep := &IncidentReport{Mode: mode, Detectors: map[string]Score{}}
	type key struct{ inc, typ string }
	incOf := map[string][]key{} // event uuid -> incidents expecting a type
	incidents := map[key]bool{}
	anoms := map[string]*cited{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 4<<20)
	var ev logevent.Event
	n := 0
	for sc.Scan() {
		n++
		raw := strings.TrimSpace(sc.Text())
		if raw == "" || strings.HasPrefix(raw, "//") {
			continue
		}
		var l incLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			return nil, fmt.Errorf("eval: line %d: %w", n, err)
		}
		if err := logevent.Parse(l.Event, &ev); err != nil || ev.Published.IsZero() {
			continue
		}
		for _, t := range l.Expect {
			if !incidentScored(t) {
				continue
			}
			if l.Incident == "" {
				return nil, fmt.Errorf("eval: line %d expects %s without an incident", n, t)
			}
			k := key{l.Incident, t}
			incidents[k] = true
			incOf[ev.UUID] = append(incOf[ev.UUID], k)
		}
		if d != nil {
			integ := l.Integration
			if integ == "" {
				integ = "eval"
			}
			d.process(integ, &ev, anoms)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("eval: read: %w", err)
	}
	if d == nil {
		return rep, nil
	}
	rep.Incidents, rep.Anomalies = len(incidents), len(anoms)
	for _, t := range IncidentTypes() {
		rep.Detectors[t] = Score{}
	}
	found := map[key]bool{}
	ids := make([]string, 0, len(anoms))
	for id := range anoms {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := anoms[id]
		hit := false
		for _, u := range a.uuids {
			for _, k := range incOf[u] {
				if k.typ == a.typ {
					found[k], hit = true, true
				}
			}
		}
		if !hit {
			s := rep.Detectors[a.typ]
			s.FP++
			rep.Detectors[a.typ] = s
			rep.Mistakes = append(rep.Mistakes, IncidentMistake{Kind: "fp", Type: a.typ, Anomaly: id, Sentence: a.sentence})
		}
	}
	keys := make([]key, 0, len(incidents))
	for k := range incidents {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].typ != keys[j].typ {
			return keys[i].typ < keys[j].typ
		}
		return keys[i].inc < keys[j].inc
	})
	for _, k := range keys {
		s := rep.Detectors[k.typ]
		if found[k] {
			s.TP++
		} else {
			s.FN++
			rep.Mistakes = append(rep.Mistakes, IncidentMistake{Kind: "fn", Type: k.typ, Incident: k.inc})
		}
		rep.Detectors[k.typ] = s
	}
	for t, s := range rep.Detectors {
		rep.Detectors[t] = s.finish()
	}
	sort.SliceStable(rep.Mistakes, func(i, j int) bool {
		a, b := rep.Mistakes[i], rep.Mistakes[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Kind < b.Kind
	})
	if len(rep.Mistakes) > 50 {
		rep.Mistakes = rep.Mistakes[:50]
	}
	return rep, nil
}

// WriteText writes rep as an aligned table (nothing when it has no detectors).
func (r *IncidentReport) WriteText(w io.Writer) error {
	if len(r.Detectors) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "mode %s, per incident: %d incidents, %d anomalies\n", r.Mode, r.Incidents, r.Anomalies)
	fmt.Fprintf(&b, "%-20s %6s %6s %6s %9s %7s %7s\n", "type", "tp", "fp", "fn", "precision", "recall", "f1")
	types := make([]string, 0, len(r.Detectors))
	for t := range r.Detectors {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		s := r.Detectors[t]
		fmt.Fprintf(&b, "%-20s %6d %6d %6d %9.3f %7.3f %7.3f\n", t, s.TP, s.FP, s.FN, s.Precision, s.Recall, s.F1)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sourceClarion runs the source stage's engine, one state per source key.
type sourceClarion struct {
	eng  *source.Engine
	srcs map[string]*source.Source
	buf  []source.Attempt
}

func (c *sourceClarion) process(integ string, ev *logevent.Event, out map[string]*cited) {
	c.buf = source.Attempts(c.buf[:0], ev)
	for i := range c.buf {
		a := &c.buf[i]
		k := integ + "/" + a.Subject
		s := c.srcs[k]
		if s == nil {
			s = &source.Source{}
			c.srcs[k] = s
		}
		if an := c.eng.Process(integ, s, a); an != nil {
			out[an.ID] = &cited{typ: an.Type, sentence: an.Sentence, uuids: an.Evidence.EventUUIDs}
		}
	}
}

// pantherSpray is the Panther-style spray rule the issue names as the
// baseline: one IP failing sign-ins for at least 10 distinct users within
// 15 minutes; an alert deduplicates further hits from the IP for 60
// minutes (Panther's default dedup period). Panther ships no credential
// stuffing rule; a SOC would read this alert as either attack, so each
// alert is scored under both types.
type pantherSpray struct {
	ips map[string]*pantherIP
}

type pantherFail struct {
	t          time.Time
	user, uuid string
}

type pantherIP struct {
	fails   []pantherFail
	alertID string
	until   time.Time
}

func (p *pantherSpray) process(_ string, ev *logevent.Event, out map[string]*cited) {
	if !source.IsAttempt(ev) || ev.Outcome != logevent.OutcomeFailure || ev.IP == "" {
		return
	}
	s := p.ips[ev.IP]
	if s == nil {
		s = &pantherIP{}
		p.ips[ev.IP] = s
	}
	s.fails = append(s.fails, pantherFail{ev.Published, ev.ActorLogin, ev.UUID})
	cut := 0
	for cut < len(s.fails) && ev.Published.Sub(s.fails[cut].t) > 15*time.Minute {
		cut++
	}
	s.fails = s.fails[cut:]
	if s.alertID != "" && !ev.Published.After(s.until) {
		for _, typ := range IncidentTypes() {
			a := out[s.alertID+"/"+typ]
			a.uuids = append(a.uuids, ev.UUID)
		}
		return
	}
	users := map[string]bool{}
	for _, f := range s.fails {
		users[f.user] = true
	}
	if len(users) < 10 {
		return
	}
	s.alertID = "panther/" + ev.IP + "/" + ev.UUID
	s.until = ev.Published.Add(60 * time.Minute)
	for _, typ := range IncidentTypes() {
		a := &cited{typ: typ, sentence: fmt.Sprintf("IP %s failed for %d users in 15 minutes", ev.IP, len(users))}
		for _, f := range s.fails {
			a.uuids = append(a.uuids, f.uuid)
		}
		out[s.alertID+"/"+typ] = a
	}
}
