package detect

import (
	"crypto/sha256"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/clarion-itdr/clarion/okta/logevent"
)

// group folds res.Anomalies into the user's open alert (or opens one) and
// sets res.Alert and each anomaly's AlertID.
func (e *Engine) group(integ, userKey string, u *User, res *Result) {
	win := e.p.AlertWindow.Milliseconds()
	for i := range res.Anomalies {
		a := &res.Anomalies[i]
		t := a.t
		al := &u.Alert
		if !u.HasAlert || !u.Life.reopenable() || t-al.Last > win || al.First-t > win {
			*al = openAlert{First: t, Last: t}
			u.Life = alertLife{}
			h := sha256.Sum256([]byte(dedupKey(integ, userKey, a.ID)))
			copy(al.ID[:], h[:16])
			u.HasAlert = true
		}
		if t < al.First {
			al.First = t
		}
		if t > al.Last {
			al.Last = t
		}
		typ := a.typ
		al.Types |= 1 << typ
		if q := uint8(math.Round(a.Score * 255)); q > al.scoreOf(typ) {
			al.setScore(typ, q)
		}
		if f := a.Evidence.FailuresBefore; f > int(al.Failures) {
			al.Failures = uint16(min(f, math.MaxUint16))
		}
		if int(al.NAn) < maxAlertAn {
			al.Anomalies[al.NAn] = anRef{ID: a.idb, Type: typ}
		}
		if al.NAn < math.MaxUint16 {
			al.NAn++
		}
		a.AlertID = hex16(al.ID)
	}
	u.Life.joined()
	u.Alert.Version++
	res.alert = e.alertView(integ, userKey, u, res.Anomalies[len(res.Anomalies)-1].Sentence)
	res.Alert = &res.alert
}

func dedupKey(integ, userKey, firstAnomaly string) string {
	return "clarion/" + integ + "/" + userKey + "/" + firstAnomaly
}

func typeIndex(s string) uint8 {
	for i, n := range typeNames {
		if n == s {
			return uint8(i)
		}
	}
	return 0
}

// scores are kept per type in the alert, quantised to a byte, inside Points' bits.
func (a *openAlert) scoreOf(t uint8) uint8 { return a.Scores[t] }
func (a *openAlert) setScore(t, q uint8)   { a.Scores[t] = q }

// severityOf combines the strongest anomaly of each type and a failure burst.
func severityOf(a *openAlert) (string, float64) {
	var pts float64
	n := 0
	for t := uint8(0); t < nTypes; t++ {
		if a.Types&(1<<t) != 0 {
			pts += typeWeight[t] * float64(a.Scores[t]) / 255
			n++
		}
	}
	if a.Failures > 0 {
		pts += 1
	}
	switch {
	case pts >= 4.5:
		return SeverityCritical, pts
	case pts >= 2.5:
		return SeverityHigh, pts
	case pts >= 1.2:
		return SeverityMedium, pts
	}
	return SeverityLow, pts
}

func (e *Engine) alertView(integ, userKey string, u *User, latest string) Alert {
	al := &u.Alert
	sev, _ := severityOf(al)
	out := Alert{
		ID:             hex16(al.ID),
		IntegrationID:  integ,
		User:           UserRef{ID: userKey, Login: u.Login},
		Status:         StatusNew,
		Disposition:    DispositionUnknown,
		Severity:       sev,
		ActionRequired: ActionNone,
		AnomalyCount:   int(al.NAn),
		FirstSeen:      fmtMs(al.First),
		LastSeen:       fmtMs(al.Last),
		Version:        al.Version,
	}
	u.Life.setView(&out)
	n := min(int(al.NAn), maxAlertAn)
	if n > 0 {
		out.DedupKey = dedupKey(integ, userKey, hex16(al.Anomalies[0].ID))
	}
	for i := 0; i < n; i++ {
		out.Anomalies = append(out.Anomalies, AnomalyRef{ID: hex16(al.Anomalies[i].ID), Type: typeNames[al.Anomalies[i].Type]})
	}
	var names []string
	for t := uint8(0); t < nTypes; t++ {
		if al.Types&(1<<t) != 0 {
			out.Types = append(out.Types, typeNames[t])
			names = append(names, strings.ReplaceAll(typeNames[t], "_", " "))
		}
	}
	who := u.Login
	if who == "" {
		who = userKey
	}
	s := fmt.Sprintf("%s for %s (%d anomal%s", capital(strings.Join(names, ", ")), who, al.NAn, plural(int(al.NAn), "y", "ies"))
	if al.Failures > 0 {
		s += fmt.Sprintf(", after a burst of %d failed sign-ins", al.Failures)
	}
	out.Summary = s + ")."
	if latest != "" {
		out.Summary = s + "). Latest: " + latest
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func parseMs(s string) int64 {
	t, err := time.Parse("2006-01-02T15:04:05.000Z07:00", s)
	if err != nil {
		return 0
	}
	return t.UnixMilli()
}

func who(u *User, ev *logevent.Event) string {
	if u.Login != "" {
		return u.Login
	}
	return ev.UserKey()
}

func placeName(p Place) string {
	parts := make([]string, 0, 3)
	for _, s := range []string{p.City, p.State, p.Country} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "an unnamed place"
	}
	return strings.Join(parts, ", ")
}

func fmtDur(h float64) string {
	m := h * 60
	switch {
	case m < 1:
		return "under a minute"
	case m < 120:
		return fmt.Sprintf("%.0f min", m)
	}
	return fmt.Sprintf("%.1f h", h)
}

func sentenceTravel(u *User, ev *logevent.Event, a, b *Signin, c travelCand) string {
	s := fmt.Sprintf("%s signed in from %s %s after signing in from %s, %.0f km away: %.0f km/h, faster than any flight",
		who(u, ev), placeName(b.ctx().Place), fmtDur(c.dt), placeName(a.ctx().Place), c.d, c.speed)
	if len(c.reducers) > 0 {
		s += " (one end is a " + strings.ReplaceAll(strings.Join(c.reducers, "/"), "_", " ") + " egress, so the location may be off)"
	}
	return s + "."
}

func sentenceLocation(u *User, ev *logevent.Event, s *Signin, km float64, nearest string, days float64) string {
	out := fmt.Sprintf("%s signed in from %s, %.0f km from every place in %.0f days of history", who(u, ev), placeName(s.ctx().Place), km, days)
	if nearest != "" {
		out += " (nearest: " + nearest + ")"
	}
	return out + "."
}

func sentenceTime(u *User, ev *logevent.Event, lt time.Time, loc *time.Location, total int, w *whereabouts) string {
	where := "local time"
	switch w.zoneFrom {
	case ZoneRecent:
		where = "local time where they last signed in from a known city"
	case ZoneHome:
		where = "their home time"
	}
	out := fmt.Sprintf("%s signed in at %s on a %s, %s (%s): none of their %d recent sign-ins fall within two hours of that time on that kind of day",
		who(u, ev), lt.Format("15:04"), lt.Weekday(), where, loc.String(), total)
	if w.egress != "" {
		out += " (through the tenant's " + w.egress + " egress in " + placeName(ev2Place(ev)) + ", which says nothing about where they are)"
	}
	return out + "."
}

func ev2Place(ev *logevent.Event) Place {
	return Place{City: ev.City, State: ev.State, Country: ev.Country}
}

func sentenceCountry(u *User, ev *logevent.Event, s *Signin, days float64) string {
	return fmt.Sprintf("%s signed in from %s (placed only in the country, at its default point), a country not in %.0f days of history.",
		who(u, ev), orUnknown(s.ctx().Country), days)
}

func sentenceDevice(u *User, ev *logevent.Event, s *Signin) string {
	a := s.ctx().Agent
	return fmt.Sprintf("%s signed in from a device not seen before: %s on %s (%s).", who(u, ev), orUnknown(a.Browser), orUnknown(a.OS), orUnknown(a.Device))
}

func sentenceNetwork(u *User, ev *logevent.Event, s *Signin) string {
	return fmt.Sprintf("%s signed in from network AS%d (%s), never seen for this user.", who(u, ev), s.ASN, orUnknown(s.ctx().ISP))
}

func sentenceProxy(u *User, ev *logevent.Event) string {
	why := "an anonymizing proxy"
	if ev.ThreatSuspected && !ev.IsProxy {
		why = "a network Okta flags as a suspected threat"
	}
	return fmt.Sprintf("%s signed in through %s from IP %s.", who(u, ev), why, orUnknown(ev.IP))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
