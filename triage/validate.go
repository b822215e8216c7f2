package triage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/clarion-itdr/clarion/internal/record"
)

// Limits of a valid agent output.
const (
	maxSummary      = 2000
	maxEvidence     = 50
	maxOutputBytes  = 64 << 10
	maxAnswerPrefix = 4096 // text a model may put before the JSON object
)

// ErrInvalidOutput wraps every reason an agent's answer is rejected.
var ErrInvalidOutput = errors.New("triage: invalid agent output")

// ParseOutput reads an agent's final answer: one JSON object matching
// record.Output, optionally inside a ``` fence or after a short preamble,
// and validates it (see ValidateOutput). known holds the event uuids the
// agent may cite. Dispositions and severities are matched
// case-insensitively and returned in their canonical spelling.
func ParseOutput(text string, known map[string]bool) (record.Output, error) {
	var out record.Output
	if len(text) > maxOutputBytes {
		return out, fmt.Errorf("%w: answer is %d bytes, more than %d", ErrInvalidOutput, len(text), maxOutputBytes)
	}
	s := strings.TrimSpace(text)
	i := strings.IndexByte(s, '{')
	if i < 0 {
		return out, fmt.Errorf("%w: no JSON object in the answer", ErrInvalidOutput)
	}
	if i > maxAnswerPrefix {
		return out, fmt.Errorf("%w: the JSON object starts after %d bytes of text", ErrInvalidOutput, i)
	}
	dec := json.NewDecoder(strings.NewReader(s[i:]))
	var raw struct {
		Disposition        *string  `json:"disposition"`
		Severity           *string  `json:"severity"`
		Confidence         *float64 `json:"confidence"`
		Summary            *string  `json:"summary"`
		Evidence           []string `json:"evidence"`
		RecommendedActions []string `json:"recommended_actions"`
	}
	if err := dec.Decode(&raw); err != nil {
		return out, fmt.Errorf("%w: %v", ErrInvalidOutput, err)
	}
	rest := strings.TrimSpace(s[i+int(dec.InputOffset()):])
	rest = strings.TrimSpace(strings.TrimPrefix(rest, "```"))
	if rest != "" {
		return out, fmt.Errorf("%w: text after the JSON object", ErrInvalidOutput)
	}
	if raw.Disposition == nil || raw.Severity == nil || raw.Confidence == nil || raw.Summary == nil {
		return out, fmt.Errorf("%w: disposition, severity, confidence and summary are required", ErrInvalidOutput)
	}
	out = record.Output{
		Disposition: canonical(*raw.Disposition, record.Dispositions()),
		Severity:    canonical(*raw.Severity, record.Severities()),
		Confidence:  *raw.Confidence, Summary: *raw.Summary,
		Evidence: raw.Evidence, RecommendedActions: raw.RecommendedActions,
	}
	if out.Evidence == nil {
		out.Evidence = []string{}
	}
	if out.RecommendedActions == nil {
		out.RecommendedActions = []string{}
	}
	if err := ValidateOutput(&out, known); err != nil {
		return record.Output{}, err
	}
	return out, nil
}

func canonical(s string, set []string) string {
	for _, x := range set {
		if strings.EqualFold(strings.TrimSpace(s), x) {
			return x
		}
	}
	return s
}

// ValidateOutput checks o against the output schema: a known disposition
// and severity, confidence in [0, 1], a non-empty summary of at most 2000
// characters, evidence citing only uuids in known (at most 50), and
// recommended actions only suspend_user and clear_sessions (none for a
// closing disposition). Duplicate evidence and actions are removed.
func ValidateOutput(o *record.Output, known map[string]bool) error {
	if !record.ValidDisposition(o.Disposition) {
		return fmt.Errorf("%w: unknown disposition %q (want one of %s)", ErrInvalidOutput, clip(o.Disposition, 40), strings.Join(record.Dispositions(), ", "))
	}
	if record.SeverityRank(o.Severity) == 0 {
		return fmt.Errorf("%w: unknown severity %q (want one of %s)", ErrInvalidOutput, clip(o.Severity, 40), strings.Join(record.Severities(), ", "))
	}
	if math.IsNaN(o.Confidence) || o.Confidence < 0 || o.Confidence > 1 {
		return fmt.Errorf("%w: confidence %v is not between 0 and 1", ErrInvalidOutput, o.Confidence)
	}
	if strings.TrimSpace(o.Summary) == "" {
		return fmt.Errorf("%w: empty summary", ErrInvalidOutput)
	}
	if !utf8.ValidString(o.Summary) {
		return fmt.Errorf("%w: summary is not UTF-8", ErrInvalidOutput)
	}
	if utf8.RuneCountInString(o.Summary) > maxSummary {
		return fmt.Errorf("%w: summary longer than %d characters", ErrInvalidOutput, maxSummary)
	}
	if len(o.Evidence) > maxEvidence {
		return fmt.Errorf("%w: %d evidence uuids, at most %d", ErrInvalidOutput, len(o.Evidence), maxEvidence)
	}
	ev := o.Evidence[:0:0]
	seen := map[string]bool{}
	for _, u := range o.Evidence {
		if !known[u] {
			return fmt.Errorf("%w: evidence %q is not the uuid of an event in the alert or the tool outputs", ErrInvalidOutput, clip(u, 60))
		}
		if !seen[u] {
			seen[u] = true
			ev = append(ev, u)
		}
	}
	o.Evidence = ev
	acts := []string{}
	for _, a := range o.RecommendedActions {
		if a != record.KindSuspendUser && a != record.KindClearSessions {
			return fmt.Errorf("%w: unknown recommended action %q (want suspend_user or clear_sessions)", ErrInvalidOutput, clip(a, 40))
		}
		if !contains(acts, a) {
			acts = append(acts, a)
		}
	}
	if record.Closing(o.Disposition) && len(acts) > 0 {
		return fmt.Errorf("%w: recommended actions with the closing disposition %q", ErrInvalidOutput, o.Disposition)
	}
	o.RecommendedActions = acts
	return nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// clip shortens s to n bytes (on a rune boundary) for error messages.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// quoteData renders v as JSON that cannot break out of an
// <untrusted-data> block: encoding/json escapes <, > and & (so no
// "</untrusted-data>" or role marker survives), newlines and control
// characters inside strings, and invalid UTF-8.
func quoteData(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(v); err != nil {
		return `{"error":"unencodable data"}`
	}
	return strings.TrimSpace(b.String())
}

// dataBlock wraps already-quoted JSON in the delimiters the system prompt
// names. id is chosen by triage, never by data or the model.
func dataBlock(id, quoted string) string {
	return "<untrusted-data id=\"" + id + "\">\n" + quoted + "\n</untrusted-data>"
}
