package main

import (
	"github.com/spf13/cobra"

	"github.com/clarion-itdr/clarion/internal/app"
)

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run every Clarion component in one process (embedded Kafka unless --kafka-brokers)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTarget(cmd, &f, app.TargetAll)
		},
	}
	f.register(cmd.Flags(), true)
	f.registerSinks(cmd.Flags())
	f.registerResponse(cmd.Flags(), true, true)
	envUsage(cmd.Flags())
	return cmd
}

func newGatewayCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the Okta event hook gateway alone, against --kafka-brokers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTarget(cmd, &f, app.TargetGateway)
		},
	}
	f.register(cmd.Flags(), false)
	envUsage(cmd.Flags())
	return cmd
}

func runTarget(cmd *cobra.Command, f *runFlags, target string) error {
	if err := bindEnv(cmd); err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	a, err := app.New(ctx, f.config(log), target)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

func newConsoleCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Run the console API alone, against --kafka-brokers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTarget(cmd, &f, app.TargetConsole)
		},
	}
	f.register(cmd.Flags(), false)
	envUsage(cmd.Flags())
	return cmd
}
