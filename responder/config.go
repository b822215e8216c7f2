package responder

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta"
)

// DefaultGroup is the consumer group responders join.
const DefaultGroup = "clarion-responder"

// DefaultProtectedGroup is the Okta group whose members are never acted on
// automatically unless Config.ProtectedGroups says otherwise.
const DefaultProtectedGroup = "Okta Administrators"

// OktaClients hands out the Okta client of an integration.
// *integration.Clients implements it; tests pass clients built against the
// simulated org.
type OktaClients interface {
	Client(integrationID string) (*okta.Client, error)
}

// Config configures a Responder. Zero values take the documented defaults.
type Config struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Okta gives the Okta client of an integration. Required.
	Okta OktaClients
	// Group is the consumer group of clarion.responder.requests.
	// Default DefaultGroup.
	Group string
	// TransactionalID identifies this instance's transactional producer:
	// unique per running instance and stable across its restarts, so a
	// restarted instance fences its predecessor. Default Group + "-" +
	// the host name.
	TransactionalID string

	// Policy gives each kind a mode per detection severity. Nil:
	// DefaultPolicy(). A kind or severity missing from a non-nil policy is
	// off.
	Policy Policy
	// ProtectedUsers are Okta user ids or logins (compared without regard
	// to case) never acted on automatically: their actions wait for an
	// analyst's approval. Default none.
	ProtectedUsers []string
	// ProtectedGroups are Okta group names (compared without regard to
	// case) whose members are never acted on automatically. Nil:
	// [DefaultProtectedGroup]; an empty non-nil slice protects no group.
	ProtectedGroups []string
	// MaxAutoPerHour caps automatic executions per integration in any
	// sliding hour; past it, automatic actions wait for approval
	// (guard hourly_cap). The count covers the request partitions this
	// instance owns (see the package comment about replicas). Default 10;
	// negative: no automatic execution at all.
	MaxAutoPerHour int
	// ApprovalTimeout is how long an action waits for approve/reject
	// before it expires. Default 1 h.
	ApprovalTimeout time.Duration
	// DryRun decides and records every action but never changes anything
	// in Okta: actions the policy would run end in state dry_run.
	DryRun bool

	// Attempts bounds executions of one action (the first try and its
	// retries) when Okta fails in a retriable way (okta.IsRetriable), on
	// top of the Okta client's own per-call retries. Default 3.
	Attempts int
	// RetryBackoff is the wait before the second attempt; it doubles per
	// attempt up to 30 s. Default 2 s.
	RetryBackoff time.Duration
	// CallTimeout bounds one attempt (the user read, the change, the read
	// after). Default 60 s.
	CallTimeout time.Duration
	// GroupTimeout bounds the protected-group lookup of a proposal.
	// Default 10 s. A lookup that fails keeps the action from running
	// automatically (guard protected_group_unchecked).
	GroupTimeout time.Duration
	// Concurrency bounds actions executing at once. Default 8.
	Concurrency int
	// MaxPollRecords bounds the requests in one transaction. Default 500.
	MaxPollRecords int
	// RestoreTimeout bounds the restore of assigned partitions' actions
	// from clarion.actions. Default 2 min.
	RestoreTimeout time.Duration

	// Signer signs what the responder writes (clarion.actions, its
	// action_required updates) as record.SignerResponder. Required.
	Signer *record.Signer
	// Verifier checks the signatures of what the responder reads:
	// proposals (triage or the API), approvals and rejections (the API
	// only), alerts (the processor only) and its own actions on restore.
	// Required (docs/trust.md).
	Verifier *record.Verifier
	// AlertWait bounds the wait, when a proposal names an alert the
	// responder has not read yet, for clarion.alerts to be read up to its
	// end; past it the session restarts and the proposal is read again.
	// Default 30 s.
	AlertWait time.Duration
	// MaxAlerts bounds the alerts the responder remembers (subject and
	// detection severity); the oldest are forgotten first and a proposal
	// for a forgotten alert is refused (unknown_alert). Default 1,000,000.
	MaxAlerts int

	// Logger receives operational logs. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the responder's metrics; nil means none.
	Registerer prometheus.Registerer
	// ClientOpts are extra franz-go options (TLS, SASL, ...).
	ClientOpts []kgo.Opt
	// Now is the clock. Default time.Now.
	Now func() time.Time

	// holdAlerts, in tests, keeps the clarion.alerts reader from starting
	// until a catch-up begins (so proposals always race ahead of it).
	holdAlerts bool
}

func (c *Config) defaults() error {
	if len(c.Brokers) == 0 {
		return errors.New("responder: Config.Brokers is required")
	}
	if c.Okta == nil {
		return errors.New("responder: Config.Okta is required")
	}
	if c.AlertWait <= 0 {
		c.AlertWait = 30 * time.Second
	}
	if c.MaxAlerts <= 0 {
		c.MaxAlerts = 1_000_000
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.TransactionalID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "local"
		}
		c.TransactionalID = c.Group + "-" + host
	}
	if c.Policy == nil {
		c.Policy = DefaultPolicy()
	}
	if err := c.Policy.Validate(); err != nil {
		return err
	}
	if c.Signer == nil || c.Verifier == nil {
		return errors.New("responder: Config.Signer and Config.Verifier are required (record.DeriveSigner, record.DeriveVerifier)")
	}
	if c.Signer.Name() != record.SignerResponder {
		return fmt.Errorf("responder: Config.Signer signs as %q, want %q", c.Signer.Name(), record.SignerResponder)
	}
	if c.ProtectedGroups == nil {
		c.ProtectedGroups = []string{DefaultProtectedGroup}
	}
	if c.MaxAutoPerHour == 0 {
		c.MaxAutoPerHour = 10
	}
	if c.MaxAutoPerHour < 0 {
		c.MaxAutoPerHour = 0
	}
	if c.ApprovalTimeout <= 0 {
		c.ApprovalTimeout = time.Hour
	}
	if c.Attempts <= 0 {
		c.Attempts = 3
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 2 * time.Second
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 60 * time.Second
	}
	if c.GroupTimeout <= 0 {
		c.GroupTimeout = 10 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.MaxPollRecords <= 0 {
		c.MaxPollRecords = 500
	}
	if c.RestoreTimeout <= 0 {
		c.RestoreTimeout = 2 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Settings are the operator's responder settings as the CLI takes them
// (clarion responder, clarion run). RegisterFlags adds them to a flag set;
// Config turns them into a Config.
type Settings struct {
	// Policy in ParsePolicy's syntax; empty: DefaultPolicy.
	Policy string
	// ProtectedUsers: Okta user ids or logins.
	ProtectedUsers []string
	// ProtectedGroups: Okta group names.
	ProtectedGroups []string
	// MaxAutoPerHour: see Config.MaxAutoPerHour.
	MaxAutoPerHour int
	// ApprovalTimeout: see Config.ApprovalTimeout.
	ApprovalTimeout time.Duration
	// DryRun: see Config.DryRun.
	DryRun bool
}

// DefaultSettings are the flags' defaults (the documented Config defaults).
func DefaultSettings() Settings {
	return Settings{Policy: DefaultPolicy().String(), ProtectedGroups: []string{DefaultProtectedGroup},
		MaxAutoPerHour: 10, ApprovalTimeout: time.Hour}
}

// IsZero reports whether s is the zero value (nothing set).
func (s Settings) IsZero() bool {
	return s.Policy == "" && s.ProtectedUsers == nil && s.ProtectedGroups == nil && s.MaxAutoPerHour == 0 &&
		s.ApprovalTimeout == 0 && !s.DryRun
}

// RegisterFlags adds --policy, --protected-users, --protected-groups,
// --max-auto-actions-per-hour, --approval-timeout and --dry-run to fs,
// with the defaults of Config.
func (s *Settings) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.Policy, "policy", DefaultPolicy().String(),
		`response policy: kind:Severity=mode,...;kind:... with kinds suspend_user, clear_sessions and modes automatic, approval, off (pairs not named keep the default)`)
	fs.StringSliceVar(&s.ProtectedUsers, "protected-users", nil, "Okta user ids or logins never acted on automatically (break-glass admins)")
	fs.StringSliceVar(&s.ProtectedGroups, "protected-groups", []string{DefaultProtectedGroup}, "Okta groups whose members are never acted on automatically (empty: none)")
	fs.IntVar(&s.MaxAutoPerHour, "max-auto-actions-per-hour", 10, "automatic executions allowed per integration per hour; more wait for approval (0: never automatic)")
	fs.DurationVar(&s.ApprovalTimeout, "approval-timeout", time.Hour, "how long an action waits for approve/reject before it expires")
	fs.BoolVar(&s.DryRun, "dry-run", false, "decide and record actions but never change anything in Okta")
}

// Config builds the responder's Config from s, for brokers and clients.
// It fails with a clear message when the policy does not parse.
func (s Settings) Config(brokers []string, clients OktaClients, log *slog.Logger, reg prometheus.Registerer) (Config, error) {
	p, err := ParsePolicy(s.Policy)
	if err != nil {
		return Config{}, fmt.Errorf("--policy: %w", err)
	}
	groups := []string{}
	for _, g := range s.ProtectedGroups {
		if g = strings.TrimSpace(g); g != "" {
			groups = append(groups, g)
		}
	}
	if s.ProtectedGroups == nil {
		groups = nil // the default
	}
	var users []string
	for _, u := range s.ProtectedUsers {
		if u = strings.TrimSpace(u); u != "" {
			users = append(users, u)
		}
	}
	maxAuto := s.MaxAutoPerHour
	if maxAuto == 0 {
		maxAuto = -1 // an explicit 0 on the command line means none
	}
	return Config{
		Brokers: brokers, Okta: clients, Policy: p,
		ProtectedUsers: users, ProtectedGroups: groups,
		MaxAutoPerHour: maxAuto, ApprovalTimeout: s.ApprovalTimeout, DryRun: s.DryRun,
		Logger: log, Registerer: reg,
	}, nil
}
