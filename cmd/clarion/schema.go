package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/clarion-itdr/clarion/schemas"
)

func newSchemaCmd() *cobra.Command {
	var (
		server, database, cluster string
		retention                 time.Duration
	)
	cmd := &cobra.Command{
		Use:   "schema --server-version X.Y",
		Short: "Print the ClickHouse DDL Clarion runs against a server version",
		Long: `Prints, in order, every statement the ClickHouse sink runs at start against a
fresh server of that version: the database, schema_migrations, then each numbered
migration (schemas/migrations). The sink renders and runs the same statements
(schemas.NewPlan), skipping migrations already recorded in schema_migrations.
Servers from 22.3 get the modern dialect (DateTime64(3), LowCardinality, IPv6,
codecs, TTL from --retention), older ones the closest types they have.
--clickhouse-cluster renders ON CLUSTER DDL: Replicated engines and Distributed
tables (22.3 and later).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			if server == "" {
				return errors.New("--server-version is required (SELECT version() on the server, e.g. 24.8)")
			}
			v, err := schemas.ParseVersion(server)
			if err != nil {
				return fmt.Errorf("--server-version: %w", err)
			}
			plan, err := schemas.NewPlan(schemas.Options{Database: database, Retention: retention, Dialect: schemas.DialectFor(v), Cluster: cluster})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "-- for ClickHouse %v\n", v)
			_, err = plan.WriteTo(cmd.OutOrStdout())
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&server, "server-version", "", "ClickHouse server version MAJOR.MINOR (required)")
	fs.StringVar(&database, "database", "clarion", "database the tables are created in")
	fs.DurationVar(&retention, "retention", 0, "row TTL as for `clarion run --retention` (modern dialect; whole days); 0 keeps rows forever")
	fs.StringVar(&cluster, "clickhouse-cluster", "", "render ON CLUSTER DDL for this cluster (Replicated engines, Distributed tables)")
	envUsage(fs)
	return cmd
}
