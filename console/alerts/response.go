package alerts

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/clarion-itdr/clarion/internal/record"
)

// triageRun is one held record.TriageRun: the fields the model orders and
// answers by, and the record as written (or shortened, see storedRun).
type triageRun struct {
	id            string
	version       uint32
	finished      time.Time
	deterministic string // the deterministic triage's disposition
	raw           json.RawMessage
}

// action is the latest version of one action.
type action struct {
	act record.Action
	raw json.RawMessage
}

// truncatedRun is a triage run stored shortened because it was larger than
// Config.MaxTriageRunBytes.
type truncatedRun struct {
	record.TriageRun
	Truncated bool `json:"console_truncated"`
}

// shorten cuts s to at most n bytes (on a rune boundary), saying how much
// was cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + fmt.Sprintf(" … [%d bytes cut by the console]", len(s)-cut)
}

// storedRun returns what the model keeps of a triage run's record: value
// itself, or when it is larger than limit, the run with its long texts
// shortened (and, if that is not enough, its steps dropped).
func storedRun(value []byte, run *record.TriageRun, limit int) (json.RawMessage, error) {
	if len(value) <= limit {
		return append(json.RawMessage(nil), value...), nil
	}
	for _, n := range []int{2048, 512, 128} {
		r := *run
		r.Steps = make([]record.Step, len(run.Steps))
		for i, st := range run.Steps {
			st.Text = shorten(st.Text, n)
			st.Error = shorten(st.Error, n)
			calls := make([]record.ToolCall, len(st.ToolCalls))
			for j, tc := range st.ToolCalls {
				tc.Input, tc.Output, tc.Error = shorten(tc.Input, n), shorten(tc.Output, n), shorten(tc.Error, n)
				calls[j] = tc
			}
			st.ToolCalls = calls
			r.Steps[i] = st
		}
		r.Output.Summary = shorten(r.Output.Summary, 4*n)
		b, err := json.Marshal(truncatedRun{TriageRun: r, Truncated: true})
		if err != nil {
			return nil, err
		}
		if len(b) <= limit {
			return b, nil
		}
	}
	r := *run
	r.Steps = nil
	r.Output.Summary = shorten(r.Output.Summary, 512)
	return json.Marshal(truncatedRun{TriageRun: r, Truncated: true})
}

func (m *Model) applyTriage(value []byte) error {
	var run record.TriageRun
	if err := json.Unmarshal(value, &run); err != nil {
		return fmt.Errorf("triage run: %w", err)
	}
	if run.ID == "" || run.AlertID == "" {
		return errors.New("triage run without an id or alert_id")
	}
	raw, err := storedRun(value, &run, m.cfg.MaxTriageRunBytes)
	if err != nil {
		return fmt.Errorf("triage run %s: %w", run.ID, err)
	}
	tr := triageRun{id: run.ID, version: run.AlertVersion, finished: run.Finished, deterministic: run.Deterministic.Disposition, raw: raw}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[run.AlertID]
	if e == nil {
		e = &entry{meta: Meta{ID: run.AlertID}}
		m.entries[run.AlertID] = e
	}
	if i := slices.IndexFunc(e.triage, func(x triageRun) bool { return x.id == tr.id }); i >= 0 {
		if !tr.finished.After(e.triage[i].finished) {
			return nil // a replay
		}
		m.tBytes -= len(e.triage[i].raw)
		e.triage = slices.Delete(e.triage, i, i+1)
	}
	i, _ := slices.BinarySearchFunc(e.triage, tr, func(x, y triageRun) int {
		return cmp.Or(cmp.Compare(y.version, x.version), y.finished.Compare(x.finished), cmp.Compare(x.id, y.id))
	})
	e.triage = slices.Insert(e.triage, i, tr)
	m.tBytes += len(tr.raw)
	for len(e.triage) > m.cfg.MaxTriagePerAlert {
		m.tBytes -= len(e.triage[len(e.triage)-1].raw)
		e.triage = e.triage[:len(e.triage)-1]
	}
	if tr.finished.After(e.touched) {
		e.touched = tr.finished
	}
	m.m.records.WithLabelValues("triage").Inc()
	m.evict()
	m.trimTriage()
	if e.raw != nil {
		m.changed()
	}
	return nil
}

func (m *Model) applyAction(value []byte) error {
	var a record.Action
	if err := json.Unmarshal(value, &a); err != nil {
		return fmt.Errorf("action: %w", err)
	}
	if a.ID == "" || a.AlertID == "" {
		return errors.New("action without an id or alert_id")
	}
	na := &action{act: a, raw: append(json.RawMessage(nil), value...)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if have := m.acts[a.ID]; have != nil {
		if have.act.AlertID != a.AlertID {
			return fmt.Errorf("action %s moved from alert %s to %s", a.ID, have.act.AlertID, a.AlertID)
		}
		if a.Version <= have.act.Version {
			return nil // a replay or an older version
		}
		*have = *na // the entry's slice holds the same pointer
		na = have
	} else {
		e := m.entries[a.AlertID]
		if e == nil {
			e = &entry{meta: Meta{ID: a.AlertID}}
			m.entries[a.AlertID] = e
		}
		e.actions = append(e.actions, na)
		m.acts[a.ID] = na
	}
	e := m.entries[a.AlertID] // held: an action leaves the index with its alert
	slices.SortStableFunc(e.actions, func(x, y *action) int {
		return cmp.Or(y.act.RequestedAt.Compare(x.act.RequestedAt), cmp.Compare(x.act.Kind, y.act.Kind), cmp.Compare(x.act.ID, y.act.ID))
	})
	for len(e.actions) > m.cfg.MaxActionsPerAlert {
		delete(m.acts, e.actions[len(e.actions)-1].act.ID)
		e.actions = e.actions[:len(e.actions)-1]
	}
	for _, t := range []time.Time{a.RequestedAt, a.DecidedAt, a.ExecutedAt} {
		if t.After(e.touched) {
			e.touched = t
		}
	}
	m.m.records.WithLabelValues("action").Inc()
	m.evict()
	if e.raw != nil {
		m.changed()
	}
	return nil
}

// dropResponse forgets an evicted entry's triage runs and actions. Called
// with mu held.
func (m *Model) dropResponse(e *entry) {
	for _, r := range e.triage {
		m.tBytes -= len(r.raw)
	}
	for _, a := range e.actions {
		if m.acts[a.act.ID] == a {
			delete(m.acts, a.act.ID)
		}
	}
	e.triage, e.actions = nil, nil
}

// trimTriage keeps the triage runs held under MaxTriageBytes: once over,
// it drops runs down to nine tenths of the budget, older runs of the least
// recently seen alerts first, each alert's newest run last. Called with mu
// held.
func (m *Model) trimTriage() {
	if m.tBytes <= m.cfg.MaxTriageBytes {
		return
	}
	target := m.cfg.MaxTriageBytes - m.cfg.MaxTriageBytes/10
	all := make([]*entry, 0, len(m.entries))
	for _, e := range m.entries {
		if len(e.triage) > 0 {
			all = append(all, e)
		}
	}
	slices.SortFunc(all, func(a, b *entry) int { return cmp.Or(a.age().Compare(b.age()), cmp.Compare(a.meta.ID, b.meta.ID)) })
	for _, keep := range []int{1, 0} {
		for _, e := range all {
			for len(e.triage) > keep && m.tBytes > target {
				m.tBytes -= len(e.triage[len(e.triage)-1].raw)
				e.triage = e.triage[:len(e.triage)-1]
				m.m.triageDropped.Inc()
			}
			if m.tBytes <= target {
				return
			}
		}
	}
}

// Action returns the latest version of the action with id, if the model
// holds it (it does while it holds the action's alert). The responder's
// approve and reject handlers look actions up through it.
func (m *Model) Action(id string) (record.Action, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	a := m.acts[id]
	if a == nil {
		return record.Action{}, false
	}
	return a.act, true
}

// Detail is everything the model holds about one alert, raw as written.
type Detail struct {
	// Meta is the alert's parsed head (ids, user, status, severities, version).
	Meta Meta
	// Alert is the alert's latest version.
	Alert json.RawMessage
	// Anomalies, oldest first.
	Anomalies []json.RawMessage
	// Triage runs, the newest alert version first.
	Triage []json.RawMessage
	// Actions, the most recently requested first.
	Actions []json.RawMessage
	// Deterministic is the deterministic triage's disposition in the
	// newest triage run, "" without one.
	Deterministic string
}

// Detail returns the alert with id and what hangs off it.
func (m *Model) Detail(id string) (Detail, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e := m.entries[id]
	if e == nil || e.raw == nil {
		return Detail{}, false
	}
	d := Detail{Meta: e.meta, Alert: e.raw,
		Anomalies: make([]json.RawMessage, len(e.anomalies)),
		Triage:    make([]json.RawMessage, len(e.triage)),
		Actions:   make([]json.RawMessage, len(e.actions)),
	}
	for i := range e.anomalies {
		d.Anomalies[i] = e.anomalies[i].raw
	}
	for i, r := range e.triage {
		d.Triage[i] = r.raw
	}
	if len(e.triage) > 0 {
		d.Deterministic = e.triage[0].deterministic
	}
	for i, a := range e.actions {
		d.Actions[i] = a.raw // never modified after it is stored
	}
	return d, true
}
