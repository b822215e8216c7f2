package responder

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/api"
	"github.com/clarion-itdr/clarion/internal/record"
)

// Reasons a request is refused (clarion_responder_requests_refused_total),
// beyond the signature errors (record.ReasonOf).
const (
	// RefusedUnknownAlert: the proposal names an alert the processor never
	// wrote (or one forgotten past Config.MaxAlerts).
	RefusedUnknownAlert = "unknown_alert"
	// RefusedNotSubject: the proposal's user or integration is not the
	// alert's subject.
	RefusedNotSubject = "not_subject"
	// RefusedNoPrincipal: an approve or reject names no person.
	RefusedNoPrincipal = "no_principal"
	// RefusedNotApprover: the person deciding does not hold the approver
	// role.
	RefusedNotApprover = "not_approver"
	// RefusedNotAnalyst: an API proposal that is not marked as an
	// analyst's (Basis.Analyst), so could be mistaken for triage's.
	RefusedNotAnalyst = "not_analyst"
)

// checkRequest refuses a request whose signature or identity does not
// hold: proposals must be signed by triage or the API (an API proposal is
// an analyst's: never automatic); approvals and rejections by the API,
// naming a principal with the approver role. Nothing a request says about
// itself is believed before its signature is checked.
func (r *Responder) checkRequest(rec *kgo.Record, rq *request) {
	q := &rq.q
	allowed := []string{record.SignerAPI}
	if q.Type == record.RequestPropose {
		allowed = append(allowed, record.SignerTriage)
	}
	signer, err := r.cfg.Verifier.Verify(rec, allowed...)
	if err != nil {
		rq.refused = record.ReasonOf(err)
		r.log.Warn("request refused: signature", "type", q.Type, "action", q.ActionID, "request", q.ID,
			"partition", rec.Partition, "offset", rec.Offset, "err", err)
		return
	}
	rq.signer = signer
	switch {
	case q.Type == record.RequestPropose && signer == record.SignerAPI && !q.Basis.Analyst:
		rq.refused = RefusedNotAnalyst
	case q.Type == record.RequestPropose:
		return
	case q.Principal == nil || q.Principal.ID == "":
		rq.refused = RefusedNoPrincipal
	default:
		role, err := api.ParseRole(q.Principal.Role)
		if err != nil || !role.Allows(api.RoleApprover) {
			rq.refused = RefusedNotApprover
		}
	}
	if rq.refused != "" {
		r.log.Warn("request refused", "type", q.Type, "action", q.ActionID, "request", q.ID, "reason", rq.refused)
	}
}

// knowAlerts re-derives every proposal in reqs from the processor's
// alert: it refuses a proposal for an alert that does not exist or for a
// user who is not the alert's subject, and replaces the proposal's login
// and detection severity by the alert's. When a proposal names an alert
// not read yet it first reads clarion.alerts up to its current end (the
// alert was committed before the proposal was written); an error means
// that could not be done in Config.AlertWait, and the batch must be read
// again.
func (r *Responder) knowAlerts(ctx context.Context, reqs []request) error {
	unknown := false
	for i := range reqs {
		rq := &reqs[i]
		if rq.err != "" || rq.refused != "" || rq.q.Type != record.RequestPropose {
			continue
		}
		if _, ok := r.alerts.get(rq.q.AlertID); !ok {
			unknown = true
		}
	}
	if unknown {
		r.mu.Lock()
		cl := r.alertCl
		r.mu.Unlock()
		if cl == nil {
			return errors.New("responder: clarion.alerts reader not running")
		}
		if err := r.alerts.catchUp(ctx, cl, r.cfg.AlertWait); err != nil {
			return err
		}
	}
	for i := range reqs {
		rq := &reqs[i]
		q := &rq.q
		if rq.err != "" || rq.refused != "" || q.Type != record.RequestPropose {
			continue
		}
		a, ok := r.alerts.get(q.AlertID)
		switch {
		case !ok:
			rq.refused = RefusedUnknownAlert
		case a.integ != q.IntegrationID || a.user != q.User.ID:
			rq.refused = RefusedNotSubject
		default:
			q.User.Login = a.login
			b := *q.Basis
			b.DetectionSeverity = a.severity
			q.Basis = &b
			if q.AlertVersion > a.version {
				q.AlertVersion = a.version
			}
			continue
		}
		r.log.Warn("proposal refused", "reason", rq.refused, "action", q.ActionID, "alert", q.AlertID,
			"user", q.User.ID, "integration", q.IntegrationID, "by", q.By, "signer", rq.signer, "request", q.ID)
	}
	return nil
}
