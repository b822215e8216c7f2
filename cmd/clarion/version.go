package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Clarion's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rev := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = s.Value
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "clarion %s %s %s\n", version, rev, bi.GoVersion)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "clarion %s\n", version)
			return nil
		},
	}
}
