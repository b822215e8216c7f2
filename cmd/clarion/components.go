package main

import (
	"github.com/spf13/cobra"

	"github.com/clarion-itdr/clarion/internal/app"
)

// newComponentCmd is `clarion poller|processor|sink|triage|responder`: one component alone
// against --kafka-brokers, with /metrics, /healthz and /readyz on --http.
func newComponentCmd(target, short string) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   target,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTarget(cmd, &f, target)
		},
	}
	f.register(cmd.Flags(), false)
	switch target {
	case app.TargetSink:
		f.registerSinks(cmd.Flags())
	case app.TargetTriage:
		f.registerResponse(cmd.Flags(), true, false)
	case app.TargetResponder:
		f.registerResponse(cmd.Flags(), false, true)
	}
	envUsage(cmd.Flags())
	return cmd
}
