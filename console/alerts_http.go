package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/clarion-itdr/clarion/console/alerts"
	"github.com/clarion-itdr/clarion/internal/api"
)

// Limits of GET /api/alerts.
const (
	defaultListLimit = 200
	maxListLimit     = 1000
)

// parseFilter reads GET /api/alerts's query: status, disposition, severity,
// action_required (comma-separated, any of), user (substring of login or id), integration,
// since and until (RFC 3339 or YYYY-MM-DD), limit (default 200, at most 1000).
func parseFilter(q map[string][]string) (alerts.Filter, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	list := func(k string) []string {
		var out []string
		for _, v := range q[k] {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
		}
		return out
	}
	f := alerts.Filter{
		Status: list("status"), Disposition: list("disposition"), Severity: list("severity"), ActionRequired: list("action_required"),
		User: get("user"), Integration: get("integration"), Limit: defaultListLimit,
	}
	var err error
	if f.Since, err = parseWhen(get("since"), false); err != nil {
		return f, fmt.Errorf("since: %w", err)
	}
	if f.Until, err = parseWhen(get("until"), true); err != nil {
		return f, fmt.Errorf("until: %w", err)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return f, fmt.Errorf("until is before since")
	}
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxListLimit {
			return f, fmt.Errorf("limit must be a number from 1 to %d", maxListLimit)
		}
		f.Limit = n
	}
	return f, nil
}

// parseWhen accepts RFC 3339, or a date (its start, or with endOfDay its end).
func parseWhen(s string, endOfDay bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02T15:04", s); err == nil { // <input type=datetime-local>, UTC
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor YYYY-MM-DD", s)
	}
	if endOfDay {
		t = t.Add(24*time.Hour - time.Millisecond)
	}
	return t, nil
}

type alertList struct {
	Alerts []json.RawMessage `json:"alerts"`
	Total  int               `json:"total"`
	Held   int               `json:"held"`
}

// listAlerts is GET /api/alerts: {"alerts": [...], "total": matched, "held": in memory}.
func (c *Console) listAlerts(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, "bad_filter", err.Error())
		return
	}
	list, total := c.alerts.List(f)
	api.WriteJSON(w, http.StatusOK, alertList{Alerts: list, Total: total, Held: c.alerts.Len()})
}

type alertDetail struct {
	Alert     json.RawMessage   `json:"alert"`
	Anomalies []json.RawMessage `json:"anomalies"`
	Triage    []json.RawMessage `json:"triage"`
	Actions   []json.RawMessage `json:"actions"`
	// Audit lists who did what to the alert and its actions (audit.Event).
	Audit []json.RawMessage `json:"audit"`
}

// getAlert is GET /api/alerts/{id}: {"alert": {...}, "anomalies": [oldest
// first], "triage": [record.TriageRun, newest alert version first],
// "actions": [record.Action, latest version each, most recently requested
// first]}.
func (c *Console) getAlert(w http.ResponseWriter, r *http.Request) {
	d, ok := c.alerts.Detail(r.PathValue("id"))
	if !ok {
		api.WriteError(w, http.StatusNotFound, "not_found", "no alert has this id (or it is older than the console keeps in memory)")
		return
	}
	ids := make([]string, 0, len(d.Actions))
	for _, raw := range d.Actions {
		var a struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &a) == nil && a.ID != "" {
			ids = append(ids, a.ID)
		}
	}
	api.WriteJSON(w, http.StatusOK, alertDetail{Alert: d.Alert, Anomalies: d.Anomalies, Triage: d.Triage, Actions: d.Actions, Audit: c.audits.forAlert(d.Meta.ID, ids)})
}

// streamAlerts is GET /api/alerts/stream, Server-Sent Events: an "alerts"
// event with the model's change counter after each change (coalesced), and
// a comment every 15 s to keep proxies from closing the stream. It ends
// when the client goes, the server shuts down, or after StreamMaxAge (the
// browser's EventSource reconnects by itself).
func (c *Console) streamAlerts(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && err != http.ErrNotSupported {
		api.WriteError(w, http.StatusInternalServerError, "stream", "cannot stream")
		return
	}
	c.watchShutdown(r)
	ch, cancel := c.alerts.Subscribe()
	defer cancel()
	ach, acancel := c.audits.subscribe()
	defer acancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func() bool {
		_, err := fmt.Fprintf(w, "event: alerts\ndata: {\"seq\":%d}\n\n", c.alerts.Seq()+c.audits.Seq())
		return err == nil && rc.Flush() == nil
	}
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil || !send() {
		return
	}
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	maxAge := time.NewTimer(c.cfg.StreamMaxAge)
	defer maxAge.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.stopping:
			return
		case <-maxAge.C:
			return
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-ch:
			if !send() {
				return
			}
		case <-ach:
			if !send() {
				return
			}
		}
	}
}

// watchShutdown ends this console's streams when the serving http.Server
// starts shutting down: Shutdown does not cancel request contexts, so open
// streams would otherwise hold the drain until its timeout.
func (c *Console) watchShutdown(r *http.Request) {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return
	}
	c.srvMu.Lock()
	defer c.srvMu.Unlock()
	if c.servers[srv] {
		return
	}
	c.servers[srv] = true
	srv.RegisterOnShutdown(c.stop)
}
