// Package simtest connects tests and benchmarks to a simulated Okta org
// (okta/sim) the way Clarion connects to a real one: a service app with
// a private_key_jwt key, DPoP and the two scopes the setup guide grants.
package simtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"sync"

	"github.com/go-jose/go-jose/v4"

	"github.com/clarion-itdr/clarion/okta"
	"github.com/clarion-itdr/clarion/okta/sim"
)

// keys are generated once per process: RSA-2048 generation takes tens of
// milliseconds, and every test's app may share them.
var keys = sync.OnceValues(func() (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	ck, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	dk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return ck, dk
})

// ServiceApp registers a service app in s (scopes okta.logs.read and
// okta.users.manage, DPoP required) and returns an Okta client for it.
// url is where the org is served: s's own test server, or a proxy in front
// of it. base carries the client's other settings (retries, logger); its
// identity fields are set here.
func ServiceApp(s *sim.Server, url string, base okta.Config) (*okta.Client, error) {
	ck, dk := keys()
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ck.PublicKey, KeyID: "kid-1", Algorithm: "RS256", Use: "sig"}}}
	id, err := s.RegisterApp("", jwks, []string{okta.ScopeLogsRead, okta.ScopeUsersManage}, true)
	if err != nil {
		return nil, err
	}
	base.TenantURL, base.Insecure, base.ClientID, base.KeyID, base.ClientKey, base.DPoPKey = url, true, id, "kid-1", ck, dk
	return okta.New(base)
}
