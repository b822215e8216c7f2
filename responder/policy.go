package responder

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/clarion-itdr/clarion/internal/record"
)

// Policy gives each action kind a mode per detection severity:
// Policy[kind][severity] is record.ModeAutomatic, record.ModeApproval or
// record.ModeOff. A kind or severity missing from the map is off.
type Policy map[string]map[string]string

// DefaultPolicy is the policy Clarion ships with (ISSUE6.md §policy gate):
//
//	suspend_user:   Critical=approval,  High=approval, Medium=off, Low=off
//	clear_sessions: Critical=automatic, High=approval, Medium=off, Low=off
//
// Suspending a user locks them out, so it always waits for a human by
// default; clearing sessions of a confirmed compromise is cheap to undo
// (the user signs in again) and runs by itself.
func DefaultPolicy() Policy {
	return Policy{
		record.KindSuspendUser: {
			record.SeverityCritical: record.ModeApproval, record.SeverityHigh: record.ModeApproval,
			record.SeverityMedium: record.ModeOff, record.SeverityLow: record.ModeOff,
		},
		record.KindClearSessions: {
			record.SeverityCritical: record.ModeAutomatic, record.SeverityHigh: record.ModeApproval,
			record.SeverityMedium: record.ModeOff, record.SeverityLow: record.ModeOff,
		},
	}
}

// Mode returns the mode for kind at severity (off when not listed).
func (p Policy) Mode(kind, severity string) string {
	if m := p[kind][severity]; m != "" {
		return m
	}
	return record.ModeOff
}

// Clone returns a deep copy of p.
func (p Policy) Clone() Policy {
	out := Policy{}
	for k, sev := range p {
		out[k] = map[string]string{}
		for s, m := range sev {
			out[k][s] = m
		}
	}
	return out
}

// String formats p as ParsePolicy reads it, kinds and severities sorted.
func (p Policy) String() string {
	kinds := make([]string, 0, len(p))
	for k := range p {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var parts []string
	for _, k := range kinds {
		var pairs []string
		for _, s := range record.Severities() {
			if m, ok := p[k][s]; ok {
				pairs = append(pairs, s+"="+m)
			}
		}
		parts = append(parts, k+":"+strings.Join(pairs, ","))
	}
	return strings.Join(parts, ";")
}

// Validate checks every kind, severity and mode of p.
func (p Policy) Validate() error {
	for k, sev := range p {
		if k != record.KindSuspendUser && k != record.KindClearSessions {
			return fmt.Errorf("%w: unknown action kind %q (want %s or %s)", ErrPolicy, k, record.KindSuspendUser, record.KindClearSessions)
		}
		for s, m := range sev {
			if record.SeverityRank(s) == 0 {
				return fmt.Errorf("%w: %s: unknown severity %q (want Critical, High, Medium or Low)", ErrPolicy, k, s)
			}
			if m != record.ModeAutomatic && m != record.ModeApproval && m != record.ModeOff {
				return fmt.Errorf("%w: %s:%s: unknown mode %q (want automatic, approval or off)", ErrPolicy, k, s, m)
			}
		}
	}
	return nil
}

// ErrPolicy is wrapped by every ParsePolicy and Policy.Validate error.
var ErrPolicy = errors.New("responder: invalid policy")

// ParsePolicy reads a policy written as
//
//	suspend_user:Critical=automatic,High=approval;clear_sessions:Critical=automatic
//
// kinds separated by ";", each "kind:" followed by comma-separated
// severity=mode pairs. Kinds, severities and modes are matched without
// regard to case; spaces around separators are ignored. The result starts
// from DefaultPolicy: a pair that is not written keeps its default (write
// Medium=off to be explicit). An empty string is the default policy. A
// pair written twice is an error, so a typo cannot silently win.
func ParsePolicy(s string) (Policy, error) {
	p := DefaultPolicy()
	seen := map[string]bool{}
	for _, seg := range strings.Split(s, ";") {
		seg = strings.TrimSpace(seg)
		if seg == "" {
			continue
		}
		kindS, pairs, ok := strings.Cut(seg, ":")
		if !ok {
			return nil, fmt.Errorf("%w: %q: want kind:Severity=mode,...", ErrPolicy, seg)
		}
		kind := strings.ToLower(strings.TrimSpace(kindS))
		if kind != record.KindSuspendUser && kind != record.KindClearSessions {
			return nil, fmt.Errorf("%w: unknown action kind %q (want %s or %s)", ErrPolicy, strings.TrimSpace(kindS), record.KindSuspendUser, record.KindClearSessions)
		}
		n := 0
		for _, pair := range strings.Split(pairs, ",") {
			pair = strings.TrimSpace(pair)
			if pair == "" {
				continue
			}
			sevS, modeS, ok := strings.Cut(pair, "=")
			if !ok {
				return nil, fmt.Errorf("%w: %s: %q: want Severity=mode", ErrPolicy, kind, pair)
			}
			sev := canonSeverity(strings.TrimSpace(sevS))
			if sev == "" {
				return nil, fmt.Errorf("%w: %s: unknown severity %q (want Critical, High, Medium or Low)", ErrPolicy, kind, strings.TrimSpace(sevS))
			}
			mode := strings.ToLower(strings.TrimSpace(modeS))
			if mode != record.ModeAutomatic && mode != record.ModeApproval && mode != record.ModeOff {
				return nil, fmt.Errorf("%w: %s:%s: unknown mode %q (want automatic, approval or off)", ErrPolicy, kind, sev, strings.TrimSpace(modeS))
			}
			if seen[kind+":"+sev] {
				return nil, fmt.Errorf("%w: %s:%s given twice", ErrPolicy, kind, sev)
			}
			seen[kind+":"+sev] = true
			p[kind][sev] = mode
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: %s: no Severity=mode pairs", ErrPolicy, kind)
		}
	}
	return p, nil
}

func canonSeverity(s string) string {
	for _, x := range record.Severities() {
		if strings.EqualFold(x, s) {
			return x
		}
	}
	return ""
}
