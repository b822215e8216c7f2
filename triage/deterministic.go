package triage

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/clarion-itdr/clarion/internal/record"
)

// Anomaly type names (DESIGN.md).
const (
	typeTravel   = "impossible_travel"
	typeLocation = "unusual_location"
	typeTime     = "unusual_time"
	typeDevice   = "new_device"
	typeNetwork  = "new_network"
	typeProxy    = "anonymizing_proxy"
)

// Thresholds of the deterministic rules (see the package comment).
const (
	travelMinScore    = 0.5 // an impossible_travel anomaly this strong counts
	corroborateFails  = 3   // failed sign-ins before the subject that corroborate travel
	stuffingFails     = 5   // a failure burst this large, then a success: credential stuffing
	sharedNetworkUser = 3   // other users on the same IP in 7 days: a shared network (office egress, VPN)
	lowRiskMaxScore   = 0.6 // unusual_time / new_device below this are routine
	mfaDeniedFatigue  = 3   // denied MFA pushes that make a sign-in suspicious
)

// signals are the numbers the deterministic rules read. Nothing here is
// event text: scores, speeds, counts and flags the processor or the Okta
// API computed.
type signals struct {
	detSev     string
	score      map[string]float64 // strongest score per anomaly type
	travelFull bool               // an impossible_travel ≥ travelMinScore with no reducer
	travelAny  bool
	speedKmh   float64
	reduced    bool // a travel end is a proxy or mobile carrier egress
	threat     bool // Okta flagged a suspected threat network
	failures   int  // largest failure burst before a subject sign-in
	evidence   []string
	// From the tools; -1 when unknown (the tool failed or its count was
	// incomplete).
	ipUsers   int // other users on the newest subject sign-in's IP in 7 days
	mfaDenied int
}

func (s *signals) has(t string) bool { _, ok := s.score[t]; return ok }

// collectSignals reads the alert's anomalies and the tools' numbers.
func collectSignals(a *Alert, anomalies []Anomaly, prev *prevalence, syslog *systemLog) signals {
	s := signals{detSev: a.detectionSeverity(), score: map[string]float64{}, ipUsers: -1, mfaDenied: -1}
	for _, t := range a.Types {
		if _, ok := s.score[t]; !ok {
			s.score[t] = 0
		}
	}
	seen := map[string]bool{}
	for i := range anomalies {
		an := &anomalies[i]
		sc := an.Score
		if math.IsNaN(sc) {
			sc = 0
		}
		if sc > s.score[an.Type] || !s.has(an.Type) {
			s.score[an.Type] = sc
		}
		ev := &an.Evidence
		s.failures = max(s.failures, ev.FailuresBefore)
		if ev.ThreatSuspected {
			s.threat = true
		}
		if an.Type == typeTravel {
			s.travelAny = true
			s.speedKmh = max(s.speedKmh, ev.SpeedKmh)
			red := len(ev.ReducedBy) > 0
			for _, si := range ev.Signins {
				if si.Proxy || si.Carrier {
					red = true
				}
			}
			if red {
				s.reduced = true
			} else if sc >= travelMinScore {
				s.travelFull = true
			}
		}
		if an.EventUUID != "" && !seen[an.EventUUID] && len(s.evidence) < 20 {
			seen[an.EventUUID] = true
			s.evidence = append(s.evidence, an.EventUUID)
		}
	}
	if prev != nil && prev.Complete {
		for _, v := range prev.IPs {
			s.ipUsers = max(s.ipUsers, v.OtherUsers)
		}
	}
	if syslog != nil {
		s.mfaDenied = syslog.MFAPushDenied
	}
	return s
}

// deterministic triages from numbers only (the rule table in the package
// comment). Its output has the same shape as the agent's.
func deterministic(s signals) (record.Output, string) {
	both := []string{record.KindSuspendUser, record.KindClearSessions}
	out := record.Output{Evidence: s.evidence, RecommendedActions: []string{}}
	if out.Evidence == nil {
		out.Evidence = []string{}
	}
	corroborated := []string{}
	if s.has(typeDevice) {
		corroborated = append(corroborated, "a new device")
	}
	if s.has(typeNetwork) {
		corroborated = append(corroborated, "a new network")
	}
	if s.has(typeProxy) {
		corroborated = append(corroborated, "an anonymizing proxy")
	}
	if s.failures >= corroborateFails {
		corroborated = append(corroborated, fmt.Sprintf("a burst of %d failed sign-ins before it", s.failures))
	}
	only := func(types ...string) bool {
		for t := range s.score {
			if !slices.Contains(types, t) {
				return false
			}
		}
		return len(s.score) > 0
	}
	maxScore := 0.0
	for _, v := range s.score {
		maxScore = max(maxScore, v)
	}
	shared := s.ipUsers >= sharedNetworkUser
	switch {
	case s.travelFull && len(corroborated) > 0:
		out.Disposition, out.Confidence = record.DispositionConfirmedThreat, 0.9
		out.Severity = maxSeverity(s.detSev, record.SeverityHigh)
		out.RecommendedActions = both
		out.Summary = fmt.Sprintf("Impossible travel at %.0f km/h with no proxy or mobile-carrier egress at either end, together with %s.",
			s.speedKmh, strings.Join(corroborated, ", "))
		return out, "R1"
	case s.failures >= stuffingFails && (s.has(typeNetwork) || s.has(typeProxy) || s.threat) && !(s.ipUsers >= sharedNetworkUser):
		out.Disposition, out.Confidence = record.DispositionConfirmedThreat, 0.85
		out.Severity = maxSeverity(s.detSev, record.SeverityHigh)
		out.RecommendedActions = both
		out.Summary = fmt.Sprintf("A successful sign-in after a burst of %d failed sign-ins, from a network new to the user or an anonymizing proxy that no other user of the tenant shares: likely credential stuffing that succeeded.", s.failures)
		return out, "R2"
	case s.travelAny || s.has(typeProxy) || s.threat || s.failures >= corroborateFails || s.mfaDenied >= mfaDeniedFatigue:
		out.Disposition, out.Confidence = record.DispositionSuspicious, 0.6
		out.Severity = s.detSev
		out.RecommendedActions = []string{record.KindClearSessions}
		if s.detSev == record.SeverityCritical {
			// Not confirmed, so never automatic (the responder's gate),
			// but a Critical alert offers the suspend for one click.
			out.RecommendedActions = both
		}
		var why []string
		if s.travelAny {
			w := fmt.Sprintf("impossible travel at %.0f km/h", s.speedKmh)
			if s.reduced {
				w += " with a proxy or mobile-carrier egress at one end (the location may be off)"
			}
			why = append(why, w)
		}
		if s.has(typeProxy) || s.threat {
			why = append(why, "an anonymizing proxy or a network Okta flags as a threat")
		}
		if s.failures >= corroborateFails {
			why = append(why, fmt.Sprintf("%d failed sign-ins before it", s.failures))
		}
		if s.mfaDenied >= mfaDeniedFatigue {
			why = append(why, fmt.Sprintf("%d denied MFA pushes", s.mfaDenied))
		}
		out.Summary = "Suspicious: " + strings.Join(why, "; ") + ". Not enough corroboration to confirm a compromise."
		return out, "R3"
	case shared && s.failures == 0 && only(typeLocation, typeNetwork, typeDevice, typeTime):
		out.Disposition, out.Confidence = record.DispositionBenign, 0.75
		out.Severity = record.SeverityLow
		out.Summary = fmt.Sprintf("The sign-in came from an IP address that %d other users of the tenant signed in from in the last 7 days, with no failed sign-ins before it: a shared network (office egress or VPN).", s.ipUsers)
		return out, "R4"
	case s.failures == 0 && only(typeTime, typeDevice) && maxScore < lowRiskMaxScore:
		out.Disposition, out.Confidence = record.DispositionBenign, 0.8
		out.Severity = record.SeverityLow
		out.Summary = "Only an unusual time or a new device, with a low score, from a known network and no failed sign-ins: routine."
		return out, "R5"
	case s.has(typeLocation) && (s.has(typeNetwork) || s.has(typeDevice)):
		out.Disposition, out.Confidence = record.DispositionSuspicious, 0.55
		out.Severity = s.detSev
		out.Summary = "A sign-in from a place far from the user's history, on a new network or device: could be travel, needs a look."
		return out, "R6"
	case record.SeverityRank(s.detSev) <= record.SeverityRank(record.SeverityLow) && maxScore < 0.5:
		out.Disposition, out.Confidence = record.DispositionBenign, 0.6
		out.Severity = record.SeverityLow
		out.Summary = "Low-severity anomalies with low scores and nothing corroborating them."
		return out, "R7"
	}
	out.Disposition, out.Confidence = record.DispositionSuspicious, 0.5
	out.Severity = s.detSev
	out.Summary = "Anomalies without a pattern the rules recognise; left for an analyst."
	return out, "R8"
}

func maxSeverity(a, b string) string {
	if record.SeverityRank(a) >= record.SeverityRank(b) {
		return a
	}
	return b
}
