package integration

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/bus/bustest"
	"github.com/clarion-itdr/clarion/internal/secrets"
	"github.com/clarion-itdr/clarion/okta"
)

func testKey(t *testing.T) *secrets.MasterKey {
	t.Helper()
	k, err := secrets.NewMasterKey(make([]byte, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestStoreCreateReplayAndFollow(t *testing.T) {
	t.Parallel()
	c := bustest.New(t, 1)
	key := testKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	a, err := Open(ctx, c.Brokers, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, c.Brokers, key, nil) // a second replica, following
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	in, secret, err := a.Create(ctx, CreateRequest{Name: "acme", TenantURL: "https://acme.okta.com/", ClientID: "0oa1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) < 43 { // 32 bytes base64url
		t.Fatalf("secret too short: %d", len(secret))
	}
	if in.TenantURL != "https://acme.okta.com" {
		t.Fatalf("tenant not normalised: %q", in.TenantURL)
	}
	if !key.CheckSecret([]byte(secret), in.SecretHash) || key.CheckSecret([]byte(secret+"x"), in.SecretHash) {
		t.Fatal("secret hash check wrong")
	}
	var jwk map[string]any
	if err := json.Unmarshal(in.PublicKeyJWK, &jwk); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"kty", "alg", "use", "kid", "n", "e"} {
		if _, ok := jwk[f]; !ok {
			t.Errorf("public key JWK lacks %q: %s", f, in.PublicKeyJWK)
		}
	}
	if _, ok := jwk["d"]; ok {
		t.Fatal("public JWK contains the private exponent")
	}
	if _, err := in.ClientKey(key); err != nil {
		t.Fatal(err)
	}
	if _, err := in.DPoPKey(key); err != nil {
		t.Fatal(err)
	}
	other, _ := secrets.NewMasterKey([]byte("0123456789abcdef0123456789abcdef"))
	if _, err := in.ClientKey(other); !errors.Is(err, secrets.ErrDecrypt) {
		t.Fatalf("wrong master key: got %v", err)
	}

	// The follower sees it within seconds.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := b.Get(in.ID); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("second replica never saw the integration")
		}
		time.Sleep(20 * time.Millisecond)
	}

	a.NoteVerified(in.ID)
	// A new replica replays everything.
	c2, err := Open(ctx, c.Brokers, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got, ok := c2.Get(in.ID); !ok || got.ClientID != "0oa1" {
		t.Fatalf("replay lost the integration: %+v", got)
	}
	deadline = time.Now().Add(10 * time.Second)
	for c2.Hook(in.ID).VerifiedAt == nil {
		if time.Now().After(deadline) {
			t.Fatal("hook verification not replicated")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCreateRejectsBadInput(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	for _, tc := range []struct {
		name     string
		req      CreateRequest
		insecure bool
	}{
		{"http", CreateRequest{TenantURL: "http://acme.okta.com", ClientID: "x"}, false},
		{"path", CreateRequest{TenantURL: "https://acme.okta.com/oauth2", ClientID: "x"}, false},
		{"query", CreateRequest{TenantURL: "https://acme.okta.com?x=1", ClientID: "x"}, false},
		{"userinfo", CreateRequest{TenantURL: "https://u:p@acme.okta.com", ClientID: "x"}, true},
		{"ip", CreateRequest{TenantURL: "https://169.254.169.254", ClientID: "x"}, false},
		{"ipv6", CreateRequest{TenantURL: "https://[::1]", ClientID: "x"}, false},
		{"localhost", CreateRequest{TenantURL: "https://localhost", ClientID: "x"}, false},
		{"no client", CreateRequest{TenantURL: "https://acme.okta.com"}, false},
		{"client with space", CreateRequest{TenantURL: "https://acme.okta.com", ClientID: "a b"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, _, err := newIntegration(tc.req, tc.insecure, key, time.Now()); !errors.Is(err, ErrInvalid) {
				t.Fatalf("want ErrInvalid, got %v", err)
			}
		})
	}
	if _, _, err := newIntegration(CreateRequest{TenantURL: "http://127.0.0.1:8081", ClientID: "x"}, true, key, time.Now()); err != nil {
		t.Fatalf("insecure loopback tenant refused: %v", err)
	}
}

// TestIDs: 128 random bits, URL-safe, and never a leading '-' that a
// command line would read as a flag.
func TestIDs(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		in, _, err := newIntegration(CreateRequest{TenantURL: "https://a.okta.com", ClientID: "c"}, false, key, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(in.ID) != 32 || strings.Trim(in.ID, "0123456789abcdef") != "" || seen[in.ID] {
			t.Fatalf("id %q", in.ID)
		}
		seen[in.ID] = true
	}
}

// TestInsecureNeedsTheServerNow: a test tenant created while the server
// allowed them (--allow-insecure-tenants) loses its http/loopback access
// once the server no longer allows them: no client is built for it.
func TestInsecureNeedsTheServerNow(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	in, _, err := newIntegration(CreateRequest{TenantURL: "http://127.0.0.1:8081", ClientID: "x"}, true, key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		serverAllows bool
		wantErr      bool
	}{{true, false}, {false, true}} {
		cfg, err := in.OktaConfig(key, okta.Config{Insecure: tc.serverAllows})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Insecure != tc.serverAllows {
			t.Fatalf("server allows %v: client Insecure %v", tc.serverAllows, cfg.Insecure)
		}
		_, err = in.OktaClient(key, okta.Config{Insecure: tc.serverAllows})
		if tc.wantErr != (err != nil) || (err != nil && !errors.Is(err, okta.ErrTenantURL)) {
			t.Fatalf("server allows %v: OktaClient error %v", tc.serverAllows, err)
		}
	}
	// A real tenant never becomes insecure because the server allows test
	// tenants.
	real, _, err := newIntegration(CreateRequest{TenantURL: "https://acme.okta.com", ClientID: "x"}, false, key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if cfg, _ := real.OktaConfig(key, okta.Config{Insecure: true}); cfg.Insecure {
		t.Fatal("a real tenant got the test tenants' access")
	}
}
