package processor

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/record"
)

// The processor is the only writer of clarion.alerts, and an alert
// changes only through record.Update records on its own input. Anyone who
// can produce to clarion.okta.events can write a record with header
// source=clarion, so an update is applied only when it is signed by the
// component allowed to make that kind of change (docs/trust.md):
//
//	analyzing, verdict   triage
//	action_required      the responder
//	feedback             the API (an analyst)
//
// The Base an update carries (the sender's copy of an alert no longer
// open) is believed only because the signer is one of these, and each of
// them reads alerts only with the processor's signature.

// updateSigners names who may send each update kind.
func updateSigners(kind string) []string {
	switch kind {
	case record.UpdateAnalyzing, record.UpdateVerdict:
		return []string{record.SignerTriage}
	case record.UpdateActionRequired:
		return []string{record.SignerResponder}
	case record.UpdateFeedback:
		return []string{record.SignerAPI}
	}
	return nil
}

// acceptUpdate reports why the update up (read from r) must not be
// applied, or nil.
func (p *Processor) acceptUpdate(r *kgo.Record, up *record.Update) error {
	signers := updateSigners(up.Kind)
	if len(signers) == 0 {
		return fmt.Errorf("update kind %q has no signer", up.Kind)
	}
	signer, err := p.cfg.Verifier.Verify(r, signers...)
	if err != nil {
		p.log.Warn("alert update refused: signature", "alert", up.AlertID, "kind", up.Kind, "signer", signer,
			"partition", r.Partition, "offset", r.Offset, "err", err)
		return fmt.Errorf("refused: %w", err)
	}
	if len(up.Base) > 0 {
		// The Base is written as the user's alert: it must be that
		// user's, in that integration.
		var b struct {
			IntegrationID string         `json:"integration_id"`
			User          record.UserRef `json:"user"`
		}
		if json.Unmarshal(up.Base, &b) != nil || b.IntegrationID != up.IntegrationID || b.User.ID != up.User.ID {
			return errors.New("refused: the update's base is not an alert of the update's user")
		}
	}
	return nil
}

// checkTrust checks the signing configuration.
func checkTrust(cfg *Config) error {
	if cfg.Signer == nil || cfg.Verifier == nil {
		return errors.New("processor: Config.Signer and Config.Verifier are required (record.DeriveSigner, record.DeriveVerifier)")
	}
	if cfg.Signer.Name() != record.SignerProcessor {
		return fmt.Errorf("processor: Config.Signer signs as %q, want %q", cfg.Signer.Name(), record.SignerProcessor)
	}
	return nil
}

// deadLetter is r on the dead-letter topic with the reason.
func deadLetter(r *kgo.Record, err error) *kgo.Record {
	hs := slices.Clone(r.Headers)
	hs = append(hs, kgo.RecordHeader{Key: "error", Value: []byte(err.Error())},
		kgo.RecordHeader{Key: "source_topic", Value: []byte(r.Topic)})
	return &kgo.Record{Topic: bus.TopicDeadLetter, Key: r.Key, Value: r.Value, Headers: hs}
}
