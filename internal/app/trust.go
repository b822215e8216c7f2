package app

import (
	"fmt"
	"os"

	"github.com/clarion-itdr/clarion/internal/record"
)

// EnvTrustKeys names the environment variable that overrides the public
// keys the process trusts, per signer ("processor=base64,api=base64,...",
// record.ParsePublicKeys): for a split deployment whose components do not
// share one master key. Signers it does not name keep the key derived from
// the master key.
const EnvTrustKeys = "CLARION_TRUST_KEYS"

// signer is this process's signing key for component name, derived from
// the master key (docs/trust.md).
func (a *App) signer(name string) (*record.Signer, error) {
	return record.DeriveSigner(a.Key, name)
}

// verifier trusts every signer's key derived from the master key, with
// the keys in CLARION_TRUST_KEYS instead where it names them.
func (a *App) verifier() (*record.Verifier, error) {
	keys, err := record.ParsePublicKeys(os.Getenv(EnvTrustKeys))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvTrustKeys, err)
	}
	for _, n := range record.Signers() {
		if _, ok := keys[n]; ok {
			continue
		}
		s, err := a.signer(n)
		if err != nil {
			return nil, err
		}
		keys[n] = s.Public()
	}
	return record.NewVerifier(keys)
}
