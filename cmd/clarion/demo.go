package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/clarion-itdr/clarion/internal/app"
	"github.com/clarion-itdr/clarion/internal/demo"
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

			if err := demoPeople(&cfg, s, orgURL, log); err != nil {
				return err
			}
			a, err := app.New(ctx, cfg, app.TargetAll)
			if err != nil {
				return err
			}
			runErr := make(chan error, 1)
			go func() { runErr <- a.Run(ctx) }()

			integ, err := demo.Connect(ctx, "http://"+a.Addr(), a.Token, orgURL, log)
			if err != nil {
				log.Error("demo setup failed", "err", err)
				return errors.Join(err, <-runErr)
			}
			if simHistory > 0 {
				go demo.ImportHistory(ctx, a, integ, simHistory, log)
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
