package triage

import (
	"fmt"
	"slices"

	"github.com/clarion-itdr/clarion/internal/record"
)

// gateResult is the verdict after the triage policy gate.
type gateResult struct {
	Final record.Output
	// Held: the gate held back the agent's closing verdict (status
	// Escalated, action_required clarification).
	Held bool
	Why  string
	// Kinds are the actions proposed, in order.
	Kinds []string
}

// gate applies the triage policy gate (ISSUE6 §policy gate 1):
//
//   - agent == nil (no LLM, or fallback): the deterministic verdict stands.
//   - The agent may close (Benign, False Positive, Duplicated) only an
//     alert whose detection severity is Low or Medium and whose
//     deterministic disposition is neither Suspicious nor Confirmed
//     Threat: the model can raise what the rules found, never lower it.
//     Otherwise its closing verdict is held back: the final disposition
//     is the deterministic one when that escalates, else Suspicious, and
//     the alert waits for an analyst's clarification.
//   - The agent may escalate anything.
//   - Proposals: the kinds the final output recommends when the final
//     disposition is Suspicious or Confirmed Threat, and always both
//     kinds when the deterministic disposition is Confirmed Threat,
//     whatever the agent said.
//
// Nothing here reads text: only dispositions, severities and action kinds.
func gate(det record.Output, agent *record.Output, detSev string) gateResult {
	var g gateResult
	switch {
	case agent == nil:
		g.Final = det
	case record.Closing(agent.Disposition) &&
		(record.SeverityRank(detSev) >= record.SeverityRank(record.SeverityHigh) || escalates(det.Disposition)):
		g.Held = true
		g.Final = det
		if record.Closing(det.Disposition) {
			g.Final.Disposition = record.DispositionSuspicious
			g.Final.RecommendedActions = []string{}
		}
		g.Final.Severity = maxSeverity(maxSeverity(agent.Severity, det.Severity), detSev)
		g.Final.Summary = fmt.Sprintf("Policy gate: the agent's %q verdict was held back for an analyst (detection severity %s, deterministic triage %s). %s",
			agent.Disposition, detSev, det.Disposition, det.Summary)
		if len(g.Final.Summary) > maxSummary {
			g.Final.Summary = clip(g.Final.Summary, maxSummary)
		}
		g.Why = fmt.Sprintf("agent verdict %s held back: only alerts with detection severity Low or Medium and a deterministic disposition other than Suspicious or Confirmed Threat may be closed by the agent (detection severity %s, deterministic %s)",
			agent.Disposition, detSev, det.Disposition)
	default:
		g.Final = *agent
	}
	if g.Final.Disposition == record.DispositionSuspicious || g.Final.Disposition == record.DispositionConfirmedThreat {
		for _, k := range g.Final.RecommendedActions {
			if (k == record.KindSuspendUser || k == record.KindClearSessions) && !slices.Contains(g.Kinds, k) {
				g.Kinds = append(g.Kinds, k)
			}
		}
	}
	if det.Disposition == record.DispositionConfirmedThreat {
		for _, k := range []string{record.KindSuspendUser, record.KindClearSessions} {
			if !slices.Contains(g.Kinds, k) {
				g.Kinds = append(g.Kinds, k)
			}
		}
	}
	// Stable order regardless of who recommended what.
	slices.SortFunc(g.Kinds, func(a, b string) int {
		return kindOrder(a) - kindOrder(b)
	})
	return g
}

func kindOrder(k string) int {
	if k == record.KindSuspendUser {
		return 0
	}
	return 1
}

// escalates reports whether a deterministic disposition is Suspicious or
// worse: the agent may not close such an alert.
func escalates(d string) bool {
	return d == record.DispositionSuspicious || d == record.DispositionConfirmedThreat
}

// proposalReason is what an approver reads on a proposed action: the
// deterministic basis (rule summary, dispositions, detection severity,
// all from numbers Clarion computed), then, when the model decided, the
// model's summary as the model's, quoted and clipped. Event text reaches
// the reason only inside that quotation.
func proposalReason(det record.Output, final record.Output, detSev, by string) string {
	r := fmt.Sprintf("Deterministic triage: %s (disposition %s, detection severity %s). Verdict: %s by %s.",
		det.Summary, det.Disposition, detSev, final.Disposition, by)
	if by == "llm" && final.Summary != "" {
		r += fmt.Sprintf(" The model's summary (its words, not Clarion's): %q", clip(final.Summary, 300))
	}
	return clip(r, 1000)
}
