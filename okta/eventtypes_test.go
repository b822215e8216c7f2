package okta

import (
	"html"
	"os"
	"strings"
	"testing"
)

// TestSignInEventTypesInWizard: the wizard lists every type of the
// catalog by its Admin Console name and id (the page is static HTML, so
// this test is what keeps the two in step).
func TestSignInEventTypesInWizard(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../console/static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	page := html.UnescapeString(string(b))
	seen := map[string]bool{}
	required := 0
	for _, et := range SignInEventTypes() {
		if seen[et.Type] {
			t.Errorf("%s listed twice", et.Type)
		}
		seen[et.Type] = true
		if et.Required {
			required++
		}
		if want := "<b>" + et.Name + "</b> (<code>" + et.Type + "</code>)"; !strings.Contains(page, want) {
			t.Errorf("the wizard does not list %s", want)
		}
	}
	if required != 1 || !SignInEventTypes()[0].Required || SignInEventTypes()[0].Type != "user.session.start" {
		t.Error("user.session.start must be the one required type, first")
	}
}
