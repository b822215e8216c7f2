package responder

import (
	"errors"
	"strings"
	"testing"

	"github.com/clarion-itdr/clarion/internal/record"
)

func TestParsePolicy(t *testing.T) {
	t.Parallel()
	def := DefaultPolicy()
	if def.Mode(kSuspend, record.SeverityCritical) != record.ModeApproval || def.Mode(kClear, record.SeverityCritical) != record.ModeAutomatic ||
		def.Mode(kClear, record.SeverityMedium) != record.ModeOff || def.Mode("reset_password", record.SeverityCritical) != record.ModeOff {
		t.Fatalf("default policy %s", def)
	}
	for _, tc := range []struct {
		in      string
		check   map[string]string // kind:Severity → mode
		errHave string
	}{
		{"", map[string]string{"suspend_user:Critical": "approval", "clear_sessions:Critical": "automatic", "suspend_user:Low": "off"}, ""},
		{"suspend_user:Critical=automatic,High=approval;clear_sessions:Critical=automatic",
			map[string]string{"suspend_user:Critical": "automatic", "suspend_user:High": "approval", "suspend_user:Medium": "off"}, ""},
		{" SUSPEND_USER : critical = Automatic ; ", map[string]string{"suspend_user:Critical": "automatic"}, ""},
		{"clear_sessions:Critical=off", map[string]string{"clear_sessions:Critical": "off", "suspend_user:High": "approval"}, ""},
		{DefaultPolicy().String(), map[string]string{"clear_sessions:Critical": "automatic"}, ""},
		{"reset_password:Critical=automatic", nil, `unknown action kind "reset_password"`},
		{"suspend_user:Severe=automatic", nil, `unknown severity "Severe"`},
		{"suspend_user:High=yes", nil, `unknown mode "yes"`},
		{"suspend_user=automatic", nil, "want kind:Severity=mode"},
		{"suspend_user:High", nil, "want Severity=mode"},
		{"suspend_user:", nil, "no Severity=mode pairs"},
		{"suspend_user:High=off;suspend_user:high=automatic", nil, "given twice"},
	} {
		p, err := ParsePolicy(tc.in)
		if tc.errHave != "" {
			if err == nil || !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), tc.errHave) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.errHave)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		for k, want := range tc.check {
			kind, sev, _ := strings.Cut(k, ":")
			if got := p.Mode(kind, sev); got != want {
				t.Errorf("%q: %s = %s, want %s", tc.in, k, got, want)
			}
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%q: parsed policy invalid: %v", tc.in, err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	ok := clients{}
	for _, tc := range []struct {
		name string
		cfg  Config
		err  string
	}{
		{"no brokers", Config{Okta: ok}, "Brokers"},
		{"no okta", Config{Brokers: []string{"x:1"}}, "Okta"},
		{"bad policy", Config{Brokers: []string{"x:1"}, Okta: ok, Policy: Policy{kSuspend: {"Critical": "sometimes"}}}, "unknown mode"},
		{"no keys", Config{Brokers: []string{"x:1"}, Okta: ok}, "Signer"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	keys := newTestKeys(t)
	if _, err := New(Config{Brokers: []string{"x:1"}, Okta: ok, Signer: keys.signer(record.SignerTriage), Verifier: keys.verifier}); err == nil || !strings.Contains(err.Error(), "signs as") {
		t.Errorf("a triage signer for the responder: %v", err)
	}
	r, err := New(Config{Brokers: []string{"x:1"}, Okta: ok, Signer: keys.signer(record.SignerResponder), Verifier: keys.verifier})
	if err != nil {
		t.Fatal(err)
	}
	if c := r.cfg; c.MaxAutoPerHour != 10 || c.ApprovalTimeout.Hours() != 1 || len(c.ProtectedGroups) != 1 || c.ProtectedGroups[0] != DefaultProtectedGroup {
		t.Fatalf("defaults %+v", c)
	}
	s := Settings{Policy: "suspend_user:Critical=automatic", ProtectedGroups: []string{""}, MaxAutoPerHour: 0}
	cfg, err := s.Config([]string{"x:1"}, ok, nil, nil)
	if err != nil || len(cfg.ProtectedGroups) != 0 || cfg.ProtectedGroups == nil || cfg.MaxAutoPerHour != -1 {
		t.Fatalf("settings: %+v %v", cfg, err)
	}
	if _, err := (Settings{Policy: "x"}).Config(nil, ok, nil, nil); err == nil || !strings.Contains(err.Error(), "--policy") {
		t.Fatalf("bad --policy: %v", err)
	}
}

// FuzzParsePolicy: any input either fails with ErrPolicy or gives a valid
// policy that prints and parses back to itself.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{"", "suspend_user:Critical=automatic,High=approval;clear_sessions:Critical=automatic",
		"clear_sessions:low=OFF", ";;", "suspend_user:High=off;suspend_user:high=automatic", "a:b=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy(s)
		if err != nil {
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("%q: error %v does not wrap ErrPolicy", s, err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		q, err := ParsePolicy(p.String())
		if err != nil || q.String() != p.String() {
			t.Fatalf("%q: round trip %q → %v %v", s, p.String(), q, err)
		}
	})
}
