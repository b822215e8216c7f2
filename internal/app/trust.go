package app

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/clarion-itdr/clarion/internal/record"
	"github.com/clarion-itdr/clarion/okta"
)

// EnvTrustKeys names the environment variable that overrides the public
// keys the process trusts, per signer ("processor=base64,api=base64,...",
// record.ParsePublicKeys): for a split deployment whose components do not
// share one master key. Signers it does not name keep the key derived from
// the master key.
const EnvTrustKeys = "CLARION_TRUST_KEYS"

// EnvSigningKeys names the environment variable that gives this process
// its own signing keys ("processor=base64(seed),...",
// record.ParseSigningKeys) instead of keys derived from the master key:
// for a split deployment whose components do not share one master key
// (`clarion keys` prints them). The other components must then trust the
// matching public keys (EnvTrustKeys).
const EnvSigningKeys = "CLARION_SIGNING_KEYS"

// signer is this process's signing key for component name: from
// CLARION_SIGNING_KEYS when it names the component, else derived from the
// master key (docs/trust.md).
func (a *App) signer(name string) (*record.Signer, error) {
	own, err := record.ParseSigningKeys(os.Getenv(EnvSigningKeys))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvSigningKeys, err)
	}
	if s, ok := own[name]; ok {
		return s, nil
	}
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
		s, err := a.signer(n) // this process's own key, if it signs as n
		if err != nil {
			return nil, err
		}
		keys[n] = s.Public()
	}
	return record.NewVerifier(keys)
}

// OktaBase is the Okta client configuration every component of the
// process starts from: test tenants (http, IP, loopback) allowed only
// while --allow-insecure-tenants is set, the allowed Okta domains, log.
func (a *App) OktaBase(log *slog.Logger) okta.Config {
	return okta.Config{Logger: log, Insecure: a.cfg.AllowInsecureTenants, AllowedDomains: a.cfg.OktaDomains}
}
