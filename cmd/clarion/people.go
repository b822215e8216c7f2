package main

import (
	"net"
	"net/netip"

	"github.com/spf13/pflag"

	"github.com/clarion-itdr/clarion/internal/api"
	"github.com/clarion-itdr/clarion/internal/app"
)

// peopleFlags configure console sign-in, roles, proxies and /metrics.
type peopleFlags struct {
	issuer, clientID, clientSecret, groupsClaim string
	groups                                      map[api.Role]*[]string
	trusted                                     []net.IPNet
	secureCookies                               bool
	metricsAddr                                 string
}

func (f *peopleFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.issuer, "oidc-issuer", "", "OpenID Connect issuer for console sign-in, e.g. https://<org>.okta.com; empty: only the admin token signs in")
	fs.StringVar(&f.clientID, "oidc-client-id", "", "client id of the console's OIDC web app")
	fs.StringVar(&f.clientSecret, "oidc-client-secret", "", "client secret of the console's OIDC web app (prefer the environment variable)")
	fs.StringVar(&f.groupsClaim, "oidc-groups-claim", "groups", "ID token claim with the user's groups")
	f.groups = map[api.Role]*[]string{}
	for _, r := range []api.Role{api.RoleViewer, api.RoleAnalyst, api.RoleApprover, api.RoleAdmin} {
		f.groups[r] = fs.StringSlice("oidc-"+r.String()+"-groups", nil, "IdP groups whose members sign in as "+r.String()+" (comma-separated; the highest role wins)")
	}
	fs.IPNetSliceVar(&f.trusted, "trusted-proxies", nil, "CIDRs of reverse proxies whose X-Forwarded-For names the client (throttling, audit)")
	fs.BoolVar(&f.secureCookies, "secure-cookies", false, "mark console cookies Secure even on plain-http requests (behind a TLS proxy that does not send X-Forwarded-Proto)")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve /metrics on this address instead of the --http listener (keep it private)")
}

func (f *peopleFlags) config() app.People {
	p := app.People{
		OIDCIssuer: f.issuer, OIDCClientID: f.clientID, OIDCClientSecret: f.clientSecret, OIDCGroupsClaim: f.groupsClaim,
		SecureCookies: f.secureCookies, MetricsAddr: f.metricsAddr, OIDCGroups: map[api.Role][]string{},
	}
	for r, gs := range f.groups {
		if gs != nil && len(*gs) > 0 {
			p.OIDCGroups[r] = *gs
		}
	}
	for _, n := range f.trusted {
		if pre, err := netip.ParsePrefix(n.String()); err == nil {
			p.TrustedProxies = append(p.TrustedProxies, pre.Masked())
		}
	}
	return p
}
