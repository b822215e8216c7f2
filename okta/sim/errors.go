package sim

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
)

// Okta error codes the simulator answers with (Okta's own codes).
const (
	codeValidation  = "E0000001" // 400 Api validation failed
	codeForbidden   = "E0000006" // 403 You do not have permission
	codeNotFound    = "E0000007" // 404 Not found
	codeInvalidTok  = "E0000011" // 401 Invalid token provided
	codeMethod      = "E0000022" // 405 The endpoint does not support the provided HTTP method
	codeRateLimited = "E0000047" // 429 API call exceeded rate limit
)

type oktaError struct {
	ErrorCode    string       `json:"errorCode"`
	ErrorSummary string       `json:"errorSummary"`
	ErrorLink    string       `json:"errorLink"`
	ErrorID      string       `json:"errorId"`
	ErrorCauses  []errorCause `json:"errorCauses"`
}

type errorCause struct {
	ErrorSummary string `json:"errorSummary"`
}

func randID(prefix string, n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}

// writeOktaError answers with Okta's API error body.
func writeOktaError(w http.ResponseWriter, status int, code, summary string, causes ...string) {
	e := oktaError{ErrorCode: code, ErrorSummary: summary, ErrorLink: code, ErrorID: randID("oae", 22), ErrorCauses: []errorCause{}}
	for _, c := range causes {
		e.ErrorCauses = append(e.ErrorCauses, errorCause{c})
	}
	writeJSON(w, status, e)
}

// writeOAuthError answers with the OAuth 2.0 error body Okta's
// authorization server sends.
func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"errorCode":"E0000009","errorSummary":"Internal Server Error","errorCauses":[]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
