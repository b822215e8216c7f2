package console

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clarion-itdr/clarion/internal/api"
	"github.com/clarion-itdr/clarion/okta/sim"
)

const simPassword = "correct-horse-battery"

// oidcEnv is a console whose single sign-on is the simulated org.
type oidcEnv struct {
	*env
	org    *sim.Server
	orgURL string
	users  []sim.UserStatus
}

func newOIDCEnv(t *testing.T) *oidcEnv {
	t.Helper()
	org, err := sim.New(sim.Config{Users: 12, History: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	osrv := httptest.NewServer(org)
	t.Cleanup(osrv.Close)
	// The console's URL is known only once it listens: reserve it first.
	ln := httptest.NewUnstartedServer(nil)
	consoleURL := "http://" + ln.Listener.Addr().String()
	ln.Close()
	app, err := org.RegisterOIDCApp(sim.OIDCApp{RedirectURIs: []string{consoleURL + oidcCallback}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvAt(t, ln.Listener.Addr().String(), func(c *Config) {
		c.OIDC = &OIDCConfig{
			Issuer: osrv.URL, ClientID: app.ClientID, ClientSecret: app.ClientSecret, RedirectURL: consoleURL + oidcCallback,
			Groups: map[api.Role][]string{api.RoleViewer: {"Everyone"}, api.RoleAnalyst: {"Clarion Analysts"}, api.RoleApprover: {"Clarion Approvers"}},
		}
	})
	us := org.Users()
	for _, u := range us[:4] {
		if err := org.SetPassword(u.Login, simPassword); err != nil {
			t.Fatal(err)
		}
	}
	if err := org.AddGroups(us[0].Login, "Clarion Approvers"); err != nil {
		t.Fatal(err)
	}
	if err := org.AddGroups(us[1].Login, "Clarion Analysts"); err != nil {
		t.Fatal(err)
	}
	return &oidcEnv{env: e, org: org, orgURL: osrv.URL, users: us}
}

// signInOIDC walks the browser's part of the flow and returns the client
// (with its cookies) and the last response's status and body.
func (o *oidcEnv) signInOIDC(t *testing.T, login, password string) (*http.Client, int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar}
	resp, err := cl.Get(o.srv.URL + oidcLoginPath)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Request.URL.String(), o.orgURL+"/oauth2/v1/authorize") {
		t.Fatalf("login: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	form := url.Values{"username": {login}, "password": {password}}
	for k, v := range resp.Request.URL.Query() {
		form[k] = v
	}
	if !strings.Contains(string(page), `name="code_challenge"`) {
		t.Fatalf("the sign-in page carries no PKCE challenge: %s", page)
	}
	resp, err = cl.PostForm(o.orgURL+"/oauth2/v1/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return cl, resp.StatusCode, string(b)
}

func sessionOf(t *testing.T, cl *http.Client, base string) (int, sessionInfo) {
	t.Helper()
	resp, err := cl.Get(base + "/console/session")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info sessionInfo
	json.NewDecoder(resp.Body).Decode(&info)
	return resp.StatusCode, info
}

func TestOIDCSignInRoles(t *testing.T) {
	t.Parallel()
	o := newOIDCEnv(t)
	for _, tc := range []struct {
		name     string
		user     int
		password string
		status   int
		role     api.Role
	}{
		{"approver by group", 0, simPassword, 200, api.RoleApprover},
		{"analyst by group", 1, simPassword, 200, api.RoleAnalyst},
		{"viewer by Everyone", 2, simPassword, 200, api.RoleViewer},
		{"wrong password", 3, "not-the-password", 401, api.RoleNone},
		{"no password set", 5, simPassword, 401, api.RoleNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := o.users[tc.user]
			cl, code, body := o.signInOIDC(t, u.Login, tc.password)
			if code != tc.status {
				t.Fatalf("%d %s", code, body)
			}
			sc, info := sessionOf(t, cl, o.srv.URL)
			if tc.role == api.RoleNone {
				if sc != 401 {
					t.Fatalf("signed in: %+v", info)
				}
				return
			}
			p := info.Principal
			if sc != 200 || p.RoleName != tc.role.String() || p.Via != api.ViaSession ||
				p.ID != o.orgURL+"#"+u.ID || p.Email != u.Login || p.Name != u.FirstName+" "+u.LastName {
				t.Fatalf("session %d %+v", sc, info)
			}
			// The API sees the same principal.
			resp, err := cl.Get(o.srv.URL + "/api/me")
			if err != nil {
				t.Fatal(err)
			}
			var me api.Principal
			json.NewDecoder(resp.Body).Decode(&me)
			resp.Body.Close()
			if me.ID != p.ID || me.RoleName != tc.role.String() {
				t.Fatalf("me %+v", me)
			}
		})
	}
}

// TestOIDCNoRole: a user the IdP signs in but whose groups give no role
// gets no session.
func TestOIDCNoRole(t *testing.T) {
	t.Parallel()
	o := newOIDCEnv(t)
	o.con.oidc.cfg.Groups = map[api.Role][]string{api.RoleAdmin: {"Clarion Admins"}}
	cl, code, body := o.signInOIDC(t, o.users[0].Login, simPassword)
	if code != 403 || !strings.Contains(body, "no_role") {
		t.Fatalf("%d %s", code, body)
	}
	if sc, _ := sessionOf(t, cl, o.srv.URL); sc != 401 {
		t.Fatalf("session: %d", sc)
	}
}

// TestOIDCCallbackRefusals: a callback without the flow cookie, with
// another state, or with a code used once already starts no session.
func TestOIDCCallbackRefusals(t *testing.T) {
	t.Parallel()
	o := newOIDCEnv(t)
	jar, _ := cookiejar.New(nil)
	noRedirect := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// Start the flow and sign in at the org, but stop before the callback.
	resp, err := noRedirect.Get(o.srv.URL + oidcLoginPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authURL, _ := url.Parse(resp.Header.Get("Location"))
	form := url.Values{"username": {o.users[0].Login}, "password": {simPassword}}
	for k, v := range authURL.Query() {
		form[k] = v
	}
	resp, err = noRedirect.PostForm(o.orgURL+"/oauth2/v1/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb, _ := url.Parse(resp.Header.Get("Location"))
	if cb.Query().Get("code") == "" {
		t.Fatalf("no code: %s", cb)
	}
	get := func(cl *http.Client, u string) int {
		r, err := cl.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	q := cb.Query()
	q.Set("state", "another-state")
	bad := *cb
	bad.RawQuery = q.Encode()
	if c := get(noRedirect, bad.String()); c != 400 {
		t.Fatalf("other state: %d", c)
	}
	// The flow cookie was spent by that attempt: the right callback now fails too.
	if c := get(noRedirect, cb.String()); c != 400 {
		t.Fatalf("after the cookie was spent: %d", c)
	}
	// Without the cookie at all (another browser).
	if c := get(&http.Client{CheckRedirect: noRedirect.CheckRedirect}, cb.String()); c != 400 {
		t.Fatalf("no cookie: %d", c)
	}
	if sc, _ := sessionOf(t, noRedirect, o.srv.URL); sc != 401 {
		t.Fatalf("signed in: %d", sc)
	}
}

func TestRoleOfGroups(t *testing.T) {
	t.Parallel()
	o := &OIDCConfig{Groups: map[api.Role][]string{
		api.RoleViewer: {"Everyone"}, api.RoleAnalyst: {"SOC"}, api.RoleApprover: {"SOC Leads"}, api.RoleAdmin: {"Clarion Admins"},
	}}
	for _, tc := range []struct {
		groups []string
		want   api.Role
	}{
		{nil, api.RoleNone},
		{[]string{"Sales"}, api.RoleNone},
		{[]string{"Everyone"}, api.RoleViewer},
		{[]string{"Everyone", "SOC"}, api.RoleAnalyst},
		{[]string{"SOC Leads", "Everyone"}, api.RoleApprover},
		{[]string{"soc leads"}, api.RoleNone}, // exact names only
		{[]string{"Clarion Admins", "SOC"}, api.RoleAdmin},
	} {
		if got := o.RoleOf(tc.groups); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.groups, got, tc.want)
		}
	}
	for _, bad := range []OIDCConfig{
		{ClientID: "c", RedirectURL: "r", Groups: o.Groups},
		{Issuer: "i", RedirectURL: "r", Groups: o.Groups},
		{Issuer: "i", ClientID: "c", Groups: o.Groups},
		{Issuer: "i", ClientID: "c", RedirectURL: "r"},
		{Issuer: "i", ClientID: "c", RedirectURL: "r", Groups: map[api.Role][]string{api.Role(9): {"x"}}},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v validates", bad)
		}
	}
}
