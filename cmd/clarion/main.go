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

	"github.com/clarion-itdr/clarion/internal/app"
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
		newComponentCmd(app.TargetPoller, "Run the Okta System Log poller alone, against --kafka-brokers"),
		newComponentCmd(app.TargetProcessor, "Run detection alone, against --kafka-brokers"),
		newComponentCmd(app.TargetSource, "Run tenant-wide detection (password spray, credential stuffing) alone, against --kafka-brokers"),
		newComponentCmd(app.TargetSink, "Run the Parquet sink (and the ClickHouse sink with --clickhouse) alone, against --kafka-brokers"),
		newComponentCmd(app.TargetTriage, "Run the alert triage agent (deterministic, or an LLM with read-only tools) alone, against --kafka-brokers"),
		newComponentCmd(app.TargetResponder, "Run the responder (policy gate, approvals, Okta actions) alone, against --kafka-brokers"),
		newConsoleCmd(),
		newDemoCmd(),
		newOktasimCmd(),
		newKeysCmd(),
		newIntegrationCmd(),
		newBackfillCmd(),
		newEvalCmd(),
		newSchemaCmd(),
		newVersionCmd(),
	)
	return root
}
