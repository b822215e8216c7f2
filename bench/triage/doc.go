// Package triage benchmarks the triage agent's overhead outside the LLM:
// per alert, the four read-only tools against a simulated Okta org over
// real HTTP (OAuth with DPoP, System Log filters, Users API), the
// deterministic rules and the policy gate. The target is p99
// under 50 ms per alert.
//
//	go test -run '^$' -bench . -benchtime 400x ./bench/triage/
package triage
