package bus

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Components returns the names of the components that have a Kafka
// principal of their own in a scaled deployment (PrincipalFor names it).
func Components() []string {
	return []string{"gateway", "poller", "processor", "sink", "triage", "responder", "console"}
}

// PrincipalFor returns the SASL user of component: "clarion-<component>".
func PrincipalFor(component string) string { return "clarion-" + component }

// Resource kinds of an ACL.
const (
	ResTopic = "topic"
	ResGroup = "group"
	ResTxnID = "transactional-id"
)

// ACL is one line of the least-privilege table: the operations a component
// may do on one resource (a literal topic name, or a prefix for groups and
// transactional ids, which carry a per-replica suffix).
type ACL struct {
	Component string
	Resource  string // ResTopic, ResGroup or ResTxnID
	Name      string
	Prefixed  bool
	Ops       []string // READ, WRITE, DESCRIBE
}

// ACLs returns the ACLs of every component (docs/kafka.md prints the same
// table). What it encodes:
//   - only the gateway and the poller write raw events, plus the console
//     and triage, which send alert updates (verdicts, feedback) through the
//     processor's input so they apply in order with the user's events;
//   - only the processor writes anomalies, alerts and its changelog;
//   - only the console (which serves the API) and triage (proposals)
//     write responder requests; only the responder writes actions;
//   - every component may DESCRIBE Clarion's topics (to see they exist)
//     and read the integration registry.
func ACLs() []ACL {
	rw := []string{"READ", "WRITE"}
	r, w := []string{"READ"}, []string{"WRITE"}
	txn := []string{"WRITE", "DESCRIBE"}
	var out []ACL
	add := func(c, res, name string, prefixed bool, ops []string) {
		out = append(out, ACL{Component: c, Resource: res, Name: name, Prefixed: prefixed, Ops: ops})
	}
	for _, c := range Components() {
		add(c, ResTopic, "clarion.", true, []string{"DESCRIBE"})
		add(c, ResTopic, TopicIntegrations, false, r)
	}
	add("gateway", ResTopic, TopicEvents, false, w)
	add("gateway", ResTopic, TopicIntegrations, false, w) // hook verified / last delivery

	add("poller", ResTopic, TopicEvents, false, w)
	add("poller", ResTopic, TopicPollerCursors, false, rw)
	add("poller", ResTxnID, "clarion-poller", true, txn)

	add("processor", ResTopic, TopicEvents, false, r)
	add("processor", ResTopic, TopicChangelog, false, rw)
	add("processor", ResTopic, TopicAnomalies, false, w)
	add("processor", ResTopic, TopicAlerts, false, w)
	add("processor", ResTopic, TopicDeadLetter, false, w)
	add("processor", ResGroup, "clarion-processor", true, r)
	add("processor", ResTxnID, "clarion-processor", true, txn)

	for _, t := range []string{TopicEvents, TopicAnomalies, TopicAlerts, TopicActions, TopicTriage} {
		add("sink", ResTopic, t, false, r)
	}
	add("sink", ResTopic, TopicDeadLetter, false, w)
	add("sink", ResGroup, "clarion-sink", true, r)

	add("triage", ResTopic, TopicAnomalies, false, r)
	add("triage", ResTopic, TopicAlerts, false, r)
	add("triage", ResTopic, TopicTriage, false, w)
	add("triage", ResTopic, TopicResponderRequests, false, w) // proposals
	add("triage", ResTopic, TopicEvents, false, w)            // verdicts as alert updates
	add("triage", ResGroup, "clarion-triage", true, r)

	add("responder", ResTopic, TopicResponderRequests, false, r)
	add("responder", ResTopic, TopicActions, false, rw)
	add("responder", ResGroup, "clarion-responder", true, r)
	add("responder", ResTxnID, "clarion-responder", true, txn)

	for _, t := range []string{TopicAlerts, TopicAnomalies, TopicTriage, TopicActions} {
		add("console", ResTopic, t, false, r)
	}
	add("console", ResTopic, TopicIntegrations, false, w)      // the wizard
	add("console", ResTopic, TopicResponderRequests, false, w) // approvals, analysts' proposals
	add("console", ResTopic, TopicEvents, false, w)            // analyst feedback as alert updates
	return out
}

// ACLTable renders ACLs as a Markdown table, one row per component and
// resource.
func ACLTable(acls []ACL) string {
	var b strings.Builder
	b.WriteString("| component (principal) | resource | name | operations |\n|---|---|---|---|\n")
	for _, a := range acls {
		name := "`" + a.Name + "`"
		if a.Prefixed {
			name = "`" + a.Name + "*` (prefix)"
		}
		fmt.Fprintf(&b, "| %s (`User:%s`) | %s | %s | %s |\n", a.Component, PrincipalFor(a.Component), a.Resource, name, strings.Join(a.Ops, ", "))
	}
	return b.String()
}

// ApplyACLs creates acls for the principals User:<principal(component)>
// through adm (a super user's client). Creating an ACL that exists is a
// no-op in Kafka, so applying twice is harmless.
func ApplyACLs(ctx context.Context, adm *kadm.Client, acls []ACL, principal func(component string) string) error {
	if principal == nil {
		principal = PrincipalFor
	}
	for _, a := range acls {
		b := kadm.NewACLs().Allow("User:" + principal(a.Component)).AllowHosts("*")
		switch a.Resource {
		case ResTopic:
			b = b.Topics(a.Name)
		case ResGroup:
			b = b.Groups(a.Name)
		case ResTxnID:
			b = b.TransactionalIDs(a.Name)
		default:
			return fmt.Errorf("bus: acl resource %q", a.Resource)
		}
		pat := kmsg.ACLResourcePatternTypeLiteral
		if a.Prefixed {
			pat = kmsg.ACLResourcePatternTypePrefixed
		}
		ops := make([]kadm.ACLOperation, 0, len(a.Ops))
		for _, o := range a.Ops {
			op, err := kmsg.ParseACLOperation(strings.ToLower(o))
			if err != nil {
				return fmt.Errorf("bus: acl operation %q: %w", o, err)
			}
			ops = append(ops, op)
		}
		b = b.ResourcePatternType(pat).Operations(ops...)
		res, err := adm.CreateACLs(ctx, b)
		if err != nil {
			return fmt.Errorf("bus: create acls for %s: %w", a.Component, err)
		}
		for _, r := range res {
			if r.Err != nil {
				return fmt.Errorf("bus: create acl %s %s %s for %s: %w", a.Resource, a.Name, r.Operation, a.Component, r.Err)
			}
		}
	}
	return nil
}

// ComponentTopics returns, per component, the topics it may write: what
// tests check against the table.
func ComponentTopics(acls []ACL, op string) map[string][]string {
	out := map[string][]string{}
	for _, a := range acls {
		if a.Resource != ResTopic || a.Prefixed {
			continue
		}
		for _, o := range a.Ops {
			if o == op {
				out[a.Component] = append(out[a.Component], a.Name)
			}
		}
	}
	for _, ts := range out {
		sort.Strings(ts)
	}
	return out
}
