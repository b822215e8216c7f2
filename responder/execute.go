package responder

import (
	"context"
	"time"

	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta"
)

// dispatch starts executing a (committed as executing) unless it already
// runs here. The outcome is queued for the loop, which commits it.
func (r *Responder) dispatch(a record.Action, partition int32) {
	r.mu.Lock()
	ctx := r.runCtx
	if r.inflight[a.ID] || ctx == nil || ctx.Err() != nil {
		r.mu.Unlock()
		return
	}
	r.inflight[a.ID] = true
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			r.forget(a.ID)
			return
		}
		res := r.execute(ctx, &a)
		<-r.sem
		if ctx.Err() != nil {
			// Stopping: the action stays executing and is resumed later.
			r.forget(a.ID)
			return
		}
		res.partition = partition
		r.mu.Lock()
		r.results = append(r.results, res)
		if r.wake != nil {
			r.wake()
		}
		r.mu.Unlock()
	}()
}

func (r *Responder) forget(id string) {
	r.mu.Lock()
	delete(r.inflight, id)
	r.mu.Unlock()
}

// execute runs a in Okta, retrying retriable failures with backoff. The
// Result merges every attempt's calls.
func (r *Responder) execute(ctx context.Context, a *record.Action) result {
	start := time.Now()
	res := result{id: a.ID}
	cl, err := r.cfg.Okta.Client(a.IntegrationID)
	if err != nil {
		res.state, res.errText, res.at, res.took = record.ActionFailed, err.Error(), r.cfg.Now().UTC(), time.Since(start)
		return res
	}
	var merged *okta.ActionRecord
	backoff := r.cfg.RetryBackoff
	for attempt := 1; ; attempt++ {
		res.attempts = attempt
		cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
		var rec *okta.ActionRecord
		switch a.Kind {
		case record.KindSuspendUser:
			rec, err = cl.SuspendUser(cctx, a.User.ID)
		case record.KindClearSessions:
			rec, err = cl.ClearSessions(cctx, a.User.ID)
		}
		cancel()
		if rec != nil {
			if merged != nil {
				rec.Calls = append(merged.Calls, rec.Calls...)
				rec.Started = merged.Started
			}
			merged = rec
		}
		if err == nil || ctx.Err() != nil || !okta.IsRetriable(err) || attempt >= r.cfg.Attempts {
			break
		}
		r.log.Warn("action failed; retrying", "action", a.ID, "kind", a.Kind, "attempt", attempt, "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
	res.rec, res.at, res.took = merged, r.cfg.Now().UTC(), time.Since(start)
	if err != nil {
		res.state, res.errText = record.ActionFailed, err.Error()
		r.log.Error("action failed", "action", a.ID, "kind", a.Kind, "user", a.User.ID, "attempts", res.attempts, "err", err)
	} else {
		res.state = record.ActionSucceeded
		r.log.Info("action executed", "action", a.ID, "kind", a.Kind, "user", a.User.ID, "attempts", res.attempts)
	}
	return res
}
