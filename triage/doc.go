// Package triage is Clarion's alert triage agent. It consumes
// clarion.alerts (consumer group "clarion-triage", read_committed), and for
// every alert version whose status is New:
//
//  1. sends an "analyzing" update to the processor (record.Update on
//     clarion.okta.events, header source=clarion);
//  2. runs the deterministic triage: the four read-only tools against the
//     integration's Okta org, then the rule table below, from numbers only;
//  3. when an LLM is configured, runs the agent: a langchaingo
//     tool-calling loop bounded by steps, tokens and time, with retries of
//     transient errors; its final answer must be JSON matching
//     record.Output and pass ValidateOutput (one repair attempt, then the
//     deterministic verdict stands and TriageRun.Fallback says why);
//  4. applies the triage policy gate (see gate): the agent may close only
//     Low/Medium alerts whose deterministic disposition is neither
//     Suspicious nor Confirmed Threat; otherwise its closing verdict is
//     held back (Escalated, action_required=clarification);
//  5. produces the record.TriageRun on clarion.triage, then the verdict
//     update, then record.Request proposals on clarion.responder.requests
//     (the kinds the final output recommends when it is Suspicious or
//     Confirmed Threat, and always both kinds when the deterministic
//     disposition is Confirmed Threat). Each proposal's Basis carries the
//     detection severity and the deterministic disposition, the only
//     inputs the responder lets make an action automatic; its Reason is
//     the deterministic basis, with the model's summary quoted as the
//     model's (proposalReason). Everything triage writes is signed
//     (record.SignerTriage); it reads only alerts and anomalies signed by
//     the processor.
//
// The anomalies an alert lists are read from clarion.anomalies into a
// bounded in-memory index (they are committed in the same processor
// transaction as the alert but read by another consumer, so an alert may
// wait up to Config.AnomalyWait for them). Offsets are committed after an
// alert's records are produced: at least once, with deterministic run and
// action ids, so a replay repeats the same ids.
//
// # Untrusted data
//
// Everything in an Okta event or profile can be written by an attacker.
// The system prompt says so; the alert and every tool output enter the
// conversation only inside <untrusted-data id=...> blocks whose content is
// JSON with <, > and & escaped, so data cannot close its block or forge a
// role. The tools only read (recent_signins, user_profile,
// user_system_log, tenant_prevalence); a tool name the model invents gets
// an error result and nothing runs, and so do arguments outside a tool's
// declared schema (ErrToolArguments, counted). tenant_prevalence answers only for
// the alert's own IPs, ASNs and cities. Nothing the model says can make an
// action automatic: Basis.Deterministic comes from the rules below.
//
// # Deterministic rules
//
// Inputs are numbers: anomaly types and scores, travel speed, the
// proxy/mobile-carrier reducers, Okta's threat flag, failed sign-ins
// before the subject sign-in, the number of other users who signed in
// from the subject IP in the last 7 days (tenant_prevalence; unknown if
// the tool failed or the count was incomplete) and denied MFA pushes
// (user_system_log). The first matching rule decides:
//
//	rule  condition                                                        disposition       severity            actions
//	R1    impossible_travel with score ≥ 0.5 and no reducer, plus a new      Confirmed Threat  max(detection, High) suspend_user, clear_sessions
//	      device, a new network, an anonymizing proxy or ≥ 3 failures
//	R2    ≥ 5 failures before a success from a new network, a proxy or a    Confirmed Threat  max(detection, High) suspend_user, clear_sessions
//	      flagged network, and fewer than 3 other users on that IP
//	R3    any impossible_travel, proxy/threat network, ≥ 3 failures, or     Suspicious        detection           clear_sessions (and
//	      ≥ 3 denied MFA pushes                                                                                  suspend_user when Critical)
//	R4    ≥ 3 other users on the IP in 7 days, no failures, only location/  Benign            Low                 —
//	      network/device/time anomalies (a shared office or VPN egress)
//	R5    only unusual_time / new_device, every score < 0.6, no failures    Benign            Low                 —
//	R6    unusual_location with a new network or device                     Suspicious        detection           —
//	R7    detection severity Low and every score < 0.5                      Benign            Low                 —
//	R8    anything else                                                     Suspicious        detection           —
package triage
