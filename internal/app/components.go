package app

import (
	"github.com/clarion-itdr/clarion/ingest/poller"
	"github.com/clarion-itdr/clarion/internal/integration"
	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/processor"
	"github.com/clarion-itdr/clarion/processor/detect"
	"github.com/clarion-itdr/clarion/processor/source"
	"github.com/clarion-itdr/clarion/responder"
	"github.com/clarion-itdr/clarion/sinks/clickhouse"
	"github.com/clarion-itdr/clarion/sinks/parquet"
	"github.com/clarion-itdr/clarion/triage"
	"github.com/twmb/franz-go/pkg/kgo"
)

// addComponents adds the background components of the process's target:
// the System Log poller, the processor, triage, the responder and the sinks (the Parquet lake
// unless Config.NoLake, ClickHouse when Config.ClickHouse is set). The gateway and the console API
// are HTTP handlers, mounted by New.
func (a *App) addComponents() error {
	t, log := a.target, a.log
	verifier, err := a.verifier()
	if err != nil {
		return err
	}
	if Runs(t, TargetPoller) {
		p, err := poller.New(poller.Config{
			Brokers: a.Brokers, KafkaOpts: a.kafkaOpts, Registry: a.Store, MasterKey: a.Key,
			Okta:   a.OktaBase(log.With("component", "okta")),
			Logger: log.With("component", "poller"), Registerer: a.Registry,
		})
		if err != nil {
			return err
		}
		a.Add("poller", p)
	}
	if Runs(t, TargetProcessor) {
		sig, err := a.signer(record.SignerProcessor)
		if err != nil {
			return err
		}
		p, err := processor.New(processor.Config{
			Brokers: a.Brokers, ClientOpts: a.kafkaOpts, Logger: log.With("component", "processor"), Registerer: a.Registry,
			Signer: sig, Verifier: verifier,
			Params: detect.Params{EgressNetworks: a.cfg.EgressNetworks},
		})
		if err != nil {
			return err
		}
		a.Add("processor", p)
	}
	if Runs(t, TargetSource) {
		// Source anomalies go to clarion.anomalies beside the processor's:
		// signed as the processor, so triage and the console accept them.
		sig, err := a.signer(record.SignerProcessor)
		if err != nil {
			return err
		}
		s, err := source.New(source.Config{
			Brokers: a.Brokers, Logger: log.With("component", "source"),
			ClientOpts: append(append([]kgo.Opt(nil), a.kafkaOpts...), sig.Opt()),
		})
		if err != nil {
			return err
		}
		a.Add("source", s)
	}
	if Runs(t, TargetTriage) {
		tc := a.cfg.Triage.Config(a.Brokers, a.oktaClients(), log.With("component", "triage"), a.Registry)
		tc.KafkaOpts = append(tc.KafkaOpts, a.kafkaOpts...)
		if tc.Signer, err = a.signer(record.SignerTriage); err != nil {
			return err
		}
		tc.Verifier = verifier
		tr, err := triage.New(tc)
		if err != nil {
			return err
		}
		a.Add("triage", tr)
	}
	if Runs(t, TargetResponder) {
		rc, err := a.cfg.Responder.Config(a.Brokers, a.oktaClients(), log.With("component", "responder"), a.Registry)
		if err != nil {
			return err
		}
		rc.ClientOpts = append(rc.ClientOpts, a.kafkaOpts...)
		if rc.Signer, err = a.signer(record.SignerResponder); err != nil {
			return err
		}
		rc.Verifier = verifier
		r, err := responder.New(rc)
		if err != nil {
			return err
		}
		a.Add("responder", r)
	}
	if Runs(t, TargetSink) {
		if !a.cfg.NoLake {
			pq, err := parquet.New(parquet.Config{
				Brokers: a.Brokers, KafkaOpts: a.kafkaOpts, DataDir: a.cfg.DataDir, FlushInterval: a.cfg.LakeFlushInterval,
				Logger: log.With("component", "sink-parquet"), Registerer: a.Registry,
			})
			if err != nil {
				return err
			}
			a.Add("sink-parquet", pq)
		}
		if a.cfg.ClickHouse != "" {
			ch, err := clickhouse.New(clickhouse.Config{
				Brokers: a.Brokers, KafkaOpts: a.kafkaOpts, Addr: a.cfg.ClickHouse,
				Username: a.cfg.ClickHouseUser, Password: a.cfg.ClickHousePassword,
				Database: a.cfg.ClickHouseDatabase, Compression: a.cfg.ClickHouseCompression,
				Retention: a.cfg.Retention, TLS: a.cfg.ClickHouseTLS, Cluster: a.cfg.ClickHouseCluster,
				Logger: log.With("component", "sink-clickhouse"), Registerer: a.Registry,
			})
			if err != nil {
				return err
			}
			a.Add("sink-clickhouse", ch)
		}
	}
	return nil
}

// oktaClients returns the process's Okta clients, one per integration,
// shared by triage and the responder (tokens and rate-limit state).
func (a *App) oktaClients() *integration.Clients {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.clients == nil {
		a.clients = integration.NewClients(a.Store, a.OktaBase(a.log.With("component", "okta")))
	}
	return a.clients
}
