// Package eval replays scenario files through Clarion's detection code (the
// same detect.Engine the processor runs, without Kafka) or through a
// baseline rule, and scores the findings against the expected anomalies.
//
// A scenario file is JSONL: one {"event": <LogEvent>, "expect": ["impossible_travel", ...]}
// per line, in delivery order. An empty or absent expect means no anomaly
// is expected for that event. An optional "integration_id" string names the
// tenant (default "eval").
package eval

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/clarion-itdr/clarion/internal/geo"
	"github.com/clarion-itdr/clarion/okta/logevent"
	"github.com/clarion-itdr/clarion/processor/detect"
)

// Modes: Clarion itself and the two baselines it must beat.
const (
	ModeClarion      = "clarion"
	ModeOktaVelocity = "okta-velocity" // 805 km/h against the previous successful sign-in
	ModePanther      = "panther"       // Panther's okta_geo_improbable_access: 900 km/h against the last login
)

// Modes lists the accepted modes.
func Modes() []string { return []string{ModeClarion, ModeOktaVelocity, ModePanther} }

// ErrMode means an unknown mode (baseline) name.
var ErrMode = errors.New("eval: unknown baseline")

// Score is one anomaly type's confusion counts and derived figures.
type Score struct {
	TP        int     `json:"tp"`
	FP        int     `json:"fp"`
	FN        int     `json:"fn"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
}

// Report is the result of one replay.
type Report struct {
	Mode      string           `json:"mode"`
	Detectors map[string]Score `json:"detectors"`
	Events    int              `json:"events"`
	// Duplicates: events whose uuid was already seen (dropped by dedup).
	Duplicates int `json:"duplicates"`
	// Skipped: lines whose event could not be parsed (no uuid, not an object).
	Skipped int `json:"skipped"`
	// PublishedFallback: events with a missing or unparseable published,
	// timed at the previous event's time (the processor uses received_at).
	PublishedFallback int `json:"published_fallback"`
	// Mistakes lists up to 50 false positives and negatives, for tuning
	// (all of them, explained, with Options.Explain).
	Mistakes []Mistake `json:"mistakes,omitempty"`
	// Categories: scores per scenario category, when the file labels its
	// lines with "category". A finding counts in the category of the line
	// of its event.
	Categories map[string]map[string]Score `json:"categories,omitempty"`
}

// Options tune a replay.
type Options struct {
	// Explain records, for every false positive and negative, the event,
	// each detector's decision and rule, and the anomaly's evidence.
	Explain bool
	// Params tunes Clarion's detectors (zero: the defaults).
	Params detect.Params
}

// Mistake is one wrong verdict.
type Mistake struct {
	Kind     string `json:"kind"` // "fp" or "fn"
	Type     string `json:"type"`
	UUID     string `json:"uuid"`
	Line     int    `json:"line"`
	Category string `json:"category,omitempty"`
	// With Options.Explain: the event, the detector's decisions on it
	// (the rule that fired or why none did) and, for a false positive,
	// the anomaly's evidence (the sign-ins compared, distance, speed,
	// precisions, egress) and sentence.
	User     string            `json:"user,omitempty"`
	Signin   *detect.SigninRef `json:"signin,omitempty"`
	Rules    []detect.Note     `json:"rules,omitempty"`
	Evidence *detect.Evidence  `json:"evidence,omitempty"`
	Sentence string            `json:"sentence,omitempty"`
}

type line struct {
	Event       json.RawMessage `json:"event"`
	Expect      []string        `json:"expect"`
	Category    string          `json:"category"`
	Integration string          `json:"integration_id"`
	// Types, on a line without an event (a header), limits scoring to
	// the anomaly types the file labels.
	Types []string `json:"types"`
}

type finding struct{ uuid, typ string }

// detector is one way of producing findings from events in delivery order.
type detector interface {
	process(integ string, ev *logevent.Event) []finding
	types() []string
}

// Run replays the scenario stream r in mode and scores it.
func Run(r io.Reader, mode string) (*Report, error) { return RunWith(r, mode, Options{}) }

// RunWith is Run with options.
func RunWith(r io.Reader, mode string, opt Options) (*Report, error) {
	var d detector
	var cl *clarion
	switch mode {
	case "", ModeClarion:
		mode = ModeClarion
		cl = newClarion(opt.Params)
		cl.res.Explain = opt.Explain
		if opt.Explain {
			cl.explain = map[string]*explained{}
		}
		d = cl
	case ModeOktaVelocity:
		d = &velocity{limit: 805, last: map[string]point{}, key: func(ev *logevent.Event) string { return ev.UserKey() }}
	case ModePanther:
		d = &panther{last: map[string]pantherLogin{}}
	default:
		return nil, fmt.Errorf("%w %q (want one of %s)", ErrMode, mode, strings.Join(Modes(), ", "))
	}
	rep := &Report{Mode: mode, Detectors: map[string]Score{}}
	expected := map[finding]int{} // -> line
	predicted := map[finding]bool{}
	lineOf := map[string]int{}      // uuid -> first line
	category := map[string]string{} // uuid -> category
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 4<<20)
	var ev logevent.Event
	var lastT time.Time
	var scored []string
	n := 0
	for sc.Scan() {
		n++
		raw := strings.TrimSpace(sc.Text())
		if raw == "" || strings.HasPrefix(raw, "//") {
			continue
		}
		var l line
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			return nil, fmt.Errorf("eval: line %d: %w", n, err)
		}
		if l.Event == nil && len(l.Types) > 0 {
			scored = append(scored, l.Types...)
			continue
		}
		rep.Events++
		if err := logevent.Parse(l.Event, &ev); err != nil {
			rep.Skipped++
			continue
		}
		for _, t := range l.Expect {
			if incidentScored(t) {
				continue // scored per incident (RunIncidents)
			}
			expected[finding{ev.UUID, t}] = n
		}
		if _, ok := lineOf[ev.UUID]; !ok {
			lineOf[ev.UUID] = n
			if l.Category != "" {
				category[ev.UUID] = l.Category
			}
		}
		if ev.Published.IsZero() {
			rep.PublishedFallback++
			ev.Published = lastT
			if lastT.IsZero() {
				rep.Skipped++
				continue
			}
		}
		lastT = ev.Published
		integ := l.Integration
		if integ == "" {
			integ = "eval"
		}
		fs := d.process(integ, &ev)
		if c, ok := d.(*clarion); ok && c.res.Duplicate {
			rep.Duplicates++
		}
		for _, f := range fs {
			predicted[f] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("eval: read: %w", err)
	}
	types := d.types()
	if len(scored) > 0 {
		var keep []string
		for _, t := range types {
			if contains(scored, t) {
				keep = append(keep, t)
			}
		}
		types = keep
		for f := range predicted {
			if !contains(scored, f.typ) {
				delete(predicted, f)
			}
		}
		for f := range expected {
			if !contains(scored, f.typ) {
				delete(expected, f)
			}
		}
	}
	for f := range expected {
		if !contains(types, f.typ) {
			types = append(types, f.typ)
		}
	}
	sort.Strings(types)
	for _, t := range types {
		rep.Detectors[t] = Score{}
	}
	cat := func(f finding, kind byte) {
		c, ok := category[f.uuid]
		if !ok {
			return
		}
		if rep.Categories == nil {
			rep.Categories = map[string]map[string]Score{}
		}
		m := rep.Categories[c]
		if m == nil {
			m = map[string]Score{}
			rep.Categories[c] = m
		}
		s := m[f.typ]
		switch kind {
		case 't':
			s.TP++
		case 'p':
			s.FP++
		case 'n':
			s.FN++
		}
		m[f.typ] = s
	}
	for f := range predicted {
		s := rep.Detectors[f.typ]
		if _, ok := expected[f]; ok {
			s.TP++
			cat(f, 't')
		} else {
			s.FP++
			cat(f, 'p')
			rep.mistake("fp", f, lineOf[f.uuid], category[f.uuid], cl)
		}
		rep.Detectors[f.typ] = s
	}
	for f, ln := range expected {
		if !predicted[f] {
			s := rep.Detectors[f.typ]
			s.FN++
			cat(f, 'n')
			rep.Detectors[f.typ] = s
			rep.mistake("fn", f, ln, category[f.uuid], cl)
		}
	}
	for t, s := range rep.Detectors {
		rep.Detectors[t] = s.finish()
	}
	for _, m := range rep.Categories {
		for t, s := range m {
			m[t] = s.finish()
		}
	}
	sort.Slice(rep.Mistakes, func(i, j int) bool {
		a, b := rep.Mistakes[i], rep.Mistakes[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.UUID < b.UUID
	})
	if len(rep.Mistakes) > 50 && !opt.Explain {
		rep.Mistakes = rep.Mistakes[:50]
	}
	return rep, nil
}

func (r *Report) mistake(kind string, f finding, line int, category string, cl *clarion) {
	m := Mistake{Kind: kind, Type: f.typ, UUID: f.uuid, Line: line, Category: category}
	if cl != nil && cl.explain != nil {
		if x := cl.explain[f.uuid]; x != nil {
			m.User, m.Signin = x.user, &x.signin
			for _, n := range x.notes {
				if n.Type == f.typ || (f.typ == detect.TypeImpossibleTravel && n.Type == detect.TypeUnusualLocation && kind == "fn") {
					m.Rules = append(m.Rules, n)
				}
			}
			if a, ok := x.anomalies[f.typ]; ok {
				m.Evidence, m.Sentence = &a.Evidence, a.Sentence
			}
		}
	}
	r.Mistakes = append(r.Mistakes, m)
}

func (s Score) finish() Score {
	s.Precision, s.Recall = 1, 1
	if s.TP+s.FP > 0 {
		s.Precision = float64(s.TP) / float64(s.TP+s.FP)
	}
	if s.TP+s.FN > 0 {
		s.Recall = float64(s.TP) / float64(s.TP+s.FN)
	}
	if s.Precision+s.Recall > 0 {
		s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
	}
	s.Precision, s.Recall, s.F1 = round(s.Precision), round(s.Recall), round(s.F1)
	return s
}

func round(f float64) float64 { return math.Round(f*10000) / 10000 }

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// WriteText writes rep as an aligned table.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "mode %s: %d events (%d duplicates, %d skipped, %d timed by fallback)\n", r.Mode, r.Events, r.Duplicates, r.Skipped, r.PublishedFallback)
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
	if len(r.Categories) > 0 {
		cats := make([]string, 0, len(r.Categories))
		for c := range r.Categories {
			cats = append(cats, c)
		}
		sort.Strings(cats)
		fmt.Fprintf(&b, "\nby category:\n%-18s %-20s %6s %6s %6s\n", "category", "type", "tp", "fp", "fn")
		for _, c := range cats {
			ts := make([]string, 0, len(r.Categories[c]))
			for t := range r.Categories[c] {
				ts = append(ts, t)
			}
			sort.Strings(ts)
			for _, t := range ts {
				s := r.Categories[c][t]
				fmt.Fprintf(&b, "%-18s %-20s %6d %6d %6d\n", c, t, s.TP, s.FP, s.FN)
			}
		}
	}
	for _, m := range r.Mistakes {
		if m.Signin == nil {
			continue
		}
		sg := m.Signin
		fmt.Fprintf(&b, "\n%s %s line %d [%s] user %s uuid %s\n  %s %s, %s, %s (%s) ip %s AS%d %s\n",
			m.Kind, m.Type, m.Line, m.Category, m.User, m.UUID, sg.Published, sg.City, sg.State, sg.Country, sg.Precision, sg.IP, sg.ASN, sg.ISP)
		for _, n := range m.Rules {
			fmt.Fprintf(&b, "  %s: %s\n", n.Type, n.Rule)
		}
		if m.Evidence != nil {
			ev, _ := json.Marshal(m.Evidence)
			fmt.Fprintf(&b, "  sentence: %s\n  evidence: %s\n", m.Sentence, ev)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// clarion runs detect.Engine with one state per user, as the processor does.
type clarion struct {
	eng     *detect.Engine
	users   map[string]*detect.User
	res     detect.Result
	out     []finding
	explain map[string]*explained // by event uuid, with Options.Explain
}

// explained is what --explain keeps of one event.
type explained struct {
	user      string
	signin    detect.SigninRef
	notes     []detect.Note
	anomalies map[string]detect.Anomaly
}

func newClarion(p detect.Params) *clarion {
	return &clarion{eng: detect.NewEngine(p), users: map[string]*detect.User{}}
}

func (c *clarion) types() []string { return detect.Types() }

func (c *clarion) process(integ string, ev *logevent.Event) []finding {
	k := integ + "/" + ev.UserKey()
	u := c.users[k]
	if u == nil {
		u = &detect.User{}
		c.users[k] = u
	}
	c.eng.Process(integ, u, ev, &c.res)
	c.out = c.out[:0]
	for _, a := range c.res.Anomalies {
		c.out = append(c.out, finding{a.EventUUID, a.Type})
	}
	if c.explain != nil && !c.res.Duplicate {
		x := c.explain[ev.UUID]
		if x == nil {
			x = &explained{user: ev.UserKey(), signin: describe(ev), anomalies: map[string]detect.Anomaly{}}
			c.explain[ev.UUID] = x
		}
		x.notes = append(x.notes, c.res.Notes...)
		for _, a := range c.res.Anomalies {
			y := c.explain[a.EventUUID]
			if y == nil {
				y = &explained{anomalies: map[string]detect.Anomaly{}}
				c.explain[a.EventUUID] = y
			}
			y.anomalies[a.Type] = a
		}
	}
	return c.out
}

// describe quotes an event for --explain.
func describe(ev *logevent.Event) detect.SigninRef {
	r := detect.SigninRef{
		UUID: ev.UUID, Published: ev.Published.UTC().Format(time.RFC3339), Outcome: ev.Outcome, IP: ev.IP,
		City: ev.City, State: ev.State, Country: ev.Country, ISP: ev.ISP, Proxy: ev.IsProxy,
		Precision: detect.Precision(ev),
	}
	if ev.ASN > 0 && ev.ASN < math.MaxUint32 {
		r.ASN = uint32(ev.ASN)
	}
	if ev.HasGeo {
		r.Lat, r.Lon = &ev.Lat, &ev.Lon
		lat, lon := ev.Lat, ev.Lon
		r.Lat, r.Lon = &lat, &lon
	}
	return r
}

type point struct {
	lat, lon float64
	t        time.Time
}

// velocity is Okta's default Behavior Detection velocity check: speed from
// the previous successful sign-in (delivery order) above limit km/h.
type velocity struct {
	limit float64
	last  map[string]point
	key   func(*logevent.Event) string
}

func (v *velocity) types() []string { return []string{detect.TypeImpossibleTravel} }

func (v *velocity) process(_ string, ev *logevent.Event) []finding {
	if ev.EventType != logevent.EventTypeSessionStart || !ev.Success() || !ev.HasGeo {
		return nil
	}
	k := v.key(ev)
	p, ok := v.last[k]
	v.last[k] = point{ev.Lat, ev.Lon, ev.Published}
	if !ok {
		return nil
	}
	d := geo.DistanceKm(p.lat, p.lon, ev.Lat, ev.Lon)
	h := math.Abs(ev.Published.Sub(p.t).Hours())
	if h == 0 {
		h = 0.0001
	}
	if d/h > v.limit {
		return []finding{{ev.UUID, detect.TypeImpossibleTravel}}
	}
	return nil
}

type pantherLogin struct {
	lat, lon float64
	t        time.Time
}

// panther mirrors panther-analysis rules/okta_rules/okta_geo_improbable_access.py:
// user.session.start not FAILURE, with city, lat and lon present; keyed by
// actor.alternateId; compares with the last stored login (kept 7 days from
// its event time) in delivery order; time delta 0 becomes 0.0001 h; alerts
// above 900 km/h. Negative deltas (late events) give negative speeds, so no alert.
type panther struct{ last map[string]pantherLogin }

func (p *panther) types() []string { return []string{detect.TypeImpossibleTravel} }

func (p *panther) process(_ string, ev *logevent.Event) []finding {
	if ev.EventType != logevent.EventTypeSessionStart || ev.Outcome == logevent.OutcomeFailure {
		return nil
	}
	if ev.City == "" || !ev.HasGeo {
		return nil
	}
	k := ev.ActorLogin
	old, ok := p.last[k]
	if ok && ev.Published.Sub(old.t) > 7*24*time.Hour {
		ok = false // the cache entry expired
	}
	p.last[k] = pantherLogin{ev.Lat, ev.Lon, ev.Published}
	if !ok {
		return nil
	}
	d := geo.DistanceKm(old.lat, old.lon, ev.Lat, ev.Lon)
	h := ev.Published.Sub(old.t).Hours()
	if h == 0 {
		h = 0.0001
	}
	if d/h > 900 {
		return []finding{{ev.UUID, detect.TypeImpossibleTravel}}
	}
	return nil
}

// Open opens a scenario file, decompressing it when its name ends in .gz.
func Open(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(path, ".gz") {
		return f, nil
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("eval: %s: %w", path, err)
	}
	return gzFile{zr, f}, nil
}

type gzFile struct {
	*gzip.Reader
	f *os.File
}

func (g gzFile) Close() error {
	g.Reader.Close()
	return g.f.Close()
}
