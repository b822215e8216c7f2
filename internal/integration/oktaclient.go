package integration

import (
	"fmt"

	"github.com/clarion-itdr/clarion/internal/secrets"
	"github.com/clarion-itdr/clarion/okta"
)

// OktaConfig returns base completed with what in knows of its org: the
// tenant URL, the client id, the key id and both private keys, decrypted
// with key. base carries the other settings (HTTP client, logger, retries,
// allowed domains) and, in Insecure, whether the server allows test
// tenants now; the result is Insecure only when in is a test tenant too.
func (in *Integration) OktaConfig(key *secrets.MasterKey, base okta.Config) (okta.Config, error) {
	ck, err := in.ClientKey(key)
	if err != nil {
		return okta.Config{}, fmt.Errorf("integration %s: client key: %w", in.ID, err)
	}
	dk, err := in.DPoPKey(key)
	if err != nil {
		return okta.Config{}, fmt.Errorf("integration %s: DPoP key: %w", in.ID, err)
	}
	// A test tenant keeps its http/IP/loopback access only while the
	// server allows test tenants (base.Insecure, from
	// --allow-insecure-tenants): removing the flag takes it away from
	// integrations created with it.
	base.TenantURL, base.Insecure = in.TenantURL, in.Insecure && base.Insecure
	base.ClientID, base.KeyID = in.ClientID, in.KeyID
	base.ClientKey, base.DPoPKey = ck, dk
	return base, nil
}

// OktaClient returns an Okta API client acting as in's service app.
func (in *Integration) OktaClient(key *secrets.MasterKey, base okta.Config) (*okta.Client, error) {
	cfg, err := in.OktaConfig(key, base)
	if err != nil {
		return nil, err
	}
	return okta.New(cfg)
}
