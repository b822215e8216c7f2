// Package demo connects a running Clarion to a simulated Okta org (okta/sim)
// the way an admin does through the wizard: it creates the integration
// through Clarion's API, registers the service app (public key, scopes,
// DPoP) and the event hook in the simulated org, and imports the org's
// history as `clarion backfill` does. `clarion demo` and the benchmarks
// use it.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/clarion-itdr/clarion/ingest/poller"
	"github.com/clarion-itdr/clarion/internal/app"
	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/integration"
)

// ImportHistory backfills the simulated org's System Log history into
// Clarion, as `clarion backfill` does, and logs "demo history imported".
func ImportHistory(ctx context.Context, a *app.App, id string, history time.Duration, log *slog.Logger) {
	var in *integration.Integration
	for in == nil {
		var ok bool
		if in, ok = a.Store.Get(id); !ok {
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	client, err := in.OktaClient(a.Key, a.OktaBase(log.With("component", "okta")))
	if err != nil {
		log.Error("demo history import", "err", err)
		return
	}
	prod, err := bus.NewClient(a.Brokers, log, append(poller.ProducerOpts(5*time.Millisecond), a.KafkaOpts()...)...)
	if err != nil {
		log.Error("demo history import", "err", err)
		return
	}
	defer prod.Close()
	p, err := poller.Backfill(ctx, poller.BackfillConfig{Client: client, IntegrationID: id, Producer: prod,
		Since: time.Now().Add(-history), Logger: log.With("component", "backfill")})
	if err != nil {
		if ctx.Err() == nil {
			log.Error("demo history import", "err", err)
		}
		return
	}
	log.Info("demo history imported", "events", p.Events, "since", p.Since, "elapsed", p.Elapsed.Round(time.Millisecond))
}

// Connect creates an integration for the simulated org at orgURL through
// the API of the Clarion at clarionURL (bearer token), registers its
// service app and event hook in the org (which verifies the hook), and
// returns the integration's id.
func Connect(ctx context.Context, clarionURL, token, orgURL string, log *slog.Logger) (string, error) {
	// Part 1, Steps 1-2: the API Services app exists and has a Client ID;
	// Step 2 continued: the admin enters it with the tenant URL in the wizard.
	clientID := "0oa" + fmt.Sprintf("%017d", time.Now().UnixNano()%1e17)
	var created integration.Created
	if err := postJSON(ctx, clarionURL+"/api/integrations", token, map[string]any{
		"name": "Simulated org", "tenant_url": orgURL, "client_id": clientID, "insecure": true,
	}, http.StatusCreated, &created); err != nil {
		return "", fmt.Errorf("create integration: %w", err)
	}
	// Steps 3-4: add the wizard's public key to the app; grant the scopes.
	var app struct {
		ClientID string `json:"client_id"`
	}
	if err := postJSON(ctx, orgURL+"/sim/apps", "", map[string]any{
		"client_id": clientID,
		"jwks":      map[string]any{"keys": []json.RawMessage{created.PublicKeyJWK}},
		"scopes":    []string{"okta.logs.read", "okta.users.manage"},
		"dpop":      true,
	}, http.StatusCreated, &app); err != nil {
		return "", fmt.Errorf("register the app in the simulated org: %w", err)
	}
	// Part 2: the event hook, subscribed to user.session.start; the org verifies it.
	var hook struct {
		ID       string `json:"id"`
		Verified bool   `json:"verified"`
	}
	if err := postJSON(ctx, orgURL+"/sim/eventhooks", "", map[string]any{
		"url": created.WebhookURL, "auth_field": created.AuthField, "auth_secret": created.AuthSecret,
		"events": []string{"user.session.start"},
	}, http.StatusCreated, &hook); err != nil {
		return "", fmt.Errorf("create the event hook in the simulated org: %w", err)
	}
	if !hook.Verified {
		return "", errors.New("the simulated org could not verify the event hook")
	}
	log.Info("simulated org connected", "integration", created.ID, "client_id", app.ClientID, "event_hook", hook.ID)
	return created.ID, nil
}

func postJSON(ctx context.Context, url, token string, in any, want int, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, bytes.TrimSpace(raw))
	}
	return json.Unmarshal(raw, out)
}
