// Package okta talks to an Okta org: service-app OAuth (private_key_jwt with
// DPoP), the System Log API and the Users API.
package okta

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ErrTenantURL means a tenant URL was refused before any request was made.
// It is not retriable: the admin must correct the URL.
var ErrTenantURL = errors.New("invalid Okta tenant URL")

// ValidateTenantURL checks that raw names an Okta org safely and returns it
// normalised as scheme://host[:port] with no trailing slash.
//
// Clarion sends its credentials and follows links to this URL, so the rules
// are strict (SSRF): https only; a host only, with no path, query, fragment
// or userinfo; never an IP literal or localhost. insecure lifts the https,
// IP and localhost rules, for the simulated org on loopback; it never allows
// userinfo, a path or a query.
func ValidateTenantURL(raw string, insecure bool) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s", ErrTenantURL, raw, why)
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return bad("it is empty; use your org's URL, like https://example.okta.com")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("it does not parse as a URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && insecure:
	default:
		return bad("it must start with https://")
	}
	if u.User != nil {
		return bad("it must not contain a user name or password")
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return bad("it must be the org's address only, with no path or query (https://example.okta.com)")
	}
	host := u.Hostname()
	if host == "" {
		return bad("it has no host")
	}
	if !insecure {
		if net.ParseIP(strings.Trim(host, "[]")) != nil {
			return bad("it must be a host name, not an IP address")
		}
		lh := strings.ToLower(strings.TrimSuffix(host, "."))
		if lh == "localhost" || strings.HasSuffix(lh, ".localhost") || !strings.Contains(lh, ".") {
			return bad("it must be a public host name")
		}
	}
	for _, r := range host {
		if !(r == '.' || r == '-' || r == ':' || r == '[' || r == ']' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return bad("the host name has characters a DNS name cannot have")
		}
	}
	out := u.Scheme + "://" + strings.ToLower(u.Host)
	return out, nil
}
