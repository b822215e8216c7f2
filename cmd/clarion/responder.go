package main

import (
	"github.com/spf13/cobra"

	"github.com/clarion-itdr/clarion/internal/app"
	"github.com/clarion-itdr/clarion/internal/integration"
	"github.com/clarion-itdr/clarion/okta"
	"github.com/clarion-itdr/clarion/responder"
)

// targetResponder names the responder-only process. internal/app has no
// constant for it yet; app.New treats an unknown target as "no built-in
// component", so the command adds the responder itself.
const targetResponder = "responder"

// newResponderCmd is `clarion responder`: the response stage alone
// against --kafka-brokers, with /metrics, /healthz and /readyz on --http.
// The approve/reject API (POST /api/actions/{id}/approve|reject) is served
// by the console process, which mounts responder.Handler.
func newResponderCmd() *cobra.Command {
	var f runFlags
	var s responder.Settings
	cmd := &cobra.Command{
		Use:   "responder",
		Short: "Run the responder (policy gate, approvals, Okta actions) alone, against --kafka-brokers",
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
			a, err := app.New(ctx, f.config(log), targetResponder)
			if err != nil {
				return err
			}
			clients := integration.NewClients(a.Store, okta.Config{Logger: log.With("component", "okta")})
			cfg, err := s.Config(a.Brokers, clients, log.With("component", "responder"), a.Registry)
			if err != nil {
				a.Close()
				return err
			}
			r, err := responder.New(cfg)
			if err != nil {
				a.Close()
				return err
			}
			a.Add("responder", r)
			return a.Run(ctx)
		},
	}
	f.register(cmd.Flags(), false)
	s.RegisterFlags(cmd.Flags())
	envUsage(cmd.Flags())
	return cmd
}
