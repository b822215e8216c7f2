package app

import (
	"github.com/clarion-itdr/clarion/ingest/poller"
	"github.com/clarion-itdr/clarion/internal/integration"
	"github.com/clarion-itdr/clarion/okta"
	"github.com/clarion-itdr/clarion/processor"
	"github.com/clarion-itdr/clarion/processor/source"
	"github.com/clarion-itdr/clarion/responder"
	"github.com/clarion-itdr/clarion/sinks/clickhouse"
	"github.com/clarion-itdr/clarion/sinks/parquet"
	"github.com/clarion-itdr/clarion/triage"
)

// addComponents adds the background components of the process's target:
// the System Log poller, the processor, triage, the responder and the sinks (the Parquet lake
// unless Config.NoLake, ClickHouse when Config.ClickHouse is set). The gateway and the console API
// are HTTP handlers, mounted by New.
func (a *App) addComponents() error {
	t, log := a.target, a.log
	if Runs(t, TargetPoller) {
		p, err := poller.New(poller.Config{
			Brokers: a.Brokers, Registry: a.Store, MasterKey: a.Key,
			Okta:   okta.Config{Logger: log.With("component", "okta")},
			Logger: log.With("component", "poller"), Registerer: a.Registry,
		})
		if err != nil {
			return err
		}
		a.Add("poller", p)
	}
	if Runs(t, TargetProcessor) {
		p, err := processor.New(processor.Config{
			Brokers: a.Brokers, Logger: log.With("component", "processor"), Registerer: a.Registry,
		})
		if err != nil {
			return err
		}
		a.Add("processor", p)
	}
	if Runs(t, TargetSource) {
		s, err := source.New(source.Config{Brokers: a.Brokers, Logger: log.With("component", "source")})
		if err != nil {
			return err
		}
		a.Add("source", s)
	}
	if Runs(t, TargetTriage) {
		tr, err := triage.New(a.cfg.Triage.Config(a.Brokers, a.oktaClients(), log.With("component", "triage"), a.Registry))
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
		r, err := responder.New(rc)
		if err != nil {
			return err
		}
		a.Add("responder", r)
	}
	if Runs(t, TargetSink) {
		if !a.cfg.NoLake {
			pq, err := parquet.New(parquet.Config{
				Brokers: a.Brokers, DataDir: a.cfg.DataDir, FlushInterval: a.cfg.LakeFlushInterval,
				Logger: log.With("component", "sink-parquet"), Registerer: a.Registry,
			})
			if err != nil {
				return err
			}
			a.Add("sink-parquet", pq)
		}
		if a.cfg.ClickHouse != "" {
			ch, err := clickhouse.New(clickhouse.Config{
				Brokers: a.Brokers, Addr: a.cfg.ClickHouse,
				Username: a.cfg.ClickHouseUser, Password: a.cfg.ClickHousePassword,
				Database: a.cfg.ClickHouseDatabase, Compression: a.cfg.ClickHouseCompression,
				Retention: a.cfg.Retention,
				Logger:    log.With("component", "sink-clickhouse"), Registerer: a.Registry,
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
		a.clients = integration.NewClients(a.Store, okta.Config{Logger: a.log.With("component", "okta")})
	}
	return a.clients
}
