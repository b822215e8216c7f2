package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/ingest/poller"
	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/integration"
	"github.com/clarion-itdr/clarion/internal/secrets"
	"github.com/clarion-itdr/clarion/okta"
)

// newBackfillCmd is `clarion backfill`: import an integration's System Log
// history into clarion.okta.events, with a progress bar.
func newBackfillCmd() *cobra.Command {
	var (
		id, since, until, brokers, dataDir, types string
		kf                                        kafkaFlags
		quiet, allowInsecure                      bool
	)
	cmd := &cobra.Command{
		Use:   "backfill --integration ID --since 24h",
		Short: "Import an Okta org's System Log history into Clarion",
		Long: `Reads the integration's Okta System Log between --since and --until and writes
every event to clarion.okta.events (source=poll), as the poller does. Okta keeps
90 days of System Log. Events already imported are written again and removed
downstream by their uuid, so running a backfill twice is harmless.

Kafka: --kafka-brokers, or the embedded Kafka of a running "clarion run"
(127.0.0.1:9092). The master key comes from CLARION_MASTER_KEY or
<data-dir>/master.key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd); err != nil {
				return err
			}
			ctx := cmd.Context()
			now := time.Now()
			from, err := backfillParseSince(since, now)
			if err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			to := now
			if until != "" {
				if to, err = backfillParseSince(until, now); err != nil {
					return fmt.Errorf("--until: %w", err)
				}
			}
			if id == "" {
				return errors.New("--integration is required (clarion integration list shows the ids)")
			}
			key, err := backfillLoadMasterKey(dataDir)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			bl := backfillSplitList(brokers)
			kopts, err := kf.s.Opts()
			if err != nil {
				return err
			}
			store, err := backfillOpenRegistry(ctx, bl, key, log, kopts...)
			if err != nil {
				return err
			}
			defer store.Close()
			in, ok := store.Get(id)
			if !ok {
				return fmt.Errorf("no integration %q (clarion integration list shows the ids)", id)
			}
			client, err := in.OktaClient(key, okta.Config{Logger: log, Insecure: allowInsecure})
			if err != nil {
				return err
			}
			prod, err := bus.NewClient(bl, log, append(poller.ProducerOpts(5*time.Millisecond), kopts...)...)
			if err != nil {
				return err
			}
			defer prod.Close()

			var out io.Writer = cmd.ErrOrStderr()
			if quiet {
				out = io.Discard
			}
			span := to.Sub(from)
			bar := progressbar.NewOptions64(int64(span/time.Second),
				progressbar.OptionSetWriter(out),
				progressbar.OptionSetDescription("importing"),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetElapsedTime(true),
				progressbar.OptionShowDescriptionAtLineEnd(),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionSetRenderBlankState(true),
			)
			fmt.Fprintf(out, "backfill %s (%s): %s .. %s, event types %s\n", in.ID, in.TenantURL,
				from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), strings.Join(backfillTypesOrDefault(types), ","))
			prog, err := poller.Backfill(ctx, poller.BackfillConfig{
				Client: client, IntegrationID: in.ID, Producer: prod, Since: from, Until: to,
				EventTypes: backfillSplitList(types), Logger: log,
				Progress: func(p poller.BackfillProgress) {
					bar.Describe(fmt.Sprintf("%d events, %.0f events/s, up to %s", p.Events, p.Rate(), p.Published.UTC().Format(time.RFC3339)))
					_ = bar.Set64(int64(p.Fraction() * float64(span/time.Second)))
				},
			})
			if err == nil {
				_ = bar.Finish()
			}
			fmt.Fprintln(out)
			if err != nil {
				// Okta errors carry the fix for the admin in their text.
				return fmt.Errorf("backfill stopped after %d events: %w", prog.Events, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d events in %s (%.0f events/s, %d pages)\n",
				prog.Events, prog.Elapsed.Round(time.Millisecond), prog.Rate(), prog.Pages)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&id, "integration", "", "integration id to import")
	f.StringVar(&since, "since", "24h", "start: a duration back from now (24h, 7d) or an RFC 3339 time (Okta keeps 90 days)")
	f.StringVar(&until, "until", "", "end: a duration back from now or an RFC 3339 time (default now)")
	f.StringVar(&brokers, "kafka-brokers", "127.0.0.1:9092", "Kafka seed brokers host:port,... (default: the embedded Kafka of a running clarion run)")
	kf.register(f)
	f.StringVar(&dataDir, "data-dir", "./data", "data directory of clarion run, holding master.key (or set CLARION_MASTER_KEY)")
	f.StringVar(&types, "event-types", "", "event types to import, comma-separated (default: user.session.start and the sign-in flow's types, okta.SignInEventTypes)")
	f.BoolVar(&quiet, "quiet", false, "no progress bar")
	f.BoolVar(&allowInsecure, "allow-insecure-tenants", false, "allow a test tenant's http/IP/loopback URL (the simulated org only)")
	envUsage(f)
	return cmd
}

func backfillTypesOrDefault(s string) []string {
	if l := backfillSplitList(s); len(l) > 0 {
		return l
	}
	return poller.DefaultEventTypes()
}

// backfillParseSince reads "24h", "90m", "7d" (back from now) or an RFC 3339 time.
func backfillParseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return time.Time{}, fmt.Errorf("%q is not a number of days", s)
		}
		return now.Add(-time.Duration(days) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor an RFC 3339 time", s)
	}
	return now.Add(-d), nil
}

func backfillSplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// backfillLoadMasterKey reads CLARION_MASTER_KEY or <dataDir>/master.key; unlike
// `clarion run` it never creates one (a new key could open nothing).
func backfillLoadMasterKey(dataDir string) (*secrets.MasterKey, error) {
	if v := os.Getenv("CLARION_MASTER_KEY"); v != "" {
		return secrets.ParseMasterKey(v)
	}
	path := filepath.Join(dataDir, "master.key")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("master key: set CLARION_MASTER_KEY or point --data-dir at the directory of `clarion run` (%w)", err)
	}
	k, err := secrets.ParseMasterKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func backfillOpenRegistry(ctx context.Context, brokers []string, key *secrets.MasterKey, log *slog.Logger, opts ...kgo.Opt) (*integration.Store, error) {
	octx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := integration.Open(octx, brokers, key, log, opts...)
	if err != nil {
		return nil, fmt.Errorf("read integrations from Kafka at %s: %w", strings.Join(brokers, ","), err)
	}
	return s, nil
}
