package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/clarion-itdr/clarion/okta/sim"
)

// newOktasimCmd is `clarion oktasim`: a simulated Okta org on one port.
func newOktasimCmd() *cobra.Command {
	var (
		addr          string
		users         int
		seed          int64
		history       time.Duration
		historyEvents int
		speed         float64
		rateLimit     int
		orgURL        string
		attackRate    float64
		appSignOns    bool
	)
	cmd := &cobra.Command{
		Use:   "oktasim",
		Short: "Run a simulated Okta org (OAuth, System Log, Users API, event hooks, traffic)",
		Long: `oktasim serves a simulated Okta org: the OAuth token endpoint (private_key_jwt,
DPoP with nonce), /api/v1/logs, the Users API and event hooks, filled with seeded
sign-in traffic and injected attacks.

Simulator-only admin endpoints (no authentication; keep the simulator on localhost):
  POST /sim/apps        {client_id?, jwks:{keys:[...]}, scopes:[...], dpop}  -> {client_id}
  POST /sim/eventhooks  {url, auth_field, auth_secret, events:[...]}        -> {id, verified}
  POST /sim/eventhooks/{id}/verify
  GET  /sim/users       users with status
  GET  /sim/labels      ground truth of injected attacks (JSON Lines; ?all=true adds every expected anomaly)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("oktasim: listen %s: %w", addr, err)
			}
			if orgURL == "" {
				orgURL = "http://" + ln.Addr().String()
			}
			s, err := sim.New(sim.Config{
				Users: users, Seed: seed, History: history, HistoryEvents: historyEvents,
				Speed: speed, RateLimitPerMinute: rateLimit, OrgURL: orgURL,
				AttackRate: attackRate, AppSignOns: appSignOns, Logger: log,
			})
			if err != nil {
				ln.Close()
				return err
			}
			srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			errc := make(chan error, 2)
			go func() { errc <- s.Run(ctx) }()
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					errc <- err
				}
			}()
			log.Info("oktasim: listening", "org_url", orgURL, "users", users, "seed", seed)
			select {
			case <-ctx.Done():
			case err = <-errc:
			}
			cancel()
			shut, stop := context.WithTimeout(context.Background(), 5*time.Second)
			defer stop()
			_ = srv.Shutdown(shut)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "http", oktasimEnv("CLARION_SIM_HTTP", "127.0.0.1:8081"), "listen address (CLARION_SIM_HTTP)")
	f.IntVar(&users, "users", oktasimEnvInt("CLARION_SIM_USERS", 200), "users in the org (CLARION_SIM_USERS)")
	f.Int64Var(&seed, "seed", int64(oktasimEnvInt("CLARION_SIM_SEED", 1)), "traffic seed (CLARION_SIM_SEED)")
	f.DurationVar(&history, "history", 14*24*time.Hour, "past traffic the System Log holds at start")
	f.IntVar(&historyEvents, "history-events", 0, "size the history by events instead (e.g. 1000000)")
	f.Float64Var(&speed, "speed", 1, "simulated seconds per real second for live traffic")
	f.IntVar(&rateLimit, "rate-limit", 0, "requests per minute per endpoint family; 0 = off")
	f.StringVar(&orgURL, "org-url", "", "the org URL clients use (token audience, DPoP htu); default http://<listen address>")
	f.Float64Var(&attackRate, "attack-rate", 0, "attack incidents per user per day; 0 = default 0.005")
	f.BoolVar(&appSignOns, "app-sign-ons", false, "also log user.authentication.sso events")
	return cmd
}

func oktasimEnv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func oktasimEnvInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}
