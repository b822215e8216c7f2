// Package integration is Clarion's registry of connected Okta orgs: the
// values the setup wizard hands the admin (webhook secret, public key) and
// what Clarion keeps of them (a keyed hash of the secret, private keys
// encrypted with the master key).
//
// The registry lives in the compacted topic clarion.integrations, so it
// survives restarts and every replica (gateway, poller, responder) sees a
// new integration within a second of its creation.
package integration

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/clarion-itdr/clarion/internal/secrets"
	"github.com/clarion-itdr/clarion/okta"
)

// DefaultAuthField is the header name the admin types into Okta's event hook
// "Authentication field"; Okta sends the secret as that header's value.
const DefaultAuthField = "X-Clarion-Hook-Secret"

// Errors callers map to HTTP answers. None is retriable.
var (
	ErrNotFound = errors.New("integration: not found")
	ErrInvalid  = errors.New("integration: invalid request")
)

// Integration is one connected Okta org as stored. It holds no secret in the
// clear: the webhook secret only as a keyed hash, private keys sealed.
type Integration struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	TenantURL string    `json:"tenant_url"`
	ClientID  string    `json:"client_id"`
	Insecure  bool      `json:"insecure_tenant,omitempty"` // tenant URL checked with the insecure rules (simulated org)
	CreatedAt time.Time `json:"created_at"`

	AuthField  string `json:"auth_field"`
	SecretHash []byte `json:"secret_hash"`

	// KeyID and PublicKeyJWK are the client-assertion key the admin adds
	// in Okta; SealedKey its PKCS#8 private half, sealed.
	KeyID        string          `json:"key_id"`
	PublicKeyJWK json.RawMessage `json:"public_key_jwk"`
	SealedKey    []byte          `json:"sealed_key"`
	// SealedDPoPKey is the separate key that signs DPoP proofs (PKCS#8, sealed).
	SealedDPoPKey []byte `json:"sealed_dpop_key"`
}

// Public is what the API shows of an integration: no secret, no private key.
type Public struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	TenantURL    string          `json:"tenant_url"`
	ClientID     string          `json:"client_id"`
	WebhookURL   string          `json:"webhook_url"`
	AuthField    string          `json:"auth_field"`
	PublicKeyJWK json.RawMessage `json:"public_key_jwk"`
	CreatedAt    time.Time       `json:"created_at"`
	Hook         HookStatus      `json:"event_hook"`
}

// HookStatus is what the gateway has seen of an integration's event hook.
type HookStatus struct {
	VerifiedAt     *time.Time `json:"verified_at,omitempty"`
	LastDeliveryAt *time.Time `json:"last_delivery_at,omitempty"`
	// EventsPerMinute is the event rate over the last reporting window of
	// the replica that reported last.
	EventsPerMinute float64 `json:"events_per_minute"`
}

// CreateRequest is the body of POST /api/integrations.
type CreateRequest struct {
	Name      string `json:"name"`
	TenantURL string `json:"tenant_url"`
	ClientID  string `json:"client_id"`
}

// Created is the answer to a create: the only time the secret is shown.
type Created struct {
	Public
	AuthSecret string `json:"auth_secret"`
}

// WebhookURL joins a public base URL and an integration id.
func WebhookURL(publicURL, id string) string {
	return strings.TrimRight(publicURL, "/") + "/hooks/okta/" + id
}

// newIntegration validates req and generates the id, secret and keys.
// insecure relaxes the tenant URL rules (see okta.ValidateTenantURL).
func newIntegration(req CreateRequest, insecure bool, key *secrets.MasterKey, now time.Time) (*Integration, string, error) {
	req.Name = strings.TrimSpace(req.Name)
	req.ClientID = strings.TrimSpace(req.ClientID)
	if req.Name == "" {
		req.Name = "Okta"
	}
	if len(req.Name) > 200 {
		return nil, "", fmt.Errorf("%w: name is longer than 200 characters", ErrInvalid)
	}
	if req.ClientID == "" || len(req.ClientID) > 200 || strings.ContainsAny(req.ClientID, " \t\r\n\"\\/") {
		return nil, "", fmt.Errorf("%w: client_id must be the Client ID from the app's General tab", ErrInvalid)
	}
	tenant, err := okta.ValidateTenantURL(req.TenantURL, insecure)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}

	in := &Integration{
		// 128 random bits in hex: URL-safe, and never starting with '-'
		// (base64url can), which a command line would take for a flag.
		ID:        hex.EncodeToString(secrets.RandomBytes(16)),
		Name:      req.Name,
		TenantURL: tenant,
		ClientID:  req.ClientID,
		Insecure:  insecure,
		CreatedAt: now.UTC().Truncate(time.Millisecond),
		AuthField: DefaultAuthField,
	}
	secret := secrets.RandomToken(32) // 256 bits
	in.SecretHash = key.HashSecret([]byte(secret))

	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, "", err
	}
	pub := jose.JSONWebKey{Key: &priv.PublicKey, Algorithm: string(jose.RS256), Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, "", err
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	in.KeyID = pub.KeyID
	if in.PublicKeyJWK, err = pub.MarshalJSON(); err != nil {
		return nil, "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, "", err
	}
	in.SealedKey = key.Seal(der, aad(in.ID, "client-key"))

	dpop, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	if der, err = x509.MarshalPKCS8PrivateKey(dpop); err != nil {
		return nil, "", err
	}
	in.SealedDPoPKey = key.Seal(der, aad(in.ID, "dpop-key"))
	return in, secret, nil
}

func aad(id, what string) []byte { return []byte("clarion/integration/" + id + "/" + what) }

// ClientKey decrypts the integration's client-assertion private key.
func (in *Integration) ClientKey(key *secrets.MasterKey) (crypto.Signer, error) {
	return openKey(key, in.SealedKey, aad(in.ID, "client-key"))
}

// DPoPKey decrypts the integration's DPoP private key.
func (in *Integration) DPoPKey(key *secrets.MasterKey) (crypto.Signer, error) {
	return openKey(key, in.SealedDPoPKey, aad(in.ID, "dpop-key"))
}

func openKey(key *secrets.MasterKey, sealed, ad []byte) (crypto.Signer, error) {
	der, err := key.Open(sealed, ad)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("integration: private key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("integration: private key cannot sign")
	}
	return s, nil
}

// Public returns the API view of in.
func (in *Integration) Public(publicURL string, hook HookStatus) Public {
	return Public{
		ID: in.ID, Name: in.Name, TenantURL: in.TenantURL, ClientID: in.ClientID,
		WebhookURL: WebhookURL(publicURL, in.ID), AuthField: in.AuthField,
		PublicKeyJWK: in.PublicKeyJWK, CreatedAt: in.CreatedAt, Hook: hook,
	}
}
