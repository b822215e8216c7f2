// Command clarion is Clarion's single binary: every component together
// (`clarion run`), each component alone (`clarion gateway`, ...), and the
// admin tools (`clarion integration`, `clarion version`).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		if !errors.Is(err, errSilent) {
			fmt.Fprintln(os.Stderr, "clarion:", err)
		}
		os.Exit(1)
	}
}

// errSilent is returned by commands that already told the user what failed.
var errSilent = errors.New("failed")

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "clarion",
		Short:         "Identity threat detection and response for Okta",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newRunCmd(),
		newGatewayCmd(),
		newIntegrationCmd(),
		newVersionCmd(),
	)
	return root
}
