package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/clarion-itdr/clarion/internal/integration"
	"github.com/clarion-itdr/clarion/okta"
)

// apiClient calls a running Clarion's console API, as the wizard does.
type apiClient struct {
	server string
	token  string
	http   *http.Client
}

type apiFlags struct {
	server  string
	dataDir string
	json    bool
}

func (f *apiFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.server, "server", "http://127.0.0.1:8080", "URL of a running Clarion")
	cmd.PersistentFlags().StringVar(&f.dataDir, "data-dir", "./data", "data dir holding admin-token, used when CLARION_ADMIN_TOKEN is unset")
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print the API's JSON answer")
}

func (f *apiFlags) client() (*apiClient, error) {
	tok := strings.TrimSpace(os.Getenv("CLARION_ADMIN_TOKEN"))
	if tok == "" {
		b, err := os.ReadFile(filepath.Join(f.dataDir, "admin-token"))
		if err != nil {
			return nil, fmt.Errorf("no admin token: set CLARION_ADMIN_TOKEN or point --data-dir at the server's data dir (%w)", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	return &apiClient{server: strings.TrimRight(f.server, "/"), token: tok, http: &http.Client{Timeout: 60 * time.Second}}, nil
}

// do sends a request and decodes a 2xx JSON answer into out (raw copy too).
func (c *apiClient) do(ctx context.Context, method, path string, in, out any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is clarion running at %s? %w", c.server, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error, Message string }
		if json.Unmarshal(raw, &e) == nil && e.Message != "" {
			return nil, fmt.Errorf("%s %s: %s (%s)", method, path, e.Message, resp.Status)
		}
		return nil, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
		}
	}
	return raw, nil
}

// hookSubscriptions is the event hook's subscription list as Okta's
// Admin Console names the types: the required one, then the optional ones
// (the poller reads those with okta.logs.read anyway).
func hookSubscriptions() string {
	var b strings.Builder
	b.WriteString("Okta Part 2, Step 3 (Subscribe to events):\n")
	for _, t := range okta.SignInEventTypes() {
		if t.Required {
			fmt.Fprintf(&b, "  required: %s (%s)\n", t.Name, t.Type)
		}
	}
	b.WriteString("  optional (they arrive sooner; Clarion's poller reads them either way):\n")
	for _, t := range okta.SignInEventTypes() {
		if !t.Required {
			fmt.Fprintf(&b, "    %s (%s)\n", t.Name, t.Type)
		}
	}
	b.WriteString("\n")
	return b.String()
}

func newIntegrationCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "integration",
		Short: "Create, list and verify Okta integrations through a running Clarion's API",
	}
	f.register(cmd)

	var req integration.CreateRequest
	var insecure bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an integration and print the values to enter in Okta",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var out integration.Created
			raw, err := c.do(cmd.Context(), http.MethodPost, "/api/integrations", map[string]any{
				"name": req.Name, "tenant_url": req.TenantURL, "client_id": req.ClientID, "insecure": insecure,
			}, &out)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if f.json {
				_, err = w.Write(raw)
				return err
			}
			fmt.Fprintf(w, "Integration %s created for %s.\n\n", out.ID, out.TenantURL)
			fmt.Fprintf(w, "Okta Part 1, Step 3 (Add key), Public Key JSON:\n  %s\n\n", out.PublicKeyJWK)
			fmt.Fprintf(w, "Okta Part 2, Step 2 (Event Hook):\n  URL:                   %s\n  Authentication field:  %s\n  Authentication secret: %s\n\n", out.WebhookURL, out.AuthField, out.AuthSecret)
			fmt.Fprint(w, hookSubscriptions())
			fmt.Fprintln(w, "The secret is shown only now: Clarion keeps only a hash of it.")
			return nil
		},
	}
	create.Flags().StringVar(&req.Name, "name", "Okta", "a name for this org")
	create.Flags().StringVar(&req.TenantURL, "tenant-url", "", "your Okta org, like https://example.okta.com")
	create.Flags().StringVar(&req.ClientID, "client-id", "", "the API Services app's Client ID")
	create.Flags().BoolVar(&insecure, "insecure", false, "allow an http/loopback tenant URL (simulated org; the server needs --allow-insecure-tenants)")
	_ = create.MarkFlagRequired("tenant-url")
	_ = create.MarkFlagRequired("client-id")

	list := &cobra.Command{
		Use:   "list",
		Short: "List integrations (no secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var out struct {
				Integrations []integration.Public `json:"integrations"`
			}
			raw, err := c.do(cmd.Context(), http.MethodGet, "/api/integrations", nil, &out)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if f.json {
				_, err = w.Write(raw)
				return err
			}
			for _, in := range out.Integrations {
				hook := "not verified"
				if in.Hook.VerifiedAt != nil {
					hook = "verified " + in.Hook.VerifiedAt.Format(time.RFC3339)
				}
				if in.Hook.LastDeliveryAt != nil {
					hook += ", last delivery " + in.Hook.LastDeliveryAt.Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s  %-20s %-40s client %s  hook: %s\n", in.ID, in.Name, in.TenantURL, in.ClientID, hook)
			}
			return nil
		},
	}

	verify := &cobra.Command{
		Use:   "verify ID",
		Short: "Check token, logs, users access and the event hook of an integration (changes nothing)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var out struct {
				OK     bool `json:"ok"`
				Checks []struct {
					Name   string `json:"name"`
					OK     bool   `json:"ok"`
					Detail string `json:"detail"`
					Fix    string `json:"fix"`
				} `json:"checks"`
			}
			raw, err := c.do(cmd.Context(), http.MethodPost, "/api/integrations/"+args[0]+"/verify", nil, &out)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if f.json {
				_, err = w.Write(raw)
			} else {
				for _, ch := range out.Checks {
					mark := "ok  "
					if !ch.OK {
						mark = "FAIL"
					}
					fmt.Fprintf(w, "%s %-13s %s\n", mark, ch.Name, ch.Detail)
					if !ch.OK && ch.Fix != "" {
						fmt.Fprintf(w, "     fix: %s\n", ch.Fix)
					}
				}
			}
			if err == nil && !out.OK {
				return errSilent
			}
			return err
		},
	}
	cmd.AddCommand(create, list, verify)
	return cmd
}
