package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/clarion-itdr/clarion/internal/api"
	"github.com/clarion-itdr/clarion/internal/app"
	"github.com/clarion-itdr/clarion/internal/secrets"
	"github.com/clarion-itdr/clarion/okta/sim"
)

// demoPeople makes the simulated org the console's identity provider
// (unless --oidc-issuer names another): an OIDC web app for the console,
// and three people, an approver, an analyst and a viewer, whose logins and
// one shared password go to <data-dir>/demo-people (mode 0600; passwords
// are never logged). It needs the console's public URL before the listener
// exists, so it applies only when that is known from --public-url or a
// fixed --http port.
func demoPeople(cfg *app.Config, s *sim.Server, orgURL string, log *slog.Logger) error {
	if cfg.People.OIDCIssuer != "" {
		return nil
	}
	public := cfg.PublicURL
	if public == "" {
		_, port, err := net.SplitHostPort(cfg.HTTPAddr)
		if err != nil || port == "" || port == "0" {
			log.Info("demo: console sign-in with the simulated org needs --public-url or a fixed --http port; admin token only")
			return nil
		}
		public = "http://127.0.0.1:" + port
	}
	redirect := strings.TrimRight(public, "/") + "/console/oidc/callback"
	oa, err := s.RegisterOIDCApp(sim.OIDCApp{RedirectURIs: []string{redirect}})
	if err != nil {
		return err
	}
	password := secrets.RandomToken(12)
	roles := []struct {
		role  api.Role
		group string
	}{{api.RoleApprover, "Clarion Approvers"}, {api.RoleAnalyst, "Clarion Analysts"}, {api.RoleViewer, "Clarion Viewers"}}
	users := s.Users()
	if len(users) < len(roles) {
		return fmt.Errorf("demo: the simulated org has %d users, need %d", len(users), len(roles))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Sign in to the console with the simulated org (%s); password for all: %s\n", orgURL, password)
	cfg.People.OIDCGroups = map[api.Role][]string{}
	for i, r := range roles {
		u := users[i]
		if err := s.SetPassword(u.Login, password); err != nil {
			return err
		}
		if err := s.AddGroups(u.Login, r.group); err != nil {
			return err
		}
		cfg.People.OIDCGroups[r.role] = []string{r.group}
		fmt.Fprintf(&b, "%-8s %s\n", r.role, u.Login)
	}
	path := filepath.Join(cfg.DataDir, "demo-people")
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return err
	}
	cfg.People.OIDCIssuer, cfg.People.OIDCClientID, cfg.People.OIDCClientSecret = orgURL, oa.ClientID, oa.ClientSecret
	if cfg.PublicURL == "" {
		cfg.PublicURL = public
	}
	log.Info("demo: console sign-in through the simulated org", "people_file", path)
	return nil
}
