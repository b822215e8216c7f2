package detect_test

import (
	"encoding/json"
	"testing"

	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/processor/detect"
	sc "github.com/clarion-itdr/clarion/processor/scenario"
)

// alertFor gives user a baseline and one Critical alert (travel + proxy).
func alertFor(t *testing.T, h *harness, user string) detect.Alert {
	t.Helper()
	history(h, user)
	h.feed(at(user, "2026-03-03 14:00", sc.NewYork))
	m := at(user, "2026-03-03 14:20", sc.Amsterdam)
	m.Proxy = true
	h.feed(m)
	if h.res.Alert == nil {
		t.Fatal("no alert")
	}
	return *h.res.Alert
}

func update(a detect.Alert, kind string) *record.Update {
	return &record.Update{Type: record.UpdateType, Kind: kind, AlertID: a.ID, IntegrationID: a.IntegrationID,
		User: record.UserRef{ID: a.User.ID}, AlertVersion: a.Version}
}

func (h *harness) apply(user string, up *record.Update) *detect.Alert {
	h.t.Helper()
	if err := up.Validate(); err != nil {
		h.t.Fatal(err)
	}
	if !h.eng.ApplyUpdate("t", h.users[user], up, &h.res) {
		return nil
	}
	a := *h.res.Alert
	return &a
}

func TestAlertLifecycle(t *testing.T) {
	t.Parallel()
	verdict := func(disp, sev string, escalate bool) *record.Verdict {
		return &record.Verdict{RunID: "r", Disposition: disp, Severity: sev, Confidence: 0.9, By: "llm", ActionRequired: record.ActionRequiredNone, Escalate: escalate}
	}
	type step struct {
		kind     string
		verdict  *record.Verdict
		feedback string
		actReq   string
		stale    bool // verdict for an older version than the alert's
		// want: "" = no change
		status, disp, sev, actReqWant, feedbackWant string
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"benign verdict closes", []step{
			{kind: record.UpdateAnalyzing, status: record.StatusAnalyzing, disp: record.DispositionUnknown, sev: record.SeverityCritical},
			{kind: record.UpdateAnalyzing}, // already Analyzing: no change
			{kind: record.UpdateVerdict, verdict: verdict(record.DispositionBenign, record.SeverityLow, false), status: record.StatusClosed, disp: record.DispositionBenign, sev: record.SeverityLow},
			{kind: record.UpdateVerdict, verdict: verdict(record.DispositionConfirmedThreat, record.SeverityCritical, false)}, // closed: ignored
		}},
		{"threat verdict escalates, approval pending then done", []step{
			{kind: record.UpdateAnalyzing, status: record.StatusAnalyzing, disp: record.DispositionUnknown, sev: record.SeverityCritical},
			{kind: record.UpdateVerdict, verdict: verdict(record.DispositionConfirmedThreat, record.SeverityCritical, false), status: record.StatusEscalated, disp: record.DispositionConfirmedThreat, sev: record.SeverityCritical},
			{kind: record.UpdateActionRequired, actReq: record.ActionRequiredApproval, status: record.StatusEscalated, disp: record.DispositionConfirmedThreat, sev: record.SeverityCritical, actReqWant: record.ActionRequiredApproval},
			{kind: record.UpdateActionRequired, actReq: record.ActionRequiredApproval},
			{kind: record.UpdateActionRequired, actReq: record.ActionRequiredNone, status: record.StatusEscalated, disp: record.DispositionConfirmedThreat, sev: record.SeverityCritical, actReqWant: record.ActionRequiredNone},
		}},
		{"gate escalates a closing verdict", []step{
			{kind: record.UpdateVerdict, verdict: verdict(record.DispositionBenign, record.SeverityLow, true), status: record.StatusEscalated, disp: record.DispositionBenign, sev: record.SeverityLow},
		}},
		{"stale verdict on a New alert is ignored", []step{
			{kind: record.UpdateVerdict, stale: true, verdict: verdict(record.DispositionBenign, record.SeverityLow, false)},
		}},
		{"analyst overrides triage", []step{
			{kind: record.UpdateAnalyzing, status: record.StatusAnalyzing, disp: record.DispositionUnknown, sev: record.SeverityCritical},
			{kind: record.UpdateVerdict, verdict: verdict(record.DispositionBenign, record.SeverityLow, false), status: record.StatusClosed, disp: record.DispositionBenign, sev: record.SeverityLow},
			{kind: record.UpdateFeedback, feedback: record.FeedbackConfirmCompromised, status: record.StatusEscalated, disp: record.DispositionConfirmedThreat, sev: record.SeverityLow, feedbackWant: record.FeedbackConfirmCompromised},
			{kind: record.UpdateFeedback, feedback: record.FeedbackConfirmCompromised},
			{kind: record.UpdateVerdict, verdict: verdict(record.DispositionBenign, record.SeverityLow, false)}, // analyst decided: ignored
			{kind: record.UpdateFeedback, feedback: record.FeedbackDismiss, status: record.StatusClosed, disp: record.DispositionFalsePositive, sev: record.SeverityLow, feedbackWant: record.FeedbackDismiss},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			a := alertFor(t, h, "00ulc")
			version := a.Version
			for i, s := range c.steps {
				up := update(a, s.kind)
				up.Verdict, up.Feedback, up.ActionRequired = s.verdict, s.feedback, s.actReq
				up.AlertVersion = version
				if s.stale {
					up.AlertVersion = version - 1
				}
				got := h.apply("00ulc", up)
				if s.status == "" {
					if got != nil {
						t.Fatalf("step %d (%s): changed the alert to %s/%s, want no change", i, s.kind, got.Status, got.Disposition)
					}
					continue
				}
				if got == nil {
					t.Fatalf("step %d (%s): no change", i, s.kind)
				}
				actReq := s.actReqWant
				if actReq == "" {
					actReq = record.ActionRequiredNone
				}
				if got.Status != s.status || got.Disposition != s.disp || got.Severity != s.sev || got.ActionRequired != actReq ||
					got.Feedback != s.feedbackWant || got.DetectionSeverity != record.SeverityCritical || got.ID != a.ID || got.Version != version+1 {
					t.Fatalf("step %d (%s): got %s/%s/%s/%s feedback %q detection %s v%d; want %s/%s/%s/%s feedback %q v%d",
						i, s.kind, got.Status, got.Disposition, got.Severity, got.ActionRequired, got.Feedback, got.DetectionSeverity, got.Version,
						s.status, s.disp, s.sev, actReq, s.feedbackWant, version+1)
				}
				version = got.Version
			}
		})
	}
}

// New anomalies reset a triaged (not escalated) alert to New; a Closed
// alert is never reopened; the state round-trips with its lifecycle.
func TestLifecycleWithDetection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := alertFor(t, h, "00ure")
	up := update(a, record.UpdateAnalyzing)
	if got := h.apply("00ure", up); got == nil || got.Status != record.StatusAnalyzing {
		t.Fatalf("analyzing: %+v", got)
	}
	d := at("00ure", "2026-03-03 18:00", sc.NewYork)
	d.Browser = "SAFARI"
	h.feed(d)
	if got := h.res.Alert; got == nil || got.ID != a.ID || got.Status != record.StatusNew {
		t.Fatalf("joined alert: %+v", got)
	}
	cur := *h.res.Alert
	up = update(cur, record.UpdateVerdict)
	up.Verdict = &record.Verdict{RunID: "r", Disposition: record.DispositionBenign, Severity: record.SeverityLow, Confidence: 0.5, By: "deterministic", ActionRequired: record.ActionRequiredNone}
	closed := h.apply("00ure", up)
	if closed == nil || closed.Status != record.StatusClosed || closed.TriagedBy != "deterministic" || closed.Confidence != 0.5 {
		t.Fatalf("verdict at the current version: %+v", closed)
	}
	// Round trip keeps the lifecycle.
	u := h.users["00ure"]
	var v detect.User
	if err := v.UnmarshalBinary(u.AppendBinary(nil)); err != nil {
		t.Fatal(err)
	}
	if string(v.AppendBinary(nil)) != string(u.AppendBinary(nil)) {
		t.Fatal("round trip differs")
	}
	e := at("00ure", "2026-03-03 19:00", sc.NewYork)
	e.Browser = "OPERA"
	h.feed(e)
	if got := h.res.Alert; got == nil || got.ID == a.ID || got.Status != record.StatusNew || got.Version != 1 {
		t.Fatalf("anomaly after close: %+v, want a new alert", got)
	}
	// Feedback on the closed (no longer open) alert applies to its Base.
	base, _ := json.Marshal(closed)
	fb := update(*closed, record.UpdateFeedback)
	fb.Feedback, fb.Base = record.FeedbackConfirmCompromised, base
	got := h.apply("00ure", fb)
	if got == nil || got.ID != a.ID || got.Status != record.StatusEscalated || got.Disposition != record.DispositionConfirmedThreat || got.Version != closed.Version+1 || got.Summary != closed.Summary {
		t.Fatalf("feedback on an old alert: %+v", got)
	}
	fb.Base = nil
	if got := h.apply("00ure", fb); got != nil {
		t.Fatalf("old alert without base changed: %+v", got)
	}
}

// confirm_safe teaches the baseline: the place and network stop being unusual.
func TestConfirmSafeTeachesBaseline(t *testing.T) {
	t.Parallel()
	for _, teach := range []bool{false, true} {
		h := newHarness(t)
		history(h, "00usafe")
		got := h.feed(at("00usafe", "2026-03-03 14:00", sc.Lagos))
		if find(got, detect.TypeUnusualLocation) == nil || find(got, detect.TypeNewNetwork) == nil {
			t.Fatalf("Lagos: %v", types(got))
		}
		a := *h.res.Alert
		if teach {
			up := update(a, record.UpdateFeedback)
			up.Feedback = record.FeedbackConfirmSafe
			lat, lon := sc.Lagos.Lat, sc.Lagos.Lon
			up.Learn = []record.Place{{Lat: &lat, Lon: &lon, ASN: uint32(sc.Lagos.ASN)}}
			if got := h.apply("00usafe", up); got == nil || got.Status != record.StatusClosed || got.Disposition != record.DispositionBenign || got.Feedback != record.FeedbackConfirmSafe {
				t.Fatalf("confirm_safe: %+v", got)
			}
		}
		// Months later (the single visit has decayed) the user is back.
		later := h.feed(at("00usafe", "2026-07-20 14:00", sc.Lagos))
		if teach && (find(later, detect.TypeUnusualLocation) != nil || find(later, detect.TypeNewNetwork) != nil) {
			t.Errorf("after confirm_safe: %v", types(later))
		}
		if !teach && find(later, detect.TypeUnusualLocation) == nil {
			t.Errorf("without feedback the decayed place should be unusual again: %v", types(later))
		}
	}
}

// FuzzApplyUpdate: any update body the processor accepts (it validates
// first) applies without panicking, keeps the lifecycle within its enums,
// and leaves a state that round-trips.
func FuzzApplyUpdate(f *testing.F) {
	h := newHarness(&testing.T{})
	a := alertFor(&testing.T{}, h, "00ufz")
	base, _ := json.Marshal(a)
	for _, kind := range []string{record.UpdateAnalyzing, record.UpdateVerdict, record.UpdateFeedback, record.UpdateActionRequired} {
		up := update(a, kind)
		up.Verdict = &record.Verdict{Disposition: record.DispositionBenign, Severity: record.SeverityLow, Confidence: 2, By: "llm"}
		up.Feedback, up.ActionRequired, up.Base = record.FeedbackConfirmSafe, record.ActionRequiredApproval, base
		lat, lon := 95.0, -200.0
		up.Learn = []record.Place{{Lat: &lat, Lon: &lon, ASN: 7}}
		b, _ := json.Marshal(up)
		f.Add(b)
	}
	seed := h.users["00ufz"].AppendBinary(nil)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var up record.Update
		if json.Unmarshal(raw, &up) != nil || up.Validate() != nil {
			return
		}
		var u detect.User
		if err := u.UnmarshalBinary(seed); err != nil {
			t.Fatal(err)
		}
		eng := detect.NewEngine(detect.Params{})
		eng.Attach("t", &u)
		var res detect.Result
		if eng.ApplyUpdate("t", &u, &up, &res) && res.Alert != nil {
			if record.SeverityRank(res.Alert.Severity) == 0 || !record.ValidDisposition(res.Alert.Disposition) {
				t.Fatalf("alert out of its enums: %+v", res.Alert)
			}
		}
		var v detect.User
		if err := v.UnmarshalBinary(u.AppendBinary(nil)); err != nil {
			t.Fatalf("state after the update does not decode: %v", err)
		}
	})
}
