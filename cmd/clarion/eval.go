package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/clarion-itdr/clarion/processor/eval"
)

// newEvalCmd is `clarion eval`: replay a scenario file through the detectors
// (or a baseline rule) and print precision, recall and F1 per anomaly type.
func newEvalCmd() *cobra.Command {
	var (
		scenarios string
		asJSON    bool
		baseline  string
		compare   bool
		explain   bool
	)
	cmd := &cobra.Command{
		Use:   "eval --scenarios FILE [--json] [--baseline okta-velocity|panther] [--compare] [--explain]",
		Short: "Score Clarion's detectors (or a baseline rule) on a scenario file",
		Long: `eval replays a JSONL scenario file, one {"event": <LogEvent>, "expect": [types]}
per line in delivery order, through the same detection code the processor runs,
without Kafka, and reports tp, fp, fn, precision, recall and f1 per anomaly type.

--baseline okta-velocity scores Okta's default velocity check (805 km/h against the
previous successful sign-in); --baseline panther scores Panther's
okta_geo_improbable_access rule (900 km/h against the last login).
--compare runs Clarion and both baselines on the same file.
--explain prints every false positive and negative with the event, each
detector's decision and rule, and the anomaly's evidence (sign-ins compared,
distances, speeds, precisions, egress decisions); and, when the file labels
its lines with "category", the scores per category.

Lines with "incident": "<id>" are also scored per incident for the
tenant-wide types (password_spray, credential_stuffing): an anomaly is a true
positive when an event it cites belongs to an incident expecting its type
(docs/detections-identity.md). --baseline panther then scores Panther's spray
rule (one IP failing for >= 10 users in 15 minutes).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if scenarios == "" {
				scenarios = os.Getenv("CLARION_SCENARIOS")
			}
			if scenarios == "" {
				return fmt.Errorf("eval: --scenarios is required")
			}
			modes := []string{baseline}
			if compare {
				modes = eval.Modes()
			}
			var reps []*eval.Report
			var incs []*eval.IncidentReport
			for _, m := range modes {
				f, err := eval.Open(scenarios)
				if err != nil {
					return err
				}
				rep, err := eval.RunWith(f, m, eval.Options{Explain: explain})
				f.Close()
				if err != nil {
					return err
				}
				reps = append(reps, rep)
				if incs, err = appendIncidents(incs, scenarios, m); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if len(reps) == 1 && incs == nil {
					return enc.Encode(reps[0])
				}
				return enc.Encode(map[string]any{"runs": reps, "incidents": incs})
			}
			for i, r := range reps {
				if i > 0 {
					fmt.Fprintln(out)
				}
				if err := r.WriteText(out); err != nil {
					return err
				}
			}
			for _, r := range incs {
				fmt.Fprintln(out)
				if err := r.WriteText(out); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&scenarios, "scenarios", "", "scenario JSONL file (env CLARION_SCENARIOS)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"detectors": {"<type>": {"tp","fp","fn","precision","recall","f1"}}}`)
	cmd.Flags().StringVar(&baseline, "baseline", eval.ModeClarion, "clarion, okta-velocity or panther")
	cmd.Flags().BoolVar(&compare, "compare", false, "run Clarion and both baselines")
	cmd.Flags().BoolVar(&explain, "explain", false, "explain every false positive and negative")
	return cmd
}

// appendIncidents adds the per-incident report of mode on the file when
// the file has incidents.
func appendIncidents(incs []*eval.IncidentReport, path, mode string) ([]*eval.IncidentReport, error) {
	f, err := eval.Open(path)
	if err != nil {
		return incs, err
	}
	defer f.Close()
	rep, err := eval.RunIncidents(f, mode)
	if err != nil {
		return incs, err
	}
	if rep.Incidents == 0 && rep.Anomalies == 0 {
		return incs, nil
	}
	return append(incs, rep), nil
}
