package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/internal/secrets"
)

// TestKeysCommand: `clarion keys` prints the public keys every component
// derives from the master key, and --signing-key one component's private
// key, both in the forms CLARION_TRUST_KEYS and CLARION_SIGNING_KEYS read.
func TestKeysCommand(t *testing.T) {
	dir := t.TempDir()
	key, _, err := secrets.LoadOrCreateMasterKey("", filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CLARION_MASTER_KEY", "")
	run := func(args ...string) string {
		t.Helper()
		cmd := newKeysCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetArgs(append([]string{"--data-dir", dir}, args...))
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out.String())
	}
	trust, ok := strings.CutPrefix(run(), "CLARION_TRUST_KEYS=")
	if !ok {
		t.Fatalf("output %q", trust)
	}
	pub, err := record.ParsePublicKeys(trust)
	if err != nil || len(pub) != len(record.Signers()) {
		t.Fatalf("%v %v", pub, err)
	}
	seed, ok := strings.CutPrefix(run("--signing-key", record.SignerProcessor), "CLARION_SIGNING_KEYS=")
	if !ok {
		t.Fatalf("output %q", seed)
	}
	own, err := record.ParseSigningKeys(seed)
	if err != nil {
		t.Fatal(err)
	}
	derived, _ := record.DeriveSigner(key, record.SignerProcessor)
	if !own[record.SignerProcessor].Public().Equal(derived.Public()) || !pub[record.SignerProcessor].Equal(derived.Public()) {
		t.Fatal("printed keys do not match the derived ones")
	}
}
