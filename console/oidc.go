package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/clarion-itdr/clarion/internal/api"
	"github.com/clarion-itdr/clarion/internal/secrets"
)

// OIDCConfig configures single sign-on with any OpenID Connect provider
// (Okta in practice): the authorization code flow with PKCE, a nonce, and
// the ID token checked by go-oidc against the provider's keys. The role
// comes from the user's groups (the highest role any of them maps to); a
// user in none of the configured groups cannot sign in.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL (for Okta, https://<org>.okta.com
	// or an authorization server's URL). Required.
	Issuer string
	// ClientID and ClientSecret of the console's OIDC app. ClientID is
	// required; ClientSecret may be empty for a public client (PKCE only).
	ClientID, ClientSecret string
	// RedirectURL is the callback registered at the provider:
	// <public URL>/console/oidc/callback. Required.
	RedirectURL string
	// Scopes asked for. Default openid, profile, email, groups.
	Scopes []string
	// GroupsClaim names the claim with the user's groups. Default "groups".
	GroupsClaim string
	// Groups maps each role to the IdP groups that grant it.
	Groups map[api.Role][]string
	// HTTPClient talks to the provider. Default http.DefaultClient.
	HTTPClient *http.Client
}

// Validate reports what is missing.
func (o *OIDCConfig) Validate() error {
	if o.Issuer == "" || o.ClientID == "" || o.RedirectURL == "" {
		return errors.New("console: OIDC needs an issuer, a client id and a redirect URL")
	}
	n := 0
	for r, gs := range o.Groups {
		if r <= api.RoleNone || r > api.RoleAdmin {
			return fmt.Errorf("console: OIDC groups for an unknown role %d", int(r))
		}
		n += len(gs)
	}
	if n == 0 {
		return errors.New("console: OIDC needs at least one group mapped to a role")
	}
	return nil
}

// RoleOf returns the highest role any of groups grants (RoleNone: none).
func (o *OIDCConfig) RoleOf(groups []string) api.Role {
	best := api.RoleNone
	for r, want := range o.Groups {
		if r <= best {
			continue
		}
		for _, g := range groups {
			if slices.Contains(want, g) {
				best = r
				break
			}
		}
	}
	return best
}

// The short-lived cookie that carries the flow's state, nonce and PKCE
// verifier from /console/oidc/login to the callback. SameSite=Lax: the
// callback is a top-level navigation from the provider.
const (
	oidcCookie    = "clarion_oidc"
	oidcFlowTTL   = 10 * time.Minute
	oidcCallback  = "/console/oidc/callback"
	oidcLoginPath = "/console/oidc/login"
)

type oidcClient struct {
	cfg OIDCConfig
	key []byte
	now func() time.Time

	mu       sync.Mutex
	provider *oidc.Provider
}

func newOIDC(cfg OIDCConfig, token string, now func() time.Time) (*oidcClient, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "profile", "email", "groups"}
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("clarion/console/oidc-flow-key/v1"))
	return &oidcClient{cfg: cfg, key: mac.Sum(nil), now: now}, nil
}

func (o *oidcClient) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, o.cfg.HTTPClient)
}

// discover reads the provider's configuration once (retried on the next
// sign-in when it fails, so the console starts while the IdP is down).
func (o *oidcClient) discover(ctx context.Context) (*oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, nil
	}
	p, err := oidc.NewProvider(o.ctx(ctx), o.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	o.provider = p
	return p, nil
}

func (o *oidcClient) oauth(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, Endpoint: p.Endpoint(), RedirectURL: o.cfg.RedirectURL, Scopes: o.cfg.Scopes}
}

type oidcFlow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Expiry   int64  `json:"x"`
}

func (o *oidcClient) seal(f oidcFlow) string {
	b, _ := json.Marshal(f)
	mac := hmac.New(sha256.New, o.key)
	mac.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (o *oidcClient) open(v string) (oidcFlow, bool) {
	body, sig, ok := strings.Cut(v, ".")
	if !ok {
		return oidcFlow{}, false
	}
	b, err1 := b64.DecodeString(body)
	s, err2 := b64.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return oidcFlow{}, false
	}
	mac := hmac.New(sha256.New, o.key)
	mac.Write(b)
	if !hmac.Equal(s, mac.Sum(nil)) {
		return oidcFlow{}, false
	}
	var f oidcFlow
	if json.Unmarshal(b, &f) != nil || o.now().Unix() >= f.Expiry {
		return oidcFlow{}, false
	}
	return f, true
}

func (c *Console) setFlowCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: oidcCookie, Value: value, Path: "/console/oidc/", HttpOnly: true,
		Secure: c.cfg.SecureCookies || isHTTPS(r), SameSite: http.SameSiteLaxMode, MaxAge: maxAge,
	})
}

// oidcLogin is GET /console/oidc/login: it starts the flow and sends the
// browser to the provider.
func (c *Console) oidcLogin(w http.ResponseWriter, r *http.Request) {
	if c.throttled(w, r) {
		return
	}
	p, err := c.oidc.discover(r.Context())
	if err != nil {
		c.log.Error("console: OIDC discovery", "issuer", c.oidc.cfg.Issuer, "err", err)
		api.WriteError(w, http.StatusBadGateway, "idp_unreachable", "the identity provider's configuration could not be read; try again")
		return
	}
	f := oidcFlow{
		State: secrets.RandomToken(24), Nonce: secrets.RandomToken(24), Verifier: oauth2.GenerateVerifier(),
		Expiry: c.oidc.now().Add(oidcFlowTTL).Unix(),
	}
	c.setFlowCookie(w, r, c.oidc.seal(f), int(oidcFlowTTL.Seconds()))
	u := c.oidc.oauth(p).AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	http.Redirect(w, r, u, http.StatusSeeOther)
}

type idClaims struct {
	Subject           string `json:"sub"`
	Issuer            string `json:"iss"`
	Name              string `json:"name"`
	Email             string `json:"email"`
	PreferredUsername string `json:"preferred_username"`
}

// oidcCallback is GET /console/oidc/callback: it checks the state, trades
// the code (with the PKCE verifier) for tokens, verifies the ID token and
// its nonce, maps the groups to a role and starts a session.
func (c *Console) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if c.throttled(w, r) {
		return
	}
	fail := func(status int, code, why string, who api.Principal) {
		c.failSignIn(r, who, "oidc", why)
		api.WriteError(w, status, code, why)
	}
	ck, err := r.Cookie(oidcCookie)
	if err != nil {
		fail(http.StatusBadRequest, "no_flow", "the sign-in expired or was started elsewhere; start again", api.Principal{})
		return
	}
	c.setFlowCookie(w, r, "", -1)
	f, ok := c.oidc.open(ck.Value)
	q := r.URL.Query()
	if !ok || !secrets.EqualTokens(q.Get("state"), f.State) {
		fail(http.StatusBadRequest, "bad_state", "the sign-in state does not match; start again", api.Principal{})
		return
	}
	if e := q.Get("error"); e != "" {
		fail(http.StatusForbidden, "idp_refused", "the identity provider refused the sign-in: "+e, api.Principal{})
		return
	}
	p, err := c.oidc.discover(r.Context())
	if err != nil {
		api.WriteError(w, http.StatusBadGateway, "idp_unreachable", "the identity provider's configuration could not be read; try again")
		return
	}
	ctx := c.oidc.ctx(r.Context())
	tok, err := c.oidc.oauth(p).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		c.log.Warn("console: OIDC code exchange", "err", err)
		fail(http.StatusUnauthorized, "exchange_failed", "the identity provider did not accept the sign-in code", api.Principal{})
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		fail(http.StatusUnauthorized, "no_id_token", "the identity provider sent no ID token", api.Principal{})
		return
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: c.oidc.cfg.ClientID, Now: c.oidc.now}).Verify(ctx, raw)
	if err != nil {
		c.log.Warn("console: OIDC ID token", "err", err)
		fail(http.StatusUnauthorized, "bad_id_token", "the ID token did not verify", api.Principal{})
		return
	}
	if !secrets.EqualTokens(idt.Nonce, f.Nonce) {
		fail(http.StatusUnauthorized, "bad_nonce", "the ID token's nonce does not match", api.Principal{})
		return
	}
	var cl idClaims
	all := map[string]json.RawMessage{}
	if err := idt.Claims(&cl); err != nil || idt.Claims(&all) != nil {
		fail(http.StatusUnauthorized, "bad_claims", "the ID token's claims could not be read", api.Principal{})
		return
	}
	groups, ok := readGroups(all[c.oidc.cfg.GroupsClaim])
	if !ok {
		// Okta puts groups in the ID token only when the app's groups
		// claim filter says so; userinfo has them otherwise.
		if ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
			um := map[string]json.RawMessage{}
			if ui.Claims(&um) == nil {
				groups, _ = readGroups(um[c.oidc.cfg.GroupsClaim])
			}
		}
	}
	who := api.Principal{ID: idt.Issuer + "#" + idt.Subject, Name: cmpOr(cl.Name, cl.PreferredUsername, cl.Email, idt.Subject), Email: cl.Email}
	who.Role = c.oidc.cfg.RoleOf(groups)
	if who.Role == api.RoleNone {
		fail(http.StatusForbidden, "no_role", "your account is in none of the groups that give a Clarion role; ask an admin", who)
		return
	}
	if _, ok := c.signIn(w, r, who, "oidc"); !ok {
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func readGroups(raw json.RawMessage) ([]string, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	var gs []string
	if json.Unmarshal(raw, &gs) != nil {
		return nil, false
	}
	return gs, true
}

func cmpOr(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}
