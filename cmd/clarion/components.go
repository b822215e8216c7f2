package main

import (
	"github.com/spf13/cobra"

	"github.com/clarion-itdr/clarion/internal/app"
)

// newComponentCmd is `clarion poller|processor|sink`: one component alone
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
	if target == app.TargetSink {
		f.registerSinks(cmd.Flags())
	}
	envUsage(cmd.Flags())
	return cmd
}
