package triage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta"
)

// OktaClients hands out the Okta API client of an integration
// (*integration.Clients implements it; tests hand in clients built against
// okta/sim).
type OktaClients interface {
	Client(integrationID string) (*okta.Client, error)
}

// LLM names the model the agent uses. Provider "" means no LLM: the
// deterministic triage decides alone (the embedded default).
type LLM struct {
	// Provider is "openai" (any OpenAI-compatible endpoint: OpenAI,
	// Ollama, vLLM, ...), "anthropic", or "" for none.
	Provider string
	// BaseURL of the API, e.g. http://127.0.0.1:11434/v1 for Ollama.
	// Default: the provider's public API.
	BaseURL string
	// Model name, e.g. "gpt-4o-mini", "llama3.1", "claude-sonnet-4-5". Required with a provider.
	Model string
	// APIKey for the provider; optional for local OpenAI-compatible
	// servers. Never logged: LLM's String, LogValue and JSON leave it out.
	APIKey string `json:"-"`
}

// String describes l without its API key.
func (l LLM) String() string {
	if l.Provider == "" {
		return "none"
	}
	return fmt.Sprintf("%s model=%s base_url=%s api_key_set=%t", l.Provider, l.Model, l.BaseURL, l.APIKey != "")
}

// GoString is String, so %#v does not print the key either.
func (l LLM) GoString() string { return "triage.LLM{" + l.String() + "}" }

// LogValue logs l without its API key.
func (l LLM) LogValue() slog.Value {
	return slog.GroupValue(slog.String("provider", l.Provider), slog.String("model", l.Model),
		slog.String("base_url", l.BaseURL), slog.Bool("api_key_set", l.APIKey != ""))
}

// Config configures a Triage. Zero values get the defaults named.
type Config struct {
	// Brokers are the Kafka seed brokers. Required by Run.
	Brokers []string
	// KafkaOpts are extra franz-go options for every client (TLS, SASL, ...).
	KafkaOpts []kgo.Opt
	// Signer signs triage's updates and proposals (record.SignerTriage);
	// Verifier checks that alerts and anomalies are the processor's:
	// anything else on clarion.alerts or clarion.anomalies is ignored
	// (docs/trust.md). Both required by Run.
	Signer   *record.Signer
	Verifier *record.Verifier
	// Group is the consumer group on clarion.alerts. Default "clarion-triage".
	Group string
	// Okta gives the Okta client of an alert's integration for the
	// read-only tools. Nil: every tool answers with an error and the
	// triage rests on the anomalies alone.
	Okta OktaClients
	// LLM is the model; zero: deterministic triage only.
	LLM LLM
	// HTTPClient carries LLM requests. Default: a client without an
	// overall timeout (Timeout bounds each run).
	HTTPClient *http.Client
	// MaxSteps bounds model turns per run (a repair attempt counts).
	// Default 6.
	MaxSteps int
	// MaxTokens bounds the tokens (prompt + completion, summed over the
	// run's model calls) per run; a run that uses them up without a valid
	// verdict falls back. Default 4000 (raise it for models that need more
	// than a few tool calls: every call resends the conversation).
	MaxTokens int
	// Timeout bounds one agent run (every model call and tool call).
	// Default 30 s.
	Timeout time.Duration
	// Retries of a model call after a transient error (transport, 429,
	// 5xx). Default 2; negative means none.
	Retries int
	// RetryBackoff is the first retry delay, doubled per retry. Default 500 ms.
	RetryBackoff time.Duration
	// ToolTimeout bounds the deterministic pass's tool calls. Default 10 s.
	ToolTimeout time.Duration
	// MaxToolOutput bounds one tool output in bytes. Default 8192.
	MaxToolOutput int
	// Concurrency is how many users' alerts are triaged at once (one
	// user's alerts are always triaged in order). Default 4.
	Concurrency int
	// AnomalyWait is how long an alert waits for anomalies it lists that
	// have not arrived yet (they are committed with the alert, but read
	// by another consumer). Default 5 s; then triage goes on with what
	// it has. Negative: no wait.
	AnomalyWait time.Duration
	// AnomalyLookback is how far back clarion.anomalies is read at start.
	// Default 72 h.
	AnomalyLookback time.Duration
	// IndexAlerts bounds the alerts whose anomalies are kept in memory
	// (oldest evicted first). Default 20000.
	IndexAlerts int
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Registerer for the metrics; nil: no metrics.
	Registerer prometheus.Registerer
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Group == "" {
		c.Group = "clarion-triage"
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.MaxSteps <= 0 {
		c.MaxSteps = 6
	}
	if c.MaxTokens <= 0 {
		c.MaxTokens = 4000
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Retries == 0 {
		c.Retries = 2
	} else if c.Retries < 0 {
		c.Retries = 0
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 500 * time.Millisecond
	}
	if c.ToolTimeout <= 0 {
		c.ToolTimeout = 10 * time.Second
	}
	if c.MaxToolOutput <= 0 {
		c.MaxToolOutput = 8192
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.AnomalyWait == 0 {
		c.AnomalyWait = 5 * time.Second
	}
	if c.AnomalyLookback <= 0 {
		c.AnomalyLookback = 72 * time.Hour
	}
	if c.IndexAlerts <= 0 {
		c.IndexAlerts = 20000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Settings are the triage settings a command line or app.Config carries
// (the `clarion triage` and `clarion run` flags).
type Settings struct {
	LLM LLM
	// Timeout and MaxSteps: see Config (zero: defaults).
	Timeout  time.Duration
	MaxSteps int
}

// Config builds the Config of a triage component from settings and the
// process's shared parts (brokers, Okta clients, logger, registry).
func (s Settings) Config(brokers []string, clients OktaClients, log *slog.Logger, reg prometheus.Registerer) Config {
	return Config{Brokers: brokers, Okta: clients, LLM: s.LLM, Timeout: s.Timeout, MaxSteps: s.MaxSteps, Logger: log, Registerer: reg}
}

// Triage consumes new alerts and triages them.
type Triage struct {
	cfg   Config
	log   *slog.Logger
	index *anomalyIndex
	m     *metrics
	ag    *agent // nil: no LLM
}

// New checks cfg and builds a Triage. It does not connect to Kafka.
func New(cfg Config) (*Triage, error) {
	cfg.defaults()
	t := &Triage{cfg: cfg, log: cfg.Logger, index: newAnomalyIndex(cfg.IndexAlerts)}
	t.m = newMetrics(cfg.Registerer, func() float64 { return float64(t.index.size()) })
	model, err := newModel(cfg.LLM, cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	if model != nil {
		t.ag = &agent{model: model, provider: cfg.LLM.Provider, maxSteps: cfg.MaxSteps, maxTokens: cfg.MaxTokens,
			timeout: cfg.Timeout, retries: cfg.Retries, backoff: cfg.RetryBackoff, onRetry: t.m.retries.Inc}
	}
	return t, nil
}

// ParseAlert decodes an alert record from clarion.alerts.
func ParseAlert(raw []byte) (*Alert, error) {
	var a Alert
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("triage: alert: %w", err)
	}
	if a.ID == "" || a.IntegrationID == "" || a.User.ID == "" {
		return nil, errors.New("triage: alert without id, integration_id or user.id")
	}
	a.raw = append(json.RawMessage(nil), raw...)
	return &a, nil
}

// Result is one triage of one alert version: what Run produces.
type Result struct {
	Run       record.TriageRun
	Verdict   record.Update
	Proposals []record.Request
}

// Run follows clarion.anomalies and triages every New alert on
// clarion.alerts until ctx ends; it returns nil on a clean stop. Offsets
// are committed after an alert's records are produced (at least once: run
// and action ids are deterministic, so a replay repeats the same ids).
func (t *Triage) Run(ctx context.Context) error {
	if len(t.cfg.Brokers) == 0 {
		return errors.New("triage: no Kafka brokers")
	}
	if t.cfg.Signer == nil || t.cfg.Verifier == nil || t.cfg.Signer.Name() != record.SignerTriage {
		return errors.New("triage: Config.Signer (as record.SignerTriage) and Config.Verifier are required")
	}
	t.log.Info("triage starting", "llm", t.cfg.LLM, "max_steps", t.cfg.MaxSteps, "max_tokens", t.cfg.MaxTokens, "timeout", t.cfg.Timeout)
	prod, err := bus.NewClient(t.cfg.Brokers, t.log, append(append(bus.ProducerOpts(0), t.cfg.KafkaOpts...), t.cfg.Signer.Opt())...)
	if err != nil {
		return fmt.Errorf("triage: producer: %w", err)
	}
	defer prod.Close()
	anc, err := bus.NewClient(t.cfg.Brokers, t.log, append([]kgo.Opt{
		kgo.ConsumeTopics(bus.TopicAnomalies),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(t.cfg.Now().Add(-t.cfg.AnomalyLookback).UnixMilli())),
	}, t.cfg.KafkaOpts...)...)
	if err != nil {
		return fmt.Errorf("triage: anomalies consumer: %w", err)
	}
	defer anc.Close()
	alc, err := bus.NewClient(t.cfg.Brokers, t.log, append([]kgo.Opt{
		kgo.ConsumerGroup(t.cfg.Group),
		kgo.ConsumeTopics(bus.TopicAlerts),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, t.cfg.KafkaOpts...)...)
	if err != nil {
		return fmt.Errorf("triage: alerts consumer: %w", err)
	}
	defer alc.Close()

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t.followAnomalies(rctx, anc)
	}()
	err = t.consumeAlerts(rctx, alc, prod)
	cancel()
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (t *Triage) followAnomalies(ctx context.Context, cl *kgo.Client) {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.log.Warn("triage: fetch anomalies", "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if _, err := t.cfg.Verifier.Verify(r, record.SignerProcessor); err != nil {
				t.m.skipped.WithLabelValues("anomaly_" + record.ReasonOf(err)).Inc()
				t.log.Warn("triage: anomaly not signed by the processor ignored", "partition", r.Partition, "offset", r.Offset, "err", err)
				return
			}
			var a Anomaly
			if err := json.Unmarshal(r.Value, &a); err != nil {
				t.log.Warn("triage: undecodable anomaly", "partition", r.Partition, "offset", r.Offset, "err", err)
				return
			}
			t.index.add(a)
		})
	}
}

func (t *Triage) consumeAlerts(ctx context.Context, cl *kgo.Client, prod *kgo.Client) error {
	for {
		fs := cl.PollRecords(ctx, 256)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.log.Warn("triage: fetch alerts", "partition", p, "err", err)
		})
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		if err := t.handle(ctx, prod, recs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := cl.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
			t.log.Warn("triage: commit offsets (the alerts will be triaged again)", "err", err)
		}
	}
}

// handle triages the newest version of each alert in recs that is still
// New; one user's alerts in order, users in parallel.
func (t *Triage) handle(ctx context.Context, prod *kgo.Client, recs []*kgo.Record) error {
	latest := map[string]*Alert{}
	var order []string
	for _, r := range recs {
		if _, err := t.cfg.Verifier.Verify(r, record.SignerProcessor); err != nil {
			t.m.skipped.WithLabelValues(record.ReasonOf(err)).Inc()
			t.log.Warn("triage: alert not signed by the processor ignored", "partition", r.Partition, "offset", r.Offset, "err", err)
			continue
		}
		a, err := ParseAlert(r.Value)
		if err != nil {
			t.m.skipped.WithLabelValues("malformed").Inc()
			t.log.Warn("triage: undecodable alert", "partition", r.Partition, "offset", r.Offset, "err", err)
			continue
		}
		if prev, ok := latest[a.ID]; ok {
			t.m.skipped.WithLabelValues("superseded").Inc()
			if a.Version >= prev.Version {
				latest[a.ID] = a
			}
			continue
		}
		latest[a.ID] = a
		order = append(order, a.ID)
	}
	byUser := map[string][]*Alert{}
	var users []string
	for _, id := range order {
		a := latest[id]
		if a.Status != record.StatusNew {
			t.m.skipped.WithLabelValues("not_new").Inc()
			continue
		}
		k := string(bus.KeyFor(a.IntegrationID, a.User.ID))
		if byUser[k] == nil {
			users = append(users, k)
		}
		byUser[k] = append(byUser[k], a)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(t.cfg.Concurrency)
	for _, k := range users {
		alerts := byUser[k]
		g.Go(func() error {
			for _, a := range alerts {
				if err := t.process(gctx, prod, a); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// process triages one alert and produces its records: the analyzing
// update, then the run, then the verdict and the proposals.
func (t *Triage) process(ctx context.Context, prod *kgo.Client, a *Alert) error {
	an := record.Update{Kind: record.UpdateAnalyzing, AlertID: a.ID, IntegrationID: a.IntegrationID, User: a.User,
		AlertVersion: a.Version, At: t.cfg.Now().UTC(), By: "triage", Base: a.raw}
	rec, err := record.UpdateRecord(&an)
	if err != nil {
		return fmt.Errorf("triage: analyzing update: %w", err)
	}
	if err := prod.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("triage: produce analyzing update: %w", err)
	}
	anomalies, missing := t.index.wait(ctx, a.ID, a.Anomalies, t.cfg.AnomalyWait)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if missing > 0 {
		t.m.missing.Inc()
		t.log.Warn("triage: anomalies of the alert did not arrive in time; triaging with what is known",
			"alert", a.ID, "missing", missing, "known", len(anomalies))
	}
	res := t.triage(ctx, a, anomalies, missing)
	if ctx.Err() != nil {
		return ctx.Err() // stopping: produce nothing half-decided
	}
	runRec, err := runRecord(&res.Run)
	if err != nil {
		return err
	}
	if err := prod.ProduceSync(ctx, runRec).FirstErr(); err != nil {
		return fmt.Errorf("triage: produce run: %w", err)
	}
	out := make([]*kgo.Record, 0, 1+len(res.Proposals))
	vr, err := record.UpdateRecord(&res.Verdict)
	if err != nil {
		return fmt.Errorf("triage: verdict update: %w", err)
	}
	out = append(out, vr)
	for i := range res.Proposals {
		pr, err := record.RequestRecord(&res.Proposals[i])
		if err != nil {
			return fmt.Errorf("triage: proposal: %w", err)
		}
		out = append(out, pr)
	}
	if err := prod.ProduceSync(ctx, out...).FirstErr(); err != nil {
		return fmt.Errorf("triage: produce verdict: %w", err)
	}
	t.log.Info("triage: alert triaged", "alert", a.ID, "version", a.Version, "disposition", res.Run.Output.Disposition,
		"by", res.Run.By, "fallback", res.Run.Fallback, "gate", res.Run.Gate != "", "proposals", len(res.Proposals))
	return nil
}

func runRecord(r *record.TriageRun) (*kgo.Record, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("triage: encode run: %w", err)
	}
	return &kgo.Record{Topic: bus.TopicTriage, Key: bus.KeyFor(r.IntegrationID, r.User.ID), Value: b}, nil
}

// Triage triages alert a with its anomalies without touching Kafka: the
// deterministic pass (the four read-only tools, the rules), the agent when
// an LLM is configured, and the policy gate. Run calls it for every New
// alert; tests and benchmarks call it directly.
func (t *Triage) Triage(ctx context.Context, a *Alert, anomalies []Anomaly) *Result {
	return t.triage(ctx, a, anomalies, 0)
}

func (t *Triage) triage(ctx context.Context, a *Alert, anomalies []Anomaly, missing int) *Result {
	start := time.Now()
	started := t.cfg.Now().UTC()
	var client *okta.Client
	var cerr error
	if t.cfg.Okta != nil {
		client, cerr = t.cfg.Okta.Client(a.IntegrationID)
	} else {
		cerr = errors.New("triage has no Okta clients configured")
	}
	tb := newToolbox(client, cerr, a, anomalies, started, t.cfg.MaxToolOutput)
	tb.observe = func(tool string, d time.Duration, err error) {
		r := "ok"
		if err != nil {
			r = "error"
		}
		if errors.Is(err, ErrToolArguments) {
			t.m.refused.Inc()
		}
		t.m.tools.WithLabelValues(tool, r).Observe(d.Seconds())
	}

	// Deterministic pass: every tool once, in parallel, then the rules.
	dctx, cancel := context.WithTimeout(ctx, t.cfg.ToolTimeout)
	// The rules read the prevalence of the newest subject sign-in's IP
	// only (ASN and city prevalence are broad; the agent may ask for them).
	prevArgs := "{}"
	if ips, _, _ := tb.alertValues(); len(ips) > 0 {
		prevArgs = quoteData(map[string]string{"ip": ips[0]})
	}
	names := []string{ToolRecentSignins, ToolUserProfile, ToolUserSystemLog, ToolTenantPrevalence}
	args := []string{"{}", "{}", "{}", prevArgs}
	calls := make([]record.ToolCall, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			calls[i] = tb.call(dctx, n, args[i])
		}()
	}
	wg.Wait()
	cancel()
	var prev *prevalence
	var syslog *systemLog
	if v, _, err := tb.run(ctx, ToolTenantPrevalence, prevArgs); err == nil {
		prev, _ = v.(*prevalence)
	}
	if v, _, err := tb.run(ctx, ToolUserSystemLog, "{}"); err == nil {
		syslog, _ = v.(*systemLog)
	}
	detSev := a.detectionSeverity()
	det, rule := deterministic(collectSignals(a, anomalies, prev, syslog))
	det.Summary = "Rule " + rule + ": " + det.Summary
	step0 := record.Step{N: 0, Text: "deterministic triage: rule " + rule + " → " + det.Disposition, ToolCalls: calls, LatencyMs: ms(time.Since(start))}
	if missing > 0 {
		step0.Error = fmt.Sprintf("%d of the alert's anomalies had not arrived when triage ran", missing)
	}

	run := record.TriageRun{
		ID: record.TriageRunID(a.ID, a.Version), AlertID: a.ID, AlertVersion: a.Version, IntegrationID: a.IntegrationID,
		User: a.User, Started: started, By: "deterministic", Deterministic: det, Steps: []record.Step{step0},
	}
	var agentOut *record.Output
	if t.ag != nil {
		run.Provider, run.Model = t.cfg.LLM.Provider, t.cfg.LLM.Model
		ar := t.ag.run(ctx, a, anomalies, tb)
		run.Steps = append(run.Steps, ar.Steps...)
		run.Tokens = ar.Tokens
		t.m.tokens.WithLabelValues("prompt").Add(float64(ar.Tokens.Prompt))
		t.m.tokens.WithLabelValues("completion").Add(float64(ar.Tokens.Completion))
		if ar.Output != nil {
			agentOut = ar.Output
			run.By = "llm"
		} else {
			run.Fallback = ar.Fallback
			t.m.fallbacks.WithLabelValues(fallbackReason(ar.Fallback)).Inc()
		}
	}
	g := gate(det, agentOut, detSev)
	run.Output = g.Final
	run.Gate = g.Why
	if g.Held {
		t.m.gateHeld.Inc()
		run.Agent = agentOut
	}
	run.Finished = t.cfg.Now().UTC()
	d := time.Since(start)
	run.LatencyMs = ms(d)

	ar := record.ActionRequiredNone
	switch {
	case len(g.Kinds) > 0:
		ar = record.ActionRequiredApproval
	case g.Held:
		ar = record.ActionRequiredClarification
	}
	res := &Result{Run: run}
	res.Verdict = record.Update{Kind: record.UpdateVerdict, AlertID: a.ID, IntegrationID: a.IntegrationID, User: a.User,
		AlertVersion: a.Version, At: run.Finished, By: "triage", Base: a.raw,
		Verdict: &record.Verdict{RunID: run.ID, Disposition: g.Final.Disposition, Severity: g.Final.Severity,
			Confidence: g.Final.Confidence, By: run.By, ActionRequired: ar, Escalate: g.Held}}
	basis := record.Basis{DetectionSeverity: detSev, Deterministic: det.Disposition, Verdict: g.Final.Disposition, VerdictBy: run.By}
	for _, k := range g.Kinds {
		id := record.ActionID(a.ID, k)
		b := basis
		res.Proposals = append(res.Proposals, record.Request{
			ID: fmt.Sprintf("%s-v%d", id, a.Version), Type: record.RequestPropose, ActionID: id, At: run.Finished, By: "triage",
			Reason: proposalReason(det, g.Final, detSev, run.By), Kind: k, AlertID: a.ID, AlertVersion: a.Version,
			IntegrationID: a.IntegrationID, User: a.User, Basis: &b,
		})
		t.m.proposals.WithLabelValues(k).Inc()
	}
	t.m.runs.WithLabelValues(g.Final.Disposition, run.By).Inc()
	t.m.latency.WithLabelValues(run.By).Observe(d.Seconds())
	return res
}

func fallbackReason(s string) string {
	for _, r := range []string{"timeout", "invalid_output", "max_steps", "max_tokens"} {
		if len(s) >= len(r) && s[:len(r)] == r {
			return r
		}
	}
	return "error"
}
