package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/clarion-itdr/clarion/console"
	"github.com/clarion-itdr/clarion/internal/api"
)

// People configures who may use Clarion: console single sign-on, the
// reverse proxies trusted for client addresses, and where /metrics listens.
type People struct {
	// OIDCIssuer, OIDCClientID and OIDCClientSecret turn console single
	// sign-on on (any OpenID Connect provider; Okta in practice). Empty
	// issuer: only the admin token signs in.
	OIDCIssuer, OIDCClientID, OIDCClientSecret string
	// OIDCGroups maps each role to the IdP groups that grant it.
	OIDCGroups map[api.Role][]string
	// OIDCGroupsClaim names the ID token claim with the groups. Default "groups".
	OIDCGroupsClaim string
	// TrustedProxies are reverse proxies whose X-Forwarded-For names the
	// client, for throttling and audit.
	TrustedProxies []netip.Prefix
	// SecureCookies marks console cookies Secure on every response.
	SecureCookies bool
	// MetricsAddr serves /metrics on its own listener (keep it off the
	// public hook listener: its labels name integrations). Empty: /metrics
	// is on HTTPAddr.
	MetricsAddr string
}

func (a *App) openAccess(ctx context.Context) (*api.Access, error) {
	access, err := api.OpenAccess(ctx, a.Brokers, a.log.With("component", "api"), a.kafkaOpts...)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, access.Close)
	return access, nil
}

// oidcConfig is the console's single sign-on, or nil.
func (a *App) oidcConfig() *console.OIDCConfig {
	p := a.cfg.People
	if p.OIDCIssuer == "" {
		return nil
	}
	return &console.OIDCConfig{
		Issuer: p.OIDCIssuer, ClientID: p.OIDCClientID, ClientSecret: p.OIDCClientSecret,
		RedirectURL: strings.TrimRight(a.cfg.PublicURL, "/") + "/console/oidc/callback",
		GroupsClaim: p.OIDCGroupsClaim, Groups: p.OIDCGroups,
	}
}

// serveMetrics mounts h at /metrics: on its own listener when MetricsAddr
// is set, else on the main mux.
func (a *App) serveMetrics(h http.Handler) error {
	addr := a.cfg.People.MetricsAddr
	if addr == "" {
		a.Mux.Handle("GET /metrics", h)
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s (metrics): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("metrics listener", "err", err)
		}
	}()
	a.closers = append(a.closers, func() { srv.Close() })
	a.log.Info("metrics on their own listener", "addr", ln.Addr().String())
	return nil
}

// warnPublicURL warns when Okta and browsers would reach Clarion over
// plain http or at a loopback address.
func (a *App) warnPublicURL() {
	u, err := url.Parse(a.cfg.PublicURL)
	if err != nil {
		a.log.Warn("the public URL does not parse", "public_url", a.cfg.PublicURL, "err", err)
		return
	}
	host := u.Hostname()
	loop := host == "localhost"
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		loop = true
	}
	switch {
	case loop:
		a.log.Warn("the public URL is a loopback address: Okta cannot deliver event hooks and only this host can sign in; set --public-url", "public_url", a.cfg.PublicURL)
	case u.Scheme != "https":
		a.log.Warn("the public URL is plain http: sessions, tokens and hook secrets cross the network in the clear; put Clarion behind https", "public_url", a.cfg.PublicURL)
	}
}

// MetricsAddr is the address of the separate metrics listener ("" without).
func (a *App) MetricsAddr() string { return a.cfg.People.MetricsAddr }

// usesMasterKey reports whether target opens sealed secrets or checks hook
// secrets: the processor and the sink never do, so Kubernetes gives them
// no master key (deploy/kubernetes) and they do not warn about a
// generated one.
func usesMasterKey(target string) bool {
	return target != TargetProcessor && target != TargetSink
}

// actionLookup names an action's alert, kind and user for the audit
// records of approvals, from the console's read model.
func actionLookup(con *console.Console) api.ActionLookup {
	return func(id string) (api.ActionInfo, bool) {
		act, ok := con.Alerts().Action(id)
		if !ok {
			return api.ActionInfo{}, false
		}
		return api.ActionInfo{AlertID: act.AlertID, IntegrationID: act.IntegrationID, Kind: act.Kind, UserID: act.User.ID, UserLogin: act.User.Login}, true
	}
}
