package okta

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Scopes Clarion requests. The setup guide grants exactly these two.
const (
	ScopeLogsRead    = "okta.logs.read"
	ScopeUsersManage = "okta.users.manage"
)

// TokenPath is the org authorization server's token endpoint, the only one
// that issues tokens for Okta's management APIs.
const TokenPath = "/oauth2/v1/token"

// Config configures a Client. Zero values get the documented defaults.
type Config struct {
	// TenantURL is the Okta org, like https://example.okta.com. Required;
	// checked by ValidateTenantURL before any request.
	TenantURL string
	// Insecure relaxes the tenant URL rules for a simulated org on loopback
	// (http, IP addresses) and lets the client connect to non-public
	// addresses. Never set it for a real org. integration.OktaConfig sets
	// it only when the integration is a test tenant and the server allows
	// test tenants now.
	Insecure bool
	// Resolver resolves the tenant's host name when a connection is made;
	// unless Insecure, only public addresses are dialled (see
	// ErrNonPublicAddress). Default net.DefaultResolver.
	Resolver Resolver
	// AllowedDomains, when set, limits tenant hosts (unless Insecure):
	// "*.okta.com" allows any name under okta.com, other entries name one
	// host (an org's custom domain). DefaultOktaDomains lists Okta's own.
	// Empty: any public host name.
	AllowedDomains []string
	// ClientID is the API Services app's client id. Required.
	ClientID string
	// KeyID is the kid of the client-assertion key, as registered in Okta.
	KeyID string
	// ClientKey signs client assertions: an RSA key (RS256, ≥ 2048 bits)
	// or a P-256 key (ES256). Required.
	ClientKey crypto.Signer
	// DPoPKey signs DPoP proofs (P-256, ES256). Nil disables DPoP: tokens
	// are requested and used as Bearer tokens.
	DPoPKey crypto.Signer
	// HTTPClient sends requests. Default: a client with a 30 s timeout.
	// Redirects are never followed, whatever this client's policy: a
	// redirect could carry credentials to another host. Unless Insecure,
	// its Transport must be nil or an *http.Transport: it is cloned with
	// a dialer that connects only to public addresses, and HTTP proxies
	// from the environment are not used.
	HTTPClient *http.Client
	// UserAgent is sent on every request. Default "clarion".
	UserAgent string
	// MaxRetries bounds retries of 5xx answers and transport errors per
	// call. Default 4; negative means none.
	MaxRetries int
	// RetryBackoff is the first retry delay; it doubles per retry, with
	// jitter, up to MaxBackoff. Defaults 500 ms and 30 s.
	RetryBackoff time.Duration
	MaxBackoff   time.Duration
	// MaxRateLimitRetries bounds how many 429 answers one call waits out.
	// Default 10; negative means none.
	MaxRateLimitRetries int
	// MaxRateLimitWait is the longest single wait for X-Rate-Limit-Reset;
	// a longer reset fails the call with KindRateLimited. Default 2 min.
	MaxRateLimitWait time.Duration
	// LowRemaining is the fraction of X-Rate-Limit-Limit below which calls
	// are spread out over the time left until the reset. Default 0.1.
	LowRemaining float64
	// TokenRefreshBefore renews a cached token this long before it expires
	// (at most half its lifetime). Default 5 min.
	TokenRefreshBefore time.Duration
	// MaxResponseBytes limits a response body. Default 64 MiB.
	MaxResponseBytes int64
	// Logger receives warnings (rate limits, retries). Default slog.Default().
	// Secrets (assertions, tokens, proofs) are never logged.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Client calls one Okta org's APIs as a service app. It is safe for
// concurrent use; tokens and rate-limit state are shared by all callers.
type Client struct {
	cfg      Config
	tenant   string
	base     *url.URL
	tokenURL string
	assert   *assertionSigner
	dpop     *dpopSigner
	hc       *http.Client
	log      *slog.Logger
	now      func() time.Time

	mu            sync.Mutex
	tokens        map[string]*tokenSlot
	tokenNonce    string
	resourceNonce string
	bearerOnly    bool // the org answered Bearer or refused proofs it does not need
	buckets       map[string]*bucket
	onRateLimited func(path string, wait time.Duration)
	sizeHint      atomic.Int64 // recent large body size, to presize reads
}

// OnRateLimited sets a function called on every 429 answer, with the path
// and the wait before the retry (0 when the call gives up). It is for
// metrics and must not block.
func (c *Client) OnRateLimited(fn func(path string, wait time.Duration)) {
	c.mu.Lock()
	c.onRateLimited = fn
	c.mu.Unlock()
}

type tokenSlot struct {
	sem chan struct{} // a lock that waiting callers can give up on (ctx)
	tok *accessToken
}

type accessToken struct {
	value   string
	typ     string // "DPoP" or "Bearer"
	scope   string
	expires time.Time
	renewAt time.Time
}

// TokenInfo describes a token without revealing it.
type TokenInfo struct {
	Type      string    `json:"token_type"`
	Scope     string    `json:"scope"`
	ExpiresAt time.Time `json:"expires_at"`
}

// New checks cfg and returns a Client. It makes no request; an invalid
// tenant URL is refused here (KindTenantURL), before any network access.
func New(cfg Config) (*Client, error) {
	tenant, err := ValidateTenantURL(cfg.TenantURL, cfg.Insecure)
	if err != nil {
		return nil, &Error{Kind: KindTenantURL, Op: "configure", Summary: err.Error(), Fix: fixTenantURL, Err: err}
	}
	if len(cfg.AllowedDomains) > 0 && !cfg.Insecure {
		if u, _ := url.Parse(tenant); u == nil || !domainAllowed(u.Hostname(), cfg.AllowedDomains) {
			err := fmt.Errorf("%w %q: not in the allowed Okta domains (%s)", ErrTenantURL, cfg.TenantURL, strings.Join(cfg.AllowedDomains, ", "))
			return nil, &Error{Kind: KindTenantURL, Op: "configure", Summary: err.Error(), Fix: fixTenantURL, Err: err}
		}
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return nil, errors.New("okta: client id is required")
	}
	if cfg.ClientKey == nil {
		return nil, errors.New("okta: client key is required")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	hc := *cfg.HTTPClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if !cfg.Insecure {
		if cfg.Resolver == nil {
			cfg.Resolver = net.DefaultResolver
		}
		switch t := hc.Transport.(type) {
		case nil:
			hc.Transport = guardedTransport(nil, cfg.Resolver)
		case *http.Transport:
			hc.Transport = guardedTransport(t, cfg.Resolver)
		default:
			return nil, fmt.Errorf("okta: HTTPClient.Transport %T cannot be limited to public addresses; use an *http.Transport", t)
		}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "clarion"
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 4
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.MaxRateLimitRetries == 0 {
		cfg.MaxRateLimitRetries = 10
	}
	if cfg.MaxRateLimitRetries < 0 {
		cfg.MaxRateLimitRetries = 0
	}
	if cfg.MaxRateLimitWait <= 0 {
		cfg.MaxRateLimitWait = 2 * time.Minute
	}
	if cfg.LowRemaining <= 0 {
		cfg.LowRemaining = 0.1
	}
	if cfg.TokenRefreshBefore <= 0 {
		cfg.TokenRefreshBefore = 5 * time.Minute
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 64 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	as, err := newAssertionSigner(cfg.ClientKey, cfg.KeyID)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg: cfg, tenant: tenant, tokenURL: tenant + TokenPath, assert: as,
		hc: &hc, log: cfg.Logger.With("okta", tenant), now: cfg.Now,
		tokens: map[string]*tokenSlot{}, buckets: map[string]*bucket{},
	}
	c.base, _ = url.Parse(tenant)
	if cfg.DPoPKey != nil {
		if c.dpop, err = newDPoPSigner(cfg.DPoPKey); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// TenantURL returns the normalised org URL.
func (c *Client) TenantURL() string { return c.tenant }

// ClientID returns the app's client id.
func (c *Client) ClientID() string { return c.cfg.ClientID }

// Token returns a description of a valid token for scopes (space-separated
// scope list, or several arguments), fetching one if none is cached.
func (c *Client) Token(ctx context.Context, scopes ...string) (TokenInfo, error) {
	t, err := c.token(ctx, strings.Join(scopes, " "))
	if err != nil {
		return TokenInfo{}, err
	}
	return TokenInfo{Type: t.typ, Scope: t.scope, ExpiresAt: t.expires}, nil
}

func (c *Client) slot(scope string) *tokenSlot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.tokens[scope]
	if s == nil {
		s = &tokenSlot{sem: make(chan struct{}, 1)}
		c.tokens[scope] = s
	}
	return s
}

// token returns a cached token for scope, or fetches one. One fetch per
// scope runs at a time; callers waiting for it honour their context.
func (c *Client) token(ctx context.Context, scope string) (*accessToken, error) {
	s := c.slot(scope)
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.sem }()
	if s.tok != nil && c.now().Before(s.tok.renewAt) {
		return s.tok, nil
	}
	t, err := c.fetchToken(ctx, scope)
	if err != nil {
		return nil, err
	}
	s.tok = t
	return t, nil
}

// dropToken forgets t so the next call fetches a new token.
func (c *Client) dropToken(ctx context.Context, scope string, t *accessToken) {
	s := c.slot(scope)
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	if s.tok == t {
		s.tok = nil
	}
	<-s.sem
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// fetchToken runs the client credentials grant with private_key_jwt and,
// when configured, DPoP, handling the nonce challenge, 429 and 5xx.
func (c *Client) fetchToken(ctx context.Context, scope string) (*accessToken, error) {
	const op = "get access token"
	u, _ := url.Parse(c.tokenURL)
	r := retrier{c: c}
	nonceRetries := 0
	var dpopErr *Error // a proof refusal, kept while a Bearer request is tried
	dpopRelearned := false
	for {
		// Pace first, so the assertion and proof are fresh when sent.
		if err := c.waitBucket(ctx, TokenPath); err != nil {
			return nil, err
		}
		c.mu.Lock()
		useDPoP := c.dpop != nil && !c.bearerOnly && dpopErr == nil
		nonce := c.tokenNonce
		c.mu.Unlock()

		now := c.now()
		assertion, err := c.assert.assertion(c.cfg.ClientID, c.tokenURL, now)
		if err != nil {
			return nil, fmt.Errorf("okta: sign client assertion: %w", err)
		}
		form := url.Values{
			"grant_type":            {grantClientCredentials},
			"scope":                 {scope},
			"client_assertion_type": {assertionTypeJWTBearer},
			"client_assertion":      {assertion},
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", c.cfg.UserAgent)
		if useDPoP {
			p, err := c.dpop.proof(http.MethodPost, u, "", nonce, now)
			if err != nil {
				return nil, fmt.Errorf("okta: sign DPoP proof: %w", err)
			}
			req.Header.Set("DPoP", p)
		}
		resp, body, err := c.send(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			e := &Error{Kind: KindTransport, Op: op, Method: http.MethodPost, Path: TokenPath, Retriable: true, Err: err}
			if errors.Is(err, ErrNonPublicAddress) {
				return nil, nonPublicError(e)
			}
			if werr := r.backoff(ctx, e); werr != nil {
				return nil, werr
			}
			continue
		}
		c.noteRateLimit(TokenPath, resp)
		if n := resp.Header.Get("DPoP-Nonce"); n != "" {
			c.mu.Lock()
			c.tokenNonce = n
			c.mu.Unlock()
		}
		if resp.StatusCode == http.StatusOK {
			var tr tokenResponse
			if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
				return nil, &Error{Kind: KindResponse, Op: op, Method: http.MethodPost, Path: TokenPath, StatusCode: resp.StatusCode,
					Summary: "the token response has no access_token", Retriable: true}
			}
			typ := "Bearer"
			switch {
			case strings.EqualFold(tr.TokenType, "DPoP"):
				if !useDPoP {
					return nil, &Error{Kind: KindResponse, Op: op, Method: http.MethodPost, Path: TokenPath, StatusCode: resp.StatusCode,
						Summary: "Okta issued a DPoP-bound token to a request without a DPoP proof"}
				}
				typ = "DPoP"
			case strings.EqualFold(tr.TokenType, "Bearer") || tr.TokenType == "":
				if c.dpop != nil && !c.bearerOnly {
					c.log.Info("the Okta app does not bind tokens with DPoP; using Bearer tokens")
					c.mu.Lock()
					c.bearerOnly = true
					c.mu.Unlock()
				}
			default:
				return nil, &Error{Kind: KindResponse, Op: op, Method: http.MethodPost, Path: TokenPath, StatusCode: resp.StatusCode,
					Summary: fmt.Sprintf("unknown token_type %q", tr.TokenType)}
			}
			life := time.Duration(tr.ExpiresIn) * time.Second
			if life <= 0 {
				life = time.Hour // Okta's documented lifetime of service-app tokens
			}
			before := c.cfg.TokenRefreshBefore
			if before > life/2 {
				before = life / 2
			}
			if tr.Scope == "" {
				tr.Scope = scope
			}
			return &accessToken{value: tr.AccessToken, typ: typ, scope: tr.Scope, expires: now.Add(life), renewAt: now.Add(life - before)}, nil
		}

		var oe oauthError
		_ = json.Unmarshal(body, &oe)
		e := &Error{Op: op, Method: http.MethodPost, Path: TokenPath, StatusCode: resp.StatusCode, Code: oe.Error, Summary: oe.Description}
		if oe.Error == "" {
			// Not an OAuth error body: Okta's API error shape (429, some 5xx).
			ae := parseAPIError(body)
			e.Code, e.Summary, e.ErrorID = ae.ErrorCode, ae.summary(), ae.ErrorID
		}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			e.Kind, e.Retriable = KindRateLimited, true
			if werr := r.rateLimited(ctx, e, resp); werr != nil {
				return nil, werr
			}
			continue
		case resp.StatusCode >= 500:
			e.Kind, e.Retriable = KindServer, true
			if werr := r.backoff(ctx, e); werr != nil {
				return nil, werr
			}
			continue
		case oe.Error == "use_dpop_nonce" && useDPoP:
			nonceRetries++
			if resp.Header.Get("DPoP-Nonce") == "" || nonceRetries > 2 {
				e.Kind, e.Fix = KindDPoP, fixDPoP
				if resp.Header.Get("DPoP-Nonce") == "" {
					e.Summary += " (no DPoP-Nonce header in the answer)"
				}
				return nil, e
			}
			continue
		case oe.Error == "invalid_dpop_proof":
			e.Kind, e.Fix = KindDPoP, fixDPoP
			if useDPoP {
				// Perhaps the app does not use DPoP and refuses proofs: try
				// once without; if Okta insists on a proof, report this one.
				dpopErr = e
				continue
			}
			if dpopErr != nil {
				return nil, dpopErr
			}
			c.mu.Lock()
			relearn := c.dpop != nil && c.bearerOnly && !dpopRelearned
			if relearn {
				// The admin turned DPoP on since Okta last issued Bearer.
				c.bearerOnly, dpopRelearned = false, true
			}
			c.mu.Unlock()
			if relearn {
				continue
			}
			return nil, e
		case oe.Error == "invalid_client":
			e.Kind, e.Fix = KindInvalidClient, fixInvalidClient(c.cfg.ClientID, c.cfg.KeyID)
		case oe.Error == "unauthorized_client":
			e.Kind, e.Fix = KindUnauthorizedClient, fixUnauthorizedClient
		case oe.Error == "invalid_scope" || oe.Error == "access_denied" || resp.StatusCode == http.StatusForbidden:
			e.Kind, e.Fix = KindScope, fixScope(scope)
		case resp.StatusCode == http.StatusUnauthorized:
			e.Kind, e.Fix = KindInvalidClient, fixInvalidClient(c.cfg.ClientID, c.cfg.KeyID)
		default:
			e.Kind = KindBadRequest
		}
		if dpopErr != nil && e.Kind != KindDPoP {
			// The Bearer attempt failed for another reason: the proof
			// refusal is the real story only if nothing else is wrong.
			if e.Kind == KindBadRequest {
				return nil, dpopErr
			}
		}
		return nil, e
	}
}

// send performs req without following redirects and reads the body up to
// the configured limit.
func (c *Client) send(req *http.Request) (*http.Response, []byte, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var body []byte
	if n := resp.ContentLength; n >= 0 && n <= c.cfg.MaxResponseBytes {
		// Known length (System Log pages are megabytes): one allocation.
		body = make([]byte, n)
		if _, err := io.ReadFull(resp.Body, body); err != nil {
			return nil, nil, err
		}
	} else {
		// Chunked: start at the size of the last large answer, so a
		// megabyte page is not regrown and copied a dozen times.
		buf := bytes.NewBuffer(make([]byte, 0, c.sizeHint.Load()+bytes.MinRead))
		if _, err := buf.ReadFrom(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1)); err != nil {
			return nil, nil, err
		}
		body = buf.Bytes()
		if n := int64(len(body)); n > 64<<10 {
			c.sizeHint.Store(n + n/16)
		}
	}
	if int64(len(body)) > c.cfg.MaxResponseBytes {
		return nil, nil, fmt.Errorf("response body larger than %d bytes", c.cfg.MaxResponseBytes)
	}
	return resp, body, nil
}

// request describes one API call.
type request struct {
	op     string
	method string
	u      *url.URL // absolute, on the tenant
	scope  string
	// notFoundOK makes 404 a plain response (the caller decides).
	notFoundOK bool
}

// response is a successful (or caller-accepted) API answer.
type response struct {
	status   int
	header   http.Header
	body     []byte
	attempts int
}

// do performs an API call with the token for req.scope, retrying as the
// Config says. Non-2xx answers become *Error.
func (c *Client) do(ctx context.Context, req request) (*response, error) {
	if err := c.checkURL(req.u); err != nil {
		return nil, err
	}
	bkt := bucketKey(req.u.Path)
	r := retrier{c: c}
	nonceRetried, refreshed := false, false
	attempts := 0
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tok, err := c.token(ctx, req.scope)
		if err != nil {
			return nil, err
		}
		if err := c.waitBucket(ctx, bkt); err != nil {
			return nil, err
		}
		hr, err := http.NewRequestWithContext(ctx, req.method, req.u.String(), nil)
		if err != nil {
			return nil, err
		}
		hr.Header.Set("Accept", "application/json")
		hr.Header.Set("User-Agent", c.cfg.UserAgent)
		if tok.typ == "DPoP" {
			c.mu.Lock()
			nonce := c.resourceNonce
			c.mu.Unlock()
			p, err := c.dpop.proof(req.method, req.u, tok.value, nonce, c.now())
			if err != nil {
				return nil, fmt.Errorf("okta: sign DPoP proof: %w", err)
			}
			hr.Header.Set("Authorization", "DPoP "+tok.value)
			hr.Header.Set("DPoP", p)
		} else {
			hr.Header.Set("Authorization", "Bearer "+tok.value)
		}
		attempts++
		resp, body, err := c.send(hr)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			e := &Error{Kind: KindTransport, Op: req.op, Method: req.method, Path: req.u.Path, Retriable: true, Err: err}
			if errors.Is(err, ErrNonPublicAddress) {
				return nil, nonPublicError(e)
			}
			if werr := r.backoff(ctx, e); werr != nil {
				return nil, werr
			}
			continue
		}
		c.noteRateLimit(bkt, resp)
		if n := resp.Header.Get("DPoP-Nonce"); n != "" {
			c.mu.Lock()
			c.resourceNonce = n
			c.mu.Unlock()
		}
		if resp.StatusCode/100 == 2 || (req.notFoundOK && resp.StatusCode == http.StatusNotFound) {
			return &response{status: resp.StatusCode, header: resp.Header, body: body, attempts: attempts}, nil
		}
		ae := parseAPIError(body)
		wa := parseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
		e := &Error{Op: req.op, Method: req.method, Path: req.u.Path, StatusCode: resp.StatusCode,
			Code: ae.ErrorCode, Summary: ae.summary(), ErrorID: ae.ErrorID}
		if e.Code == "" {
			e.Code = wa.err
		}
		if e.Summary == "" {
			e.Summary = wa.desc
		}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			e.Kind, e.Retriable = KindRateLimited, true
			if werr := r.rateLimited(ctx, e, resp); werr != nil {
				return nil, werr
			}
			continue
		case resp.StatusCode >= 500:
			e.Kind, e.Retriable = KindServer, true
			if werr := r.backoff(ctx, e); werr != nil {
				return nil, werr
			}
			continue
		case wa.err == "use_dpop_nonce" && tok.typ == "DPoP" && !nonceRetried && resp.Header.Get("DPoP-Nonce") != "":
			nonceRetried = true
			continue
		case wa.err == "invalid_dpop_proof" || wa.err == "use_dpop_nonce":
			e.Kind, e.Fix, e.Code = KindDPoP, fixDPoP, wa.err
			return nil, e
		case resp.StatusCode == http.StatusUnauthorized:
			if !refreshed {
				// Expired or revoked early: fetch a new token once.
				refreshed = true
				c.dropToken(ctx, req.scope, tok)
				continue
			}
			e.Kind = KindInvalidToken
			e.Fix = "Okta refused a fresh access token. Check that the Clarion app is active in Okta " +
				"(Applications > Applications) and that its keys were not rotated (setup guide Part 1, Step 3)."
			return nil, e
		case resp.StatusCode == http.StatusForbidden && wa.err == "insufficient_scope":
			e.Kind, e.Fix = KindScope, fixScope(req.scope)
			return nil, e
		case resp.StatusCode == http.StatusForbidden:
			e.Kind, e.Fix = KindAdminRole, fixAdminRole
			return nil, e
		case resp.StatusCode == http.StatusNotFound:
			e.Kind = KindNotFound
			return nil, e
		default:
			e.Kind = KindBadRequest
			return nil, e
		}
	}
}

// checkURL refuses a request to anything but the tenant (SSRF): next links
// and paths are followed only on the org's own origin.
func (c *Client) checkURL(u *url.URL) error {
	if u == nil || u.Scheme != c.base.Scheme || !strings.EqualFold(u.Host, c.base.Host) || u.User != nil {
		s := ""
		if u != nil {
			s = u.Redacted()
		}
		return &Error{Kind: KindTenantURL, Op: "check URL", Err: ErrTenantURL,
			Summary: fmt.Sprintf("refusing a request to %q: it is not on the tenant %s", s, c.tenant)}
	}
	return nil
}

// apiError is Okta's error body.
type apiError struct {
	ErrorCode    string `json:"errorCode"`
	ErrorSummary string `json:"errorSummary"`
	ErrorID      string `json:"errorId"`
	ErrorCauses  []struct {
		ErrorSummary string `json:"errorSummary"`
	} `json:"errorCauses"`
}

func parseAPIError(body []byte) apiError {
	var ae apiError
	_ = json.Unmarshal(body, &ae)
	return ae
}

func (a apiError) summary() string {
	s := a.ErrorSummary
	for _, c := range a.ErrorCauses {
		if c.ErrorSummary != "" {
			s += "; " + c.ErrorSummary
		}
	}
	return s
}

type wwwAuth struct{ err, desc string }

// parseWWWAuthenticate extracts error and error_description from
// WWW-Authenticate challenges (RFC 6750 / RFC 9449 style).
func parseWWWAuthenticate(values []string) wwwAuth {
	var out wwwAuth
	for _, v := range values {
		if e := authParam(v, "error"); e != "" && out.err == "" {
			out.err = e
			out.desc = authParam(v, "error_description")
		}
	}
	return out
}

func authParam(v, name string) string {
	for i := 0; i < len(v); {
		j := strings.Index(v[i:], name+"=")
		if j < 0 {
			return ""
		}
		j += i
		// The parameter name must start a token.
		if j > 0 && v[j-1] != ' ' && v[j-1] != ',' && v[j-1] != '\t' {
			i = j + len(name) + 1
			continue
		}
		rest := v[j+len(name)+1:]
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			for k := 1; k < len(rest); k++ {
				switch rest[k] {
				case '\\':
					if k+1 < len(rest) {
						k++
						b.WriteByte(rest[k])
					}
				case '"':
					return b.String()
				default:
					b.WriteByte(rest[k])
				}
			}
			return b.String()
		}
		if k := strings.IndexAny(rest, ", "); k >= 0 {
			return rest[:k]
		}
		return rest
	}
	return ""
}

// retrier counts retries of one call and sleeps between them.
type retrier struct {
	c         *Client
	retries   int
	rateLimit int
}

// backoff waits before retrying after a retriable failure e, or returns e
// when the retries are spent or ctx ends first.
func (r *retrier) backoff(ctx context.Context, e *Error) error {
	if r.retries >= r.c.cfg.MaxRetries {
		return e
	}
	d := r.c.cfg.RetryBackoff << r.retries
	if d > r.c.cfg.MaxBackoff || d <= 0 {
		d = r.c.cfg.MaxBackoff
	}
	d = d/2 + rand.N(d/2+1) // jitter: [d/2, d]
	r.retries++
	r.c.log.Warn("okta call failed; retrying", "op", e.Op, "status", e.StatusCode, "kind", e.Kind, "retry_in", d, "retry", r.retries)
	if err := sleep(ctx, d); err != nil {
		return err
	}
	return nil
}

// rateLimited waits until the X-Rate-Limit-Reset of a 429 answer, or
// returns e when the wait is too long, retries are spent or ctx ends.
func (r *retrier) rateLimited(ctx context.Context, e *Error, resp *http.Response) error {
	if r.rateLimit >= r.c.cfg.MaxRateLimitRetries {
		return e
	}
	r.rateLimit++
	d := r.c.resetWait(resp)
	if d <= 0 {
		d = r.c.cfg.RetryBackoff
	}
	if d > r.c.cfg.MaxRateLimitWait {
		e.Summary += fmt.Sprintf(" (the rate limit resets in %v)", d.Round(time.Second))
		r.c.mu.Lock()
		fn := r.c.onRateLimited
		r.c.mu.Unlock()
		if fn != nil {
			fn(e.Path, 0)
		}
		return e
	}
	d += rand.N(d/10 + time.Millisecond) // spread callers waiting for the same reset
	r.c.mu.Lock()
	fn := r.c.onRateLimited
	r.c.mu.Unlock()
	if fn != nil {
		fn(e.Path, d)
	}
	r.c.log.Warn("Okta rate limit reached; waiting for the reset", "op", e.Op, "path", e.Path, "wait", d)
	return sleep(ctx, d)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// bucket is the rate-limit state of one endpoint family, from Okta's
// X-Rate-Limit-* headers.
type bucket struct {
	limit, remaining int
	reset            time.Time // local clock
}

// bucketKey groups paths as Okta's rate limits do, by endpoint family:
// /api/v1/logs, /api/v1/users, /oauth2/v1/token.
func bucketKey(p string) string {
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			n++
			if n == 4 {
				return p[:i]
			}
		}
	}
	return p
}

// resetWait is how long until the X-Rate-Limit-Reset of resp, measured on
// Okta's clock (its Date header) so a skewed local clock does not matter.
func (c *Client) resetWait(resp *http.Response) time.Duration {
	reset, err := strconv.ParseInt(strings.TrimSpace(resp.Header.Get("X-Rate-Limit-Reset")), 10, 64)
	if err != nil || reset <= 0 {
		return 0
	}
	ref := c.now()
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		// Date has one-second resolution, truncated: reset - Date is the
		// longest the wait can be, so it never ends before the reset.
		ref = d
	}
	return time.Unix(reset, 0).Sub(ref)
}

func (c *Client) noteRateLimit(key string, resp *http.Response) {
	lim, err1 := strconv.Atoi(resp.Header.Get("X-Rate-Limit-Limit"))
	rem, err2 := strconv.Atoi(resp.Header.Get("X-Rate-Limit-Remaining"))
	if err1 != nil || err2 != nil {
		return
	}
	w := c.resetWait(resp)
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.buckets[key]
	if b == nil {
		b = &bucket{}
		c.buckets[key] = b
	}
	b.limit, b.remaining = lim, rem
	b.reset = c.now().Add(w)
}

// waitBucket paces calls when the endpoint's remaining budget runs low:
// with r calls left until the reset, each waits (reset - now)/(r+1), and
// none is sent once it is spent until the reset passes.
func (c *Client) waitBucket(ctx context.Context, key string) error {
	c.mu.Lock()
	var d time.Duration
	if b := c.buckets[key]; b != nil {
		d = paceDelay(b, c.now(), c.cfg.LowRemaining)
		if b.remaining > 0 {
			b.remaining-- // count calls in flight until the next answer says otherwise
		}
		if d > c.cfg.MaxRateLimitWait {
			d = c.cfg.MaxRateLimitWait
		}
	}
	c.mu.Unlock()
	if d > 0 {
		c.log.Debug("pacing Okta calls: rate limit budget low", "bucket", key, "wait", d)
	}
	return sleep(ctx, d)
}

// paceDelay is how long to wait before the next call on b: nothing while
// the budget is above lowFraction of the limit or the reset has passed; the
// time left until the reset once the budget is spent; and in between, the
// time left shared evenly among the calls left.
func paceDelay(b *bucket, now time.Time, lowFraction float64) time.Duration {
	left := b.reset.Sub(now)
	if left <= 0 {
		return 0
	}
	low := int(float64(b.limit) * lowFraction)
	if low < 1 {
		low = 1
	}
	switch {
	case b.remaining <= 0:
		return left
	case b.remaining <= low:
		return left / time.Duration(b.remaining+1)
	}
	return 0
}

// resolve returns the absolute URL of path (with query) on the tenant.
func (c *Client) resolve(pathAndQuery string) *url.URL {
	u, err := c.base.Parse(pathAndQuery)
	if err != nil {
		return nil
	}
	return u
}

// decodeJSON decodes an API body into v.
func decodeJSON(op string, r *response, v any) error {
	dec := json.NewDecoder(bytes.NewReader(r.body))
	if err := dec.Decode(v); err != nil {
		return &Error{Kind: KindResponse, Op: op, StatusCode: r.status, Summary: "cannot decode Okta's answer: " + err.Error(), Retriable: true}
	}
	return nil
}
