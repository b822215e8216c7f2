package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/clarion-itdr/clarion/ingest/poller"
	"github.com/clarion-itdr/clarion/internal/app"
	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/integration"
	"github.com/clarion-itdr/clarion/okta"
	"github.com/clarion-itdr/clarion/okta/sim"
)

// newDemoCmd runs `clarion run` plus a simulated Okta org and connects them
// the way an admin does with the setup guide: create the integration through
// Clarion's API, add its public key to an API Services app in the org,
// create the event hook with the wizard's URL, field and secret (the org
// verifies it), and let the org's traffic flow.
func newDemoCmd() *cobra.Command {
	var f runFlags
	var (
		simHTTP    string
		simUsers   int
		simSeed    int64
		simSpeed   float64
		simCatch   time.Duration
		simHistory time.Duration
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run Clarion plus a simulated Okta org, connected through the wizard's API and a real event hook",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			log, err := f.logger()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			cfg := f.config(log)
			cfg.AllowInsecureTenants = true

			// The simulated org.
			ln, err := net.Listen("tcp", simHTTP)
			if err != nil {
				return fmt.Errorf("--sim-http %s: %w", simHTTP, err)
			}
			orgURL := "http://" + ln.Addr().String()
			s, err := sim.New(sim.Config{Users: simUsers, Seed: simSeed, Speed: simSpeed, CatchUp: simCatch, OrgURL: orgURL, Logger: log.With("component", "oktasim")})
			if err != nil {
				ln.Close()
				return err
			}
			simSrv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
			go simSrv.Serve(ln)
			defer simSrv.Close()

			a, err := app.New(ctx, cfg, app.TargetAll)
			if err != nil {
				return err
			}
			runErr := make(chan error, 1)
			go func() { runErr <- a.Run(ctx) }()

			integ, err := connectDemoOrg(ctx, "http://"+a.Addr(), a.Token, orgURL, log)
			if err != nil {
				log.Error("demo setup failed", "err", err)
				return errors.Join(err, <-runErr)
			}
			if simHistory > 0 {
				go importDemoHistory(ctx, a, integ, simHistory, log)
			}
			go func() {
				if err := s.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
					log.Error("simulated org stopped", "err", err)
				}
			}()
			log.Info("demo running: the simulated org's sign-ins now reach Clarion through its event hook",
				"console", "http://"+a.Addr(), "oktasim", orgURL, "admin_token_file", filepath.Join(cfg.DataDir, "admin-token"))
			return <-runErr
		},
	}
	f.register(cmd.Flags(), true)
	f.registerSinks(cmd.Flags())
	f.registerResponse(cmd.Flags(), true, true)
	cmd.Flags().StringVar(&simHTTP, "sim-http", "127.0.0.1:8081", "listen address of the simulated Okta org")
	cmd.Flags().IntVar(&simUsers, "sim-users", 200, "users in the simulated org")
	cmd.Flags().Int64Var(&simSeed, "sim-seed", 1, "seed of the simulated traffic")
	cmd.Flags().Float64Var(&simSpeed, "sim-speed", 60, "simulated seconds per real second while catching up (60: an hour of sign-ins a minute)")
	cmd.Flags().DurationVar(&simHistory, "sim-backfill", 14*24*time.Hour, "import this much of the simulated org's System Log history at start (clarion backfill), so users are past the detectors' learning period; 0: none")
	cmd.Flags().DurationVar(&simCatch, "sim-catch-up", time.Hour, "start the simulated clock this far behind and run it at --sim-speed until it meets the wall clock (events are never in the future)")
	envUsage(cmd.Flags())
	return cmd
}

// connectDemoOrg performs the setup guide against the simulated org.
// importDemoHistory backfills the simulated org's System Log history into
// Clarion, as `clarion backfill` does, and logs "demo history imported".
func importDemoHistory(ctx context.Context, a *app.App, id string, history time.Duration, log *slog.Logger) {
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
	client, err := in.OktaClient(a.Key, okta.Config{Logger: log.With("component", "okta")})
	if err != nil {
		log.Error("demo history import", "err", err)
		return
	}
	prod, err := bus.NewClient(a.Brokers, log, poller.ProducerOpts(5*time.Millisecond)...)
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

func connectDemoOrg(ctx context.Context, clarionURL, token, orgURL string, log *slog.Logger) (string, error) {
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
