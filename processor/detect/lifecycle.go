package detect

import (
	"encoding/json"
	"math"

	"github.com/clarion-itdr/clarion/internal/geo"
	"github.com/clarion-itdr/clarion/internal/record"
)

// The alert lifecycle: the processor is the only writer of clarion.alerts,
// and triage verdicts, analyst feedback and the responder's approval state
// reach it as record.Update records on its own input (see internal/record).
// The enums below index these tables and are part of the state encoding:
// append only.
var (
	statusNames   = [...]string{record.StatusNew, record.StatusAnalyzing, record.StatusEscalated, record.StatusClosed}
	dispNames     = [...]string{record.DispositionUnknown, record.DispositionBenign, record.DispositionSuspicious, record.DispositionConfirmedThreat, record.DispositionFalsePositive, record.DispositionDuplicated}
	sevNames      = [...]string{"", record.SeverityLow, record.SeverityMedium, record.SeverityHigh, record.SeverityCritical}
	actReqNames   = [...]string{record.ActionRequiredNone, record.ActionRequiredApproval, record.ActionRequiredClarification}
	feedbackNames = [...]string{"", record.FeedbackConfirmCompromised, record.FeedbackConfirmSafe, record.FeedbackDismiss}
	byNames       = [...]string{"", "llm", "deterministic", "analyst"}
)

const (
	stNew uint8 = iota
	stAnalyzing
	stEscalated
	stClosed
)

// confirmedWeight is the baseline weight a place confirmed safe gets: it
// stays familiar for about five half-lives (FamiliarWeight 0.25 · 2^5).
const confirmedWeight = 8

func indexOf[T ~string](names []T, v T) (uint8, bool) {
	for i, n := range names {
		if n == v {
			return uint8(i), true
		}
	}
	return 0, false
}

func (a *alertLife) valid() bool {
	return int(a.Status) < len(statusNames) && int(a.Disp) < len(dispNames) && int(a.Sev) < len(sevNames) &&
		a.Conf <= 100 && int(a.ActReq) < len(actReqNames) && int(a.Feedback) < len(feedbackNames) && int(a.By) < len(byNames)
}

// reopenable reports whether new anomalies may join the alert: a Closed
// alert is never reopened (the next anomaly opens a new alert).
func (a *alertLife) reopenable() bool { return a.Status != stClosed }

// joined resets the triage of an alert that new anomalies joined, so it is
// triaged again, unless an analyst has decided it or it is Escalated.
func (a *alertLife) joined() {
	if a.Feedback != 0 || a.Status == stEscalated {
		return
	}
	a.Status, a.Disp, a.Sev, a.Conf, a.By = stNew, 0, 0, 0, 0
}

// setView writes the lifecycle fields into an alert view.
func (a *alertLife) setView(out *Alert) {
	out.Status = statusNames[a.Status]
	out.Disposition = dispNames[a.Disp]
	out.DetectionSeverity = out.Severity
	if a.Sev != 0 {
		out.Severity = sevNames[a.Sev]
	}
	out.Confidence = float64(a.Conf) / 100
	out.ActionRequired = actReqNames[a.ActReq]
	out.Feedback = feedbackNames[a.Feedback]
	out.TriagedBy = byNames[a.By]
}

// ApplyUpdate applies an alert update (a triage verdict, analyst feedback,
// the responder's approval state) for user u and sets res.Alert to the new
// alert version when the alert changed. It reports whether it changed
// anything (the alert, or the baseline for confirm_safe).
//
// An update for the user's open alert changes the processor's state. An
// update for an older alert (no longer open: its window passed, it was
// Closed and replaced, or the user expired) is applied to up.Base, the
// newest version the sender knew, and written as that version + 1.
// Hazard: two such updates for the same old alert in quick succession may
// both start from the same Base; the later one wins, so the first one's
// change can be lost from the alert record (the feedback itself is on
// clarion.okta.events and the baseline lesson is kept).
func (e *Engine) ApplyUpdate(integ string, u *User, up *record.Update, res *Result) bool {
	res.Duplicate, res.Ignored, res.Alert = false, false, nil
	res.Anomalies = res.Anomalies[:0]
	learned := false
	if up.Kind == record.UpdateFeedback && up.Feedback == record.FeedbackConfirmSafe {
		learned = e.learnSafe(integ, u, up.Learn)
	}
	var base Alert
	hasBase := len(up.Base) > 0 && json.Unmarshal(up.Base, &base) == nil && base.ID == up.AlertID && base.IntegrationID == integ
	if u.HasAlert && hex16(u.Alert.ID) == up.AlertID {
		al := &u.Alert
		if !applyTo(&u.Life, al.Version, up) {
			return learned
		}
		al.Version++
		res.alert = e.alertView(integ, up.User.ID, u, "")
		if hasBase && base.AnomalyCount == int(al.NAn) && base.Summary != "" {
			res.alert.Summary = base.Summary // keeps "Latest: ..." (not in state)
		}
		res.Alert = &res.alert
		return true
	}
	// Not the open alert: apply to the sender's copy.
	if !hasBase {
		return learned
	}
	var al alertLife
	al.fromView(&base)
	if !applyTo(&al, base.Version, up) {
		return learned
	}
	base.Version++
	sev := base.DetectionSeverity
	if sev == "" {
		sev = base.Severity
	}
	base.Severity = sev
	al.setView(&base)
	res.alert = base
	res.Alert = &res.alert
	return true
}

// fromView reads the lifecycle fields of an alert record.
func (a *alertLife) fromView(v *Alert) {
	a.Status, _ = indexOf(statusNames[:], v.Status)
	a.Disp, _ = indexOf(dispNames[:], v.Disposition)
	if v.DetectionSeverity != "" && v.Severity != v.DetectionSeverity {
		a.Sev, _ = indexOf(sevNames[:], v.Severity)
	}
	a.Conf = uint8(math.Round(min(max(v.Confidence, 0), 1) * 100))
	a.ActReq, _ = indexOf(actReqNames[:], v.ActionRequired)
	a.Feedback, _ = indexOf(feedbackNames[:], v.Feedback)
	a.By, _ = indexOf(byNames[:], v.TriagedBy)
}

// applyTo applies up to al and reports whether al changed.
func applyTo(al *alertLife, version uint32, up *record.Update) bool {
	before := *al
	switch up.Kind {
	case record.UpdateAnalyzing:
		if al.Status == stNew {
			al.Status = stAnalyzing
		}
	case record.UpdateVerdict:
		v := up.Verdict
		// A verdict counts while its triage is the current one: the alert
		// is Analyzing, or still New at the version triage saw (new
		// anomalies since then reset it to New and a new triage follows).
		if al.Feedback != 0 || !(al.Status == stAnalyzing || al.Status == stNew && up.AlertVersion == version) {
			return false
		}
		al.Disp, _ = indexOf(dispNames[:], v.Disposition)
		al.Sev, _ = indexOf(sevNames[:], v.Severity)
		al.Conf = uint8(math.Round(min(max(v.Confidence, 0), 1) * 100))
		if v.By == "llm" {
			al.By = 1
		} else {
			al.By = 2
		}
		if r, ok := indexOf(actReqNames[:], v.ActionRequired); ok {
			al.ActReq = r
		}
		if record.Closing(v.Disposition) && !v.Escalate {
			al.Status = stClosed
		} else {
			al.Status = stEscalated
		}
	case record.UpdateFeedback:
		f, ok := indexOf(feedbackNames[:], up.Feedback)
		if !ok || f == 0 {
			return false
		}
		al.Feedback, al.By = f, 3
		switch up.Feedback {
		case record.FeedbackConfirmCompromised:
			al.Status, al.Disp = stEscalated, 3
		case record.FeedbackConfirmSafe:
			al.Status, al.Disp, al.ActReq = stClosed, 1, 0
		case record.FeedbackDismiss:
			al.Status, al.Disp, al.ActReq = stClosed, 4, 0
		}
	case record.UpdateActionRequired:
		r, ok := indexOf(actReqNames[:], up.ActionRequired)
		if !ok {
			return false
		}
		al.ActReq = r
	default:
		return false
	}
	return *al != before
}

// learnSafe makes the places and networks an analyst confirmed safe known
// for u: a place is folded into the nearest baseline place within MergeKm
// (or added) with weight confirmedWeight, a network joins the known ASNs.
// The time is the user's latest event time (the processor runs on event
// time).
func (e *Engine) learnSafe(integ string, u *User, places []record.Place) bool {
	if len(places) == 0 {
		return false
	}
	h := hourOf(u.LastSeen)
	t := e.tenant(integ)
	changed := false
	for _, p := range places[:min(len(places), 16)] {
		if p.Lat != nil && p.Lon != nil && !math.IsNaN(*p.Lat) && !math.IsNaN(*p.Lon) &&
			*p.Lat >= -90 && *p.Lat <= 90 && *p.Lon >= -180 && *p.Lon <= 180 {
			lat, lon := float32(*p.Lat), float32(*p.Lon)
			best, bd := -1, e.p.MergeKm
			pre := e.preChange(u)
			for i := 0; i < int(u.NCities); i++ {
				if u.Cities[i].Cell == 0 {
					continue
				}
				if d := geo.DistanceKm(float64(lat), float64(lon), float64(u.Cities[i].Lat), float64(u.Cities[i].Lon)); d <= bd {
					best, bd = i, d
				}
			}
			if best < 0 {
				pk := placeKey(Place{}, lat, lon)
				hadPlace := hasPlaceBefore(u.Cities[:u.NCities], pk)
				added, evicted, _ := e.observePlace(u, pk, 0, lat, lon, h, false, &pre)
				if added && !hadPlace {
					add(t.places, pk, 1)
				}
				if evicted != nil && evicted.Cell != 0 && evicted.Place != pk && !hasPlaceBefore(u.Cities[:u.NCities], evicted.Place) {
					add(t.places, evicted.Place, -1)
				}
				for i := 0; i < int(u.NCities); i++ {
					if u.Cities[i].Lat == lat && u.Cities[i].Lon == lon {
						best = i
					}
				}
			}
			if best >= 0 {
				c := &u.Cities[best]
				if w := decayed(c.W, c.Last, h, e.halfLife); w < confirmedWeight {
					c.W = confirmedWeight
				} else {
					c.W = w
				}
				if pre.idx < 0 {
					pre.idx, pre.first, pre.last = best, c.First, c.Last
				}
				c.Last = max(c.Last, h)
				changed = true
			}
			e.postChange(t, u, &pre)
		}
		if p.ASN != 0 {
			added, ev, ok := observeKey(u.ASNs[:], &u.NASNs, p.ASN, h)
			if added {
				add(t.asns, p.ASN, 1)
				if ok {
					add(t.asns, ev, -1)
				}
			}
			changed = true
		}
	}
	return changed
}
