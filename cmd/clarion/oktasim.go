package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
		catchUp       time.Duration
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
				Speed: speed, CatchUp: catchUp, RateLimitPerMinute: rateLimit, OrgURL: orgURL,
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
	f.StringVar(&addr, "http", "127.0.0.1:8081", "listen address")
	f.IntVar(&users, "users", 200, "users in the org")
	f.Int64Var(&seed, "seed", 1, "traffic seed")
	f.DurationVar(&history, "history", 14*24*time.Hour, "past traffic the System Log holds at start")
	f.IntVar(&historyEvents, "history-events", 0, "size the history by events instead (e.g. 1000000)")
	f.Float64Var(&speed, "speed", 1, "simulated seconds per real second for live traffic")
	f.DurationVar(&catchUp, "catch-up", 0, "with --speed above 1: start this far behind the wall clock and never run past it")
	f.IntVar(&rateLimit, "rate-limit", 0, "requests per minute per endpoint family; 0 = off")
	f.StringVar(&orgURL, "org-url", "", "the org URL clients use (token audience, DPoP htu); default http://<listen address>")
	f.Float64Var(&attackRate, "attack-rate", 0, "attack incidents per user per day; 0 = default 0.005")
	f.BoolVar(&appSignOns, "app-sign-ons", false, "also log user.authentication.sso events")
	// Every flag has an environment equivalent: CLARION_SIM_<FLAG>, e.g.
	// CLARION_SIM_RATE_LIMIT=600; the command line wins.
	f.VisitAll(func(fl *pflag.Flag) {
		env := "CLARION_SIM_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && v != "" {
			_ = fl.Value.Set(v)
			fl.DefValue = v
		}
		fl.Usage += " [" + env + "]"
	})
	return cmd
}
