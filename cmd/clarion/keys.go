package main

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/clarion-itdr/clarion/internal/record"
)

// newKeysCmd prints the record-signing keys derived from the master key
// (docs/trust.md): the public keys for CLARION_TRUST_KEYS, and with
// --signing-key a component's own private key for CLARION_SIGNING_KEYS.
func newKeysCmd() *cobra.Command {
	var dataDir, signing string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Print the record-signing keys derived from the master key (for split deployments)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := backfillLoadMasterKey(dataDir)
			if err != nil {
				return err
			}
			if signing != "" {
				if !slices.Contains(record.Signers(), signing) {
					return fmt.Errorf("--signing-key: want one of %s", strings.Join(record.Signers(), ", "))
				}
				s, err := record.DeriveSigner(key, signing)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "CLARION_SIGNING_KEYS=%s=%s\n", signing, s.Seed())
				return nil
			}
			pub := map[string]ed25519.PublicKey{}
			for _, n := range record.Signers() {
				s, err := record.DeriveSigner(key, n)
				if err != nil {
					return err
				}
				pub[n] = s.Public()
			}
			fmt.Fprintf(cmd.OutOrStdout(), "CLARION_TRUST_KEYS=%s\n", record.FormatPublicKeys(pub))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "./data", "data directory holding master.key (or set CLARION_MASTER_KEY)")
	f.StringVar(&signing, "signing-key", "", "print this component's private signing key (processor, triage, responder, api) instead; keep it secret")
	envUsage(f)
	return cmd
}
