package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/clarion-itdr/clarion/okta/sim/traffic"
)

// HookConfig registers an event hook, as an admin does in Okta's console.
type HookConfig struct {
	URL        string   `json:"url"`
	AuthField  string   `json:"auth_field"`
	AuthSecret string   `json:"auth_secret"`
	Events     []string `json:"events"`
}

// hook is a registered event hook. Its fields after creation are guarded
// by Server.mu.
type hook struct {
	id       string
	cfg      HookConfig
	verified bool
	queue    []int // System Log positions waiting for delivery
	inflight int
}

// enqueue queues a new System Log event for delivery (Server.mu held).
func (h *hook) enqueue(pos int, eventType string) {
	if h.verified && slices.Contains(h.cfg.Events, eventType) {
		h.queue = append(h.queue, pos)
	}
}

// HookInfo is what the simulator reports about a hook.
type HookInfo struct {
	ID       string `json:"id"`
	Verified bool   `json:"verified"`
	Error    string `json:"error,omitempty"`
}

// ErrVerification means the hook endpoint did not answer the one-time
// verification request correctly; the hook stays registered but unverified
// (no deliveries) until verified again.
var ErrVerification = errors.New("sim: event hook verification failed")

// RegisterEventHook registers a hook and sends Okta's one-time verification
// request (GET with X-Okta-Verification-Challenge and the auth header). It
// returns the hook id; err wraps ErrVerification when the endpoint did not
// echo the challenge, and reports a bad configuration otherwise.
func (s *Server) RegisterEventHook(ctx context.Context, cfg HookConfig) (HookInfo, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return HookInfo{}, errBadRequest("url: must be an absolute http(s) URL")
	}
	if (cfg.AuthField == "") != (cfg.AuthSecret == "") {
		return HookInfo{}, errBadRequest("auth_field and auth_secret go together")
	}
	if cfg.AuthField != "" && !validHeaderName(cfg.AuthField) {
		return HookInfo{}, errBadRequest("auth_field: not a valid header name")
	}
	if len(cfg.Events) == 0 {
		return HookInfo{}, errBadRequest("events: at least one event type is required")
	}
	h := &hook{id: randID("who", 17), cfg: cfg}
	h.cfg.Events = slices.Clone(cfg.Events)
	s.mu.Lock()
	s.hooks = append(s.hooks, h)
	s.mu.Unlock()
	return s.VerifyEventHook(ctx, h.id)
}

// VerifyEventHook repeats the one-time verification of a registered hook
// (Okta's POST /api/v1/eventHooks/{id}/lifecycle/verify).
func (s *Server) VerifyEventHook(ctx context.Context, id string) (HookInfo, error) {
	h := s.hook(id)
	if h == nil {
		return HookInfo{}, errBadRequest("unknown event hook " + id)
	}
	err := s.verify(ctx, h)
	s.mu.Lock()
	h.verified = err == nil
	s.mu.Unlock()
	info := HookInfo{ID: h.id, Verified: err == nil}
	if err != nil {
		info.Error = err.Error()
		s.log.Warn("oktasim: event hook verification failed", "hook", h.id, "err", err)
		return info, fmt.Errorf("%w: %v", ErrVerification, err)
	}
	s.log.Info("oktasim: event hook verified", "hook", h.id, "url", h.cfg.URL)
	return info, nil
}

func (s *Server) hook(id string) *hook {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, h := range s.hooks {
		if h.id == id {
			return h
		}
	}
	return nil
}

func validHeaderName(n string) bool {
	for _, c := range n {
		if !(c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return n != ""
}

func (s *Server) verify(ctx context.Context, h *hook) error {
	challenge := randID("", 32)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.cfg.URL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Okta-Verification-Challenge", challenge)
	req.Header.Set("User-Agent", "Okta Event Hooks")
	if h.cfg.AuthField != "" {
		req.Header.Set(h.cfg.AuthField, h.cfg.AuthSecret)
	}
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("verification answered HTTP %d", resp.StatusCode)
	}
	var v struct {
		Verification string `json:"verification"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Verification != challenge {
		return errors.New(`verification answer is not {"verification":"<challenge>"}`)
	}
	return nil
}

// maxInflight is the most concurrent deliveries per hook; more than one
// lets batches overtake each other, as Okta's deliveries do.
const maxInflight = 2

// deliver sends queued events to every verified hook, in batches.
func (s *Server) deliver(ctx context.Context) {
	type job struct {
		h   *hook
		pos []int
	}
	var jobs []job
	s.mu.Lock()
	for _, h := range s.hooks {
		for h.inflight < maxInflight && len(h.queue) > 0 {
			n := min(len(h.queue), s.cfg.HookBatch)
			jobs = append(jobs, job{h, slices.Clone(h.queue[:n])})
			h.queue = h.queue[n:]
			h.inflight++
		}
	}
	s.mu.Unlock()
	for _, j := range jobs {
		body := s.envelope(j.h, j.pos)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.send(ctx, j.h, body, len(j.pos))
			s.mu.Lock()
			j.h.inflight--
			s.mu.Unlock()
		}()
	}
}

// envelope renders Okta's event hook request body around the events.
func (s *Server) envelope(h *hook, pos []int) []byte {
	s.mu.RLock()
	recs, own := s.recs, s.own
	s.mu.RUnlock()
	pos = slices.Clone(pos)
	rand.Shuffle(len(pos), func(i, j int) { pos[i], pos[j] = pos[j], pos[i] }) // unordered, as Okta's
	base := s.cfg.OrgURL
	if base == "" {
		base = "https://" + orgHost("")
	}
	b := []byte(`{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1","source":`)
	b = traffic.AppendJSONString(b, base+"/api/v1/eventHooks/"+h.id)
	b = append(b, `,"eventId":"`...)
	b = append(b, newUUIDv4()...)
	b = append(b, `","data":{"events":[`...)
	for i, p := range pos {
		if i > 0 {
			b = append(b, ',')
		}
		r := &recs[p]
		if r.Kind == kindOwn {
			b = append(b, own[r.Seq].raw...)
		} else {
			b = s.model.AppendJSON(b, r)
		}
	}
	b = append(b, `]},"eventTime":"`...)
	b = traffic.AppendTime(b, s.SimNow().UnixMilli())
	b = append(b, `","contentType":"application/json"}`...)
	return b
}

// send POSTs one delivery with Okta's retry: one more attempt after a
// timeout, a network error or a 5xx; none after a 4xx. A delivery that
// still fails is logged as an event_hook.delivery event.
func (s *Server) send(ctx context.Context, h *hook, body []byte, n int) {
	var status int
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		status, err = s.post(ctx, h, body)
		if err == nil && status >= 200 && status < 300 {
			s.metrics.delivery("ok")
			return
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil && status < 500 {
			break // 4xx: Okta does not retry
		}
		if attempt == 0 {
			s.metrics.delivery("retried")
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	s.metrics.delivery("failed")
	reason := fmt.Sprintf("HTTP %d", status)
	if err != nil {
		reason = "Request failed: " + err.Error()
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Timeout") {
			reason = "Request timed out after " + s.cfg.HookTimeout.String()
		}
	}
	s.log.Warn("oktasim: event hook delivery failed", "hook", h.id, "events", n, "reason", reason)
	s.appendOwn(ownEvent{
		eventType: "event_hook.delivery", display: "Event hook delivery failed",
		actorID: h.id, alternateID: h.cfg.URL, actorName: "Event hook", actorType: "EventHook",
		outcome: "FAILURE", reason: reason,
		targetType: "EventHook", targetID: h.id, targetName: h.cfg.URL,
	})
}

func (s *Server) post(ctx context.Context, h *hook, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Okta Event Hooks")
	if h.cfg.AuthField != "" {
		req.Header.Set(h.cfg.AuthField, h.cfg.AuthSecret)
	}
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}
