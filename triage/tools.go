package triage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/tmc/langchaingo/llms"

	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta"
	"github.com/clarion-itdr/clarion/okta/logevent"
)

// Tool names. Every tool only reads; the agent has no tool that changes
// anything in Okta or in Clarion.
const (
	ToolRecentSignins    = "recent_signins"
	ToolUserProfile      = "user_profile"
	ToolUserSystemLog    = "user_system_log"
	ToolTenantPrevalence = "tenant_prevalence"
)

// Tool limits.
const (
	maxSigninsOut    = 50
	maxSyslogOut     = 30
	maxGroupsOut     = 40
	maxStringOut     = 200
	prevalenceDays   = 7
	prevalencePages  = 5
	prevalenceValues = 3
)

// systemLogTypes are the System Log event types user_system_log reads:
// MFA pushes and their answers, password and factor changes, lockouts and
// lifecycle changes.
var systemLogTypes = []string{
	"system.push.send_factor_verify_push",
	"user.mfa.okta_verify.deny_push",
	"user.mfa.okta_verify.deny_push_upgrade_needed",
	"user.authentication.auth_via_mfa",
	"user.mfa.attempt_bypass",
	"user.account.reset_password",
	"user.account.update_password",
	"user.account.lock",
	"user.mfa.factor.activate",
	"user.mfa.factor.deactivate",
	"user.mfa.factor.reset_all",
	"user.mfa.factor.update",
	"user.lifecycle.suspend",
	"user.lifecycle.unsuspend",
	"user.session.clear",
}

// toolDefs are the tools offered to the model.
func toolDefs() []llms.Tool {
	obj := func(props map[string]any) map[string]any {
		return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	}
	days := map[string]any{"type": "integer", "minimum": 1, "maximum": 30, "description": "how many days back to read (default 7)"}
	return []llms.Tool{
		{Type: "function", Function: &llms.FunctionDefinition{
			Name:        ToolRecentSignins,
			Description: "The alert user's recent sign-ins and authentication events from the Okta System Log, newest first, with counts, plus a summary of the user's baseline from the detectors (known places, sign-ins, history days, known devices and networks, nearest known place).",
			Parameters: obj(map[string]any{"days": days,
				"limit": map[string]any{"type": "integer", "minimum": 1, "maximum": maxSigninsOut, "description": "most events returned (default 20)"}}),
		}},
		{Type: "function", Function: &llms.FunctionDefinition{
			Name:        ToolUserProfile,
			Description: "The alert user's Okta profile (status, created, last login, password changed, title, department, location) and group names.",
			Parameters:  obj(map[string]any{}),
		}},
		{Type: "function", Function: &llms.FunctionDefinition{
			Name:        ToolUserSystemLog,
			Description: "The alert user's recent MFA pushes (sent, denied), MFA verifications, password resets and changes, factor changes, lockouts and lifecycle changes from the Okta System Log, with counts.",
			Parameters:  obj(map[string]any{"days": days}),
		}},
		{Type: "function", Function: &llms.FunctionDefinition{
			Name:        ToolTenantPrevalence,
			Description: "How many distinct users of the tenant signed in from an IP address, network (ASN) or city in the last 7 days. Only the alert's own IPs, ASNs and cities can be asked; with no arguments, those of the alert's sign-ins.",
			Parameters: obj(map[string]any{
				"ip":   map[string]any{"type": "string", "description": "an IP address from the alert"},
				"asn":  map[string]any{"type": "integer", "description": "an autonomous system number from the alert"},
				"city": map[string]any{"type": "string", "description": "a city name from the alert"},
			}),
		}},
	}
}

// ErrUnknownTool is the result of a tool call naming no tool Clarion
// offers. Nothing runs.
var ErrUnknownTool = errors.New("triage: unknown tool")

// toolbox runs the read-only tools for one alert. Results are cached by
// tool and arguments for the run, so the deterministic pass and the agent
// share Okta calls. Safe for concurrent use.
type toolbox struct {
	client    *okta.Client
	clientErr error
	alert     *Alert
	anomalies []Anomaly
	now       time.Time
	maxOut    int
	observe   func(tool string, d time.Duration, err error)

	mu    sync.Mutex
	cache map[string]*toolEntry
	uuids map[string]bool
}

type toolEntry struct {
	done  chan struct{}
	out   string
	value any
	err   error
}

func newToolbox(client *okta.Client, clientErr error, a *Alert, anomalies []Anomaly, now time.Time, maxOut int) *toolbox {
	tb := &toolbox{client: client, clientErr: clientErr, alert: a, anomalies: anomalies, now: now, maxOut: maxOut,
		cache: map[string]*toolEntry{}, uuids: map[string]bool{}}
	for i := range anomalies {
		if u := anomalies[i].EventUUID; u != "" {
			tb.uuids[u] = true
		}
		for _, s := range anomalies[i].Evidence.Signins {
			if s.UUID != "" {
				tb.uuids[s.UUID] = true
			}
		}
	}
	return tb
}

// knownUUIDs returns a copy of the event uuids the agent may cite.
func (tb *toolbox) knownUUIDs() map[string]bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	m := make(map[string]bool, len(tb.uuids))
	for k := range tb.uuids {
		m[k] = true
	}
	return m
}

func (tb *toolbox) addUUIDs(us ...string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, u := range us {
		if u != "" {
			tb.uuids[u] = true
		}
	}
}

// call runs tool name with JSON arguments args and records the call. An
// unknown name or bad arguments give an error result; nothing else runs.
func (tb *toolbox) call(ctx context.Context, name, args string) record.ToolCall {
	start := time.Now()
	tc := record.ToolCall{Name: clip(name, 64), Input: clip(args, 2048)}
	_, out, err := tb.run(ctx, name, args)
	d := time.Since(start)
	tc.LatencyMs = ms(d)
	if err != nil {
		tc.Error = err.Error()
		tc.Output = quoteData(map[string]string{"error": err.Error()})
	} else {
		tc.Output = out
	}
	if tb.observe != nil {
		tool := name
		if !slices.Contains([]string{ToolRecentSignins, ToolUserProfile, ToolUserSystemLog, ToolTenantPrevalence}, name) {
			tool = "unknown"
		}
		tb.observe(tool, d, err)
	}
	return tc
}

// run returns the tool's typed value and its JSON, from the cache when
// the same call ran before in this run.
func (tb *toolbox) run(ctx context.Context, name, args string) (any, string, error) {
	var fn func(context.Context, json.RawMessage) (any, error)
	switch name {
	case ToolRecentSignins:
		fn = tb.recentSignins
	case ToolUserProfile:
		fn = tb.userProfile
	case ToolUserSystemLog:
		fn = tb.userSystemLog
	case ToolTenantPrevalence:
		fn = tb.tenantPrevalence
	default:
		return nil, "", fmt.Errorf("%w %q: the tools are %s, %s, %s and %s", ErrUnknownTool, clip(name, 64),
			ToolRecentSignins, ToolUserProfile, ToolUserSystemLog, ToolTenantPrevalence)
	}
	a := strings.TrimSpace(args)
	if a == "" || a == "null" {
		a = "{}"
	}
	if !json.Valid([]byte(a)) {
		return nil, "", errors.New("arguments are not valid JSON")
	}
	if err := checkToolArgs(name, []byte(a)); err != nil {
		return nil, "", err
	}
	key := name + "\x00" + canonicalJSON(a)
	tb.mu.Lock()
	e := tb.cache[key]
	if e == nil {
		e = &toolEntry{done: make(chan struct{})}
		tb.cache[key] = e
		tb.mu.Unlock()
		e.value, e.err = fn(ctx, json.RawMessage(a))
		if e.err == nil {
			e.out = quoteData(e.value)
			if len(e.out) > tb.maxOut {
				e.value, e.err = nil, fmt.Errorf("tool output of %d bytes exceeds the %d-byte limit", len(e.out), tb.maxOut)
				e.out = ""
			}
		}
		close(e.done)
	} else {
		tb.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, "", ctx.Err()
		}
	}
	return e.value, e.out, e.err
}

func canonicalJSON(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	b, _ := json.Marshal(v) // maps marshal with sorted keys
	return string(b)
}

func (tb *toolbox) okta() (*okta.Client, error) {
	if tb.clientErr != nil {
		return nil, fmt.Errorf("no Okta client for integration: %v", tb.clientErr)
	}
	if tb.client == nil {
		return nil, errors.New("no Okta client for integration")
	}
	return tb.client, nil
}

// userFilter is the SCIM clause selecting the alert user as actor (and,
// with target, as target). User keys with an @ are alternate ids
// (failed sign-ins of unknown users).
func (tb *toolbox) userFilter(target bool) string {
	id := scimString(tb.alert.User.ID)
	if strings.Contains(tb.alert.User.ID, "@") {
		return `actor.alternateId eq "` + id + `"`
	}
	if target {
		return `(actor.id eq "` + id + `" or target.id eq "` + id + `")`
	}
	return `actor.id eq "` + id + `"`
}

// scimString makes s safe inside a double-quoted SCIM string.
func scimString(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	return clip(s, 256)
}

func daysArg(raw json.RawMessage, def int) (int, int, error) {
	var a struct {
		Days  *int `json:"days"`
		Limit *int `json:"limit"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return 0, 0, fmt.Errorf("bad arguments: %v", err)
	}
	d, l := def, 20
	if a.Days != nil {
		if *a.Days < 1 || *a.Days > 30 {
			return 0, 0, errors.New("days must be between 1 and 30")
		}
		d = *a.Days
	}
	if a.Limit != nil {
		if *a.Limit < 1 || *a.Limit > maxSigninsOut {
			return 0, 0, fmt.Errorf("limit must be between 1 and %d", maxSigninsOut)
		}
		l = *a.Limit
	}
	return d, l, nil
}

// logEvent is a compact System Log event as the tools show it.
type logEvent struct {
	UUID      string `json:"uuid"`
	Published string `json:"published"`
	EventType string `json:"event_type"`
	Outcome   string `json:"outcome,omitempty"`
	Reason    string `json:"reason,omitempty"`
	IP        string `json:"ip,omitempty"`
	City      string `json:"city,omitempty"`
	Country   string `json:"country,omitempty"`
	ASN       int64  `json:"asn,omitempty"`
	ISP       string `json:"isp,omitempty"`
	Proxy     bool   `json:"proxy,omitempty"`
	Browser   string `json:"browser,omitempty"`
	OS        string `json:"os,omitempty"`
	Device    string `json:"device,omitempty"`
}

func compactEvent(ev *logevent.Event) logEvent {
	return logEvent{UUID: clip(ev.UUID, 64), Published: clip(ev.PublishedRaw, 40), EventType: clip(ev.EventType, 80),
		Outcome: clip(ev.Outcome, 20), Reason: clip(ev.OutcomeReason, maxStringOut), IP: clip(ev.IP, 64),
		City: clip(ev.City, maxStringOut), Country: clip(ev.Country, maxStringOut), ASN: ev.ASN, ISP: clip(ev.ISP, maxStringOut),
		Proxy: ev.IsProxy, Browser: clip(ev.Browser, maxStringOut), OS: clip(ev.OS, maxStringOut), Device: clip(ev.DeviceType, maxStringOut)}
}

// readLogs reads up to pages pages of q and calls fn for each event.
// complete is false when more pages remained.
func (tb *toolbox) readLogs(ctx context.Context, q okta.LogQuery, pages int, fn func(*logevent.Event)) (bool, error) {
	c, err := tb.okta()
	if err != nil {
		return false, err
	}
	if q.Limit <= 0 {
		q.Limit = okta.MaxLogsLimit
	}
	u := c.LogsURL(q)
	var ev logevent.Event
	for p := 0; p < pages; p++ {
		page, err := c.LogsPage(ctx, u)
		if err != nil {
			return false, fmt.Errorf("system log: %w", err)
		}
		arr := gjson.ParseBytes(page.Body)
		if !arr.IsArray() {
			return false, errors.New("system log: bad page: not a JSON array")
		}
		n := 0
		arr.ForEach(func(_, v gjson.Result) bool {
			n++
			if logevent.Parse(unsafeBytes(v.Raw), &ev) == nil {
				fn(&ev)
			}
			return true
		})
		if n < q.Limit || page.Next == "" {
			return true, nil
		}
		u = page.Next
	}
	return false, nil
}

// signinsResult is recent_signins' output.
type signinsResult struct {
	Days          int        `json:"days"`
	Events        []logEvent `json:"events"`
	Total         int        `json:"total"`
	Successes     int        `json:"successes"`
	Failures      int        `json:"failures"`
	DistinctIPs   int        `json:"distinct_ips"`
	DistinctASNs  int        `json:"distinct_asns"`
	Countries     []string   `json:"countries"`
	MoreAvailable bool       `json:"more_available,omitempty"`
	Baseline      baseline   `json:"baseline"`
}

// baseline summarises what the detectors knew about the user.
type baseline struct {
	Places         int     `json:"places,omitempty"`
	Signins        uint32  `json:"signins,omitempty"`
	HistoryDays    float64 `json:"history_days,omitempty"`
	KnownDevices   int     `json:"known_devices,omitempty"`
	KnownNetworks  int     `json:"known_networks,omitempty"`
	NearestKnown   string  `json:"nearest_known_place,omitempty"`
	NearestKnownKm float64 `json:"nearest_known_km,omitempty"`
}

func (tb *toolbox) baseline() baseline {
	var b baseline
	for i := range tb.anomalies {
		e := &tb.anomalies[i].Evidence
		b.Places = max(b.Places, e.BaselinePlaces)
		b.Signins = max(b.Signins, e.BaselineSignins)
		b.HistoryDays = max(b.HistoryDays, e.HistoryDays)
		b.KnownDevices = max(b.KnownDevices, e.KnownDevices)
		b.KnownNetworks = max(b.KnownNetworks, e.KnownNetworks)
		if e.NearestKnown != "" && (b.NearestKnown == "" || e.NearestKnownKm < b.NearestKnownKm) {
			b.NearestKnown, b.NearestKnownKm = clip(e.NearestKnown, maxStringOut), e.NearestKnownKm
		}
	}
	return b
}

func (tb *toolbox) recentSignins(ctx context.Context, raw json.RawMessage) (any, error) {
	days, limit, err := daysArg(raw, 7)
	if err != nil {
		return nil, err
	}
	res := &signinsResult{Days: days, Events: []logEvent{}, Countries: []string{}, Baseline: tb.baseline()}
	ips, asns, countries := map[string]bool{}, map[int64]bool{}, map[string]bool{}
	var uuids []string
	complete, err := tb.readLogs(ctx, okta.LogQuery{
		Since:  tb.now.Add(-time.Duration(days) * 24 * time.Hour),
		Filter: `(eventType eq "user.session.start" or eventType sw "user.authentication") and ` + tb.userFilter(false),
		Limit:  200, Descending: true,
	}, 1, func(ev *logevent.Event) {
		res.Total++
		switch ev.Outcome {
		case logevent.OutcomeSuccess, "ALLOW":
			res.Successes++
		case "FAILURE", "DENY":
			res.Failures++
		}
		if ev.IP != "" {
			ips[ev.IP] = true
		}
		if ev.ASN != 0 {
			asns[ev.ASN] = true
		}
		if ev.Country != "" && len(countries) < 20 {
			countries[clip(ev.Country, maxStringOut)] = true
		}
		if len(res.Events) < limit {
			res.Events = append(res.Events, compactEvent(ev))
			uuids = append(uuids, ev.UUID)
		}
	})
	if err != nil {
		return nil, err
	}
	res.MoreAvailable = !complete
	res.DistinctIPs, res.DistinctASNs = len(ips), len(asns)
	for c := range countries {
		res.Countries = append(res.Countries, c)
	}
	sort.Strings(res.Countries)
	tb.addUUIDs(uuids...)
	return res, nil
}

// profileResult is user_profile's output.
type profileResult struct {
	ID              string            `json:"id"`
	Status          string            `json:"status"`
	Created         string            `json:"created,omitempty"`
	LastLogin       string            `json:"last_login,omitempty"`
	PasswordChanged string            `json:"password_changed,omitempty"`
	Profile         map[string]string `json:"profile"`
	Groups          []string          `json:"groups"`
	MoreGroups      int               `json:"more_groups,omitempty"`
}

// profileFields are the profile attributes shown to the agent.
var profileFields = []string{"login", "email", "firstName", "lastName", "displayName", "title", "department",
	"division", "organization", "userType", "employeeNumber", "city", "state", "countryCode", "timezone", "manager", "managerId"}

func (tb *toolbox) userProfile(ctx context.Context, raw json.RawMessage) (any, error) {
	if err := noArgs(raw); err != nil {
		return nil, err
	}
	c, err := tb.okta()
	if err != nil {
		return nil, err
	}
	id := tb.alert.User.ID
	u, prof, err := c.UserProfile(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("user profile: %w", err)
	}
	res := &profileResult{ID: clip(u.ID, 64), Status: clip(u.Status, 40), Profile: map[string]string{}, Groups: []string{}}
	str := func(v any) string {
		switch x := v.(type) {
		case string:
			return clip(x, maxStringOut)
		case nil:
			return ""
		}
		b, _ := json.Marshal(v)
		return clip(string(b), maxStringOut)
	}
	res.Created, res.LastLogin, res.PasswordChanged = str(prof["created"]), str(prof["lastLogin"]), str(prof["passwordChanged"])
	if p, ok := prof["profile"].(map[string]any); ok {
		for _, f := range profileFields {
			if s := str(p[f]); s != "" {
				res.Profile[f] = s
			}
		}
	}
	groups, err := c.UserGroups(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("user groups: %w", err)
	}
	for _, g := range groups {
		if len(res.Groups) >= maxGroupsOut {
			res.MoreGroups++
			continue
		}
		res.Groups = append(res.Groups, clip(g.Name, maxStringOut))
	}
	return res, nil
}

func noArgs(raw json.RawMessage) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("bad arguments: %v", err)
	}
	if len(m) > 0 {
		return errors.New("this tool takes no arguments")
	}
	return nil
}

// systemLog is user_system_log's output.
type systemLog struct {
	Days            int            `json:"days"`
	Events          []logEvent     `json:"events"`
	Counts          map[string]int `json:"counts"`
	MFAPushSent     int            `json:"mfa_push_sent"`
	MFAPushDenied   int            `json:"mfa_push_denied"`
	PasswordChanges int            `json:"password_changes"`
	FactorChanges   int            `json:"factor_changes"`
	MoreAvailable   bool           `json:"more_available,omitempty"`
}

func (tb *toolbox) userSystemLog(ctx context.Context, raw json.RawMessage) (any, error) {
	var a struct {
		Days *int `json:"days"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("bad arguments: %v", err)
	}
	days := 7
	if a.Days != nil {
		if *a.Days < 1 || *a.Days > 30 {
			return nil, errors.New("days must be between 1 and 30")
		}
		days = *a.Days
	}
	res := &systemLog{Days: days, Events: []logEvent{}, Counts: map[string]int{}}
	var uuids []string
	complete, err := tb.readLogs(ctx, okta.LogQuery{
		Since:  tb.now.Add(-time.Duration(days) * 24 * time.Hour),
		Filter: "(" + okta.EventTypeFilter(systemLogTypes...) + ") and " + tb.userFilter(true),
		Limit:  200, Descending: true,
	}, 1, func(ev *logevent.Event) {
		t := ev.EventType
		if !slices.Contains(systemLogTypes, t) {
			return
		}
		res.Counts[t]++
		switch {
		case t == "system.push.send_factor_verify_push":
			res.MFAPushSent++
		case strings.HasPrefix(t, "user.mfa.okta_verify.deny_push"):
			res.MFAPushDenied++
		case t == "user.account.reset_password" || t == "user.account.update_password":
			res.PasswordChanges++
		case strings.HasPrefix(t, "user.mfa.factor."):
			res.FactorChanges++
		}
		if len(res.Events) < maxSyslogOut {
			res.Events = append(res.Events, compactEvent(ev))
			uuids = append(uuids, ev.UUID)
		}
	})
	if err != nil {
		return nil, err
	}
	res.MoreAvailable = !complete
	tb.addUUIDs(uuids...)
	return res, nil
}

// prevalence is tenant_prevalence's output: per value, the distinct users
// who signed in from it in the last 7 days.
type prevalence struct {
	Days   int                   `json:"days"`
	IPs    map[string]*prevCount `json:"ip"`
	ASNs   map[string]*prevCount `json:"asn"`
	Cities map[string]*prevCount `json:"city"`
	// Complete is false when the System Log had more matching events than
	// the tool reads; counts are then lower bounds.
	Complete bool `json:"complete"`
}

type prevCount struct {
	Users      int `json:"users"`
	OtherUsers int `json:"other_users"` // users other than the alert's
	Events     int `json:"events"`
	users      map[string]bool
}

// alertValues lists the IPs, ASNs and cities of the alert's subject
// sign-ins (the sign-ins the anomalies are about), most recent first.
func (tb *toolbox) alertValues() (ips []string, asns []uint32, cities []string) {
	for i := len(tb.anomalies) - 1; i >= 0; i-- {
		s := subject(&tb.anomalies[i])
		if s == nil {
			continue
		}
		if s.IP != "" && !slices.Contains(ips, s.IP) {
			ips = append(ips, s.IP)
		}
		if s.ASN != 0 && !slices.Contains(asns, s.ASN) {
			asns = append(asns, s.ASN)
		}
		if s.City != "" && !slices.Contains(cities, s.City) {
			cities = append(cities, s.City)
		}
	}
	return ips, asns, cities
}

// inEvidence reports whether the alert's evidence contains the value, so
// the agent can ask only about the alert's own IPs, ASNs and cities.
func (tb *toolbox) inEvidence(match func(*SigninRef) bool) bool {
	for i := range tb.anomalies {
		for j := range tb.anomalies[i].Evidence.Signins {
			if match(&tb.anomalies[i].Evidence.Signins[j]) {
				return true
			}
		}
	}
	return false
}

func (tb *toolbox) tenantPrevalence(ctx context.Context, raw json.RawMessage) (any, error) {
	var a struct {
		IP   *string          `json:"ip"`
		ASN  *json.RawMessage `json:"asn"`
		City *string          `json:"city"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("bad arguments: %v", err)
	}
	var ips, cities []string
	var asns []uint32
	if a.IP == nil && a.ASN == nil && a.City == nil {
		ips, asns, cities = tb.alertValues()
	}
	if a.IP != nil {
		ip := strings.TrimSpace(*a.IP)
		if _, err := netip.ParseAddr(ip); err != nil {
			return nil, errors.New("ip is not an IP address")
		}
		if !tb.inEvidence(func(s *SigninRef) bool { return s.IP == ip }) {
			return nil, errors.New("ip is not one of the alert's sign-in IPs")
		}
		ips = []string{ip}
	}
	if a.ASN != nil {
		n, err := strconv.ParseUint(strings.Trim(string(*a.ASN), `"`), 10, 32)
		if err != nil || n == 0 {
			return nil, errors.New("asn is not an autonomous system number")
		}
		if !tb.inEvidence(func(s *SigninRef) bool { return uint64(s.ASN) == n }) {
			return nil, errors.New("asn is not one of the alert's sign-in networks")
		}
		asns = []uint32{uint32(n)}
	}
	if a.City != nil {
		c := *a.City
		if !tb.inEvidence(func(s *SigninRef) bool { return s.City == c && c != "" }) {
			return nil, errors.New("city is not one of the alert's sign-in cities")
		}
		cities = []string{c}
	}
	ips, asns, cities = ips[:min(len(ips), prevalenceValues)], asns[:min(len(asns), prevalenceValues)], cities[:min(len(cities), prevalenceValues)]
	res := &prevalence{Days: prevalenceDays, IPs: map[string]*prevCount{}, ASNs: map[string]*prevCount{}, Cities: map[string]*prevCount{}}
	var or []string
	for _, ip := range ips {
		res.IPs[ip] = &prevCount{users: map[string]bool{}}
		or = append(or, `client.ipAddress eq "`+scimString(ip)+`"`)
	}
	for _, n := range asns {
		res.ASNs[strconv.FormatUint(uint64(n), 10)] = &prevCount{users: map[string]bool{}}
		or = append(or, "securityContext.asNumber eq "+strconv.FormatUint(uint64(n), 10))
	}
	for _, c := range cities {
		res.Cities[clip(c, maxStringOut)] = &prevCount{users: map[string]bool{}}
		or = append(or, `client.geographicalContext.city eq "`+scimString(c)+`"`)
	}
	if len(or) == 0 {
		res.Complete = true
		return res, nil
	}
	me := tb.alert.User.ID
	complete, err := tb.readLogs(ctx, okta.LogQuery{
		Since:  tb.now.Add(-prevalenceDays * 24 * time.Hour),
		Filter: `eventType eq "user.session.start" and (` + strings.Join(or, " or ") + ")",
	}, prevalencePages, func(ev *logevent.Event) {
		u := ev.UserKey()
		note := func(c *prevCount) {
			if c == nil {
				return
			}
			c.Events++
			if !c.users[u] {
				c.users[u] = true
				c.Users++
				if u != me {
					c.OtherUsers++
				}
			}
		}
		note(res.IPs[ev.IP])
		if ev.ASN > 0 {
			note(res.ASNs[strconv.FormatInt(ev.ASN, 10)])
		}
		if ev.City != "" {
			note(res.Cities[clip(ev.City, maxStringOut)])
		}
	})
	if err != nil {
		return nil, err
	}
	res.Complete = complete
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// unsafeBytes views s as bytes without copying; logevent.Parse copies
// what it keeps and never writes to its input.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
