package triage

import (
	"context"
	"sync"
	"time"
)

// maxPerAlert bounds the anomalies kept for one alert (the processor
// lists at most a few dozen per alert).
const maxPerAlert = 64

// anomalyIndex keeps recent anomalies by alert id, bounded by the number
// of alerts (the oldest alert is evicted first). Safe for concurrent use.
type anomalyIndex struct {
	max int

	mu      sync.Mutex
	byAlert map[string]*indexEntry
	order   []string // alert ids, oldest first
	changed chan struct{}
}

type indexEntry struct {
	byID  map[string]int
	items []Anomaly
}

func newAnomalyIndex(maxAlerts int) *anomalyIndex {
	return &anomalyIndex{max: maxAlerts, byAlert: map[string]*indexEntry{}, changed: make(chan struct{})}
}

// add records a (later copies of the same anomaly replace earlier ones)
// and wakes waiters.
func (x *anomalyIndex) add(a Anomaly) {
	if a.AlertID == "" || a.ID == "" {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.byAlert[a.AlertID]
	if e == nil {
		e = &indexEntry{byID: map[string]int{}}
		x.byAlert[a.AlertID] = e
		x.order = append(x.order, a.AlertID)
		for len(x.byAlert) > x.max && len(x.order) > 0 {
			delete(x.byAlert, x.order[0])
			x.order = x.order[1:]
		}
	}
	if i, ok := e.byID[a.ID]; ok {
		e.items[i] = a
	} else if len(e.items) < maxPerAlert {
		e.byID[a.ID] = len(e.items)
		e.items = append(e.items, a)
	}
	close(x.changed)
	x.changed = make(chan struct{})
}

// lookup returns the anomalies known for alert, how many of want are not
// known yet, and a channel closed at the next add.
func (x *anomalyIndex) lookup(alertID string, want []AnomalyRef) ([]Anomaly, int, <-chan struct{}) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.byAlert[alertID]
	missing := 0
	var out []Anomaly
	if e != nil {
		out = append(out, e.items...)
	}
	for _, w := range want {
		if e == nil {
			missing++
			continue
		}
		if _, ok := e.byID[w.ID]; !ok && len(e.items) < maxPerAlert {
			missing++
		}
	}
	return out, missing, x.changed
}

// wait returns the alert's anomalies once every one it lists is known, or
// what is known when wait runs out or ctx ends (then missing > 0).
func (x *anomalyIndex) wait(ctx context.Context, alertID string, want []AnomalyRef, wait time.Duration) ([]Anomaly, int) {
	var timer *time.Timer
	for {
		out, missing, ch := x.lookup(alertID, want)
		if missing == 0 {
			return out, 0
		}
		if timer == nil {
			if wait <= 0 {
				return out, missing
			}
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		select {
		case <-ch:
		case <-timer.C:
			out, missing, _ = x.lookup(alertID, want)
			return out, missing
		case <-ctx.Done():
			return out, missing
		}
	}
}

func (x *anomalyIndex) size() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.byAlert)
}
