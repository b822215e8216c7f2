package okta

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// LogsPath is the System Log API.
const LogsPath = "/api/v1/logs"

// MaxLogsLimit is the largest page Okta serves.
const MaxLogsLimit = 1000

// LogQuery is the first request of a System Log read. Okta forbids mixing
// since and after: a read starts with since (and optionally until) and
// continues only by following the next links Okta returns.
type LogQuery struct {
	// Since is the earliest published time (inclusive). Zero: Okta's
	// default (seven days ago).
	Since time.Time
	// Until bounds the read (exclusive). Zero: a polling read that never ends.
	Until time.Time
	// Filter is a SCIM filter expression (see EventTypeFilter).
	Filter string
	// Limit is the page size, at most 1000. Zero: 1000.
	Limit int
	// Descending sorts newest first; the default is ASCENDING, the only
	// order in which following next links polls for new events.
	Descending bool
}

// EventTypeFilter returns the SCIM filter matching any of the event types:
// eventType eq "a" or eventType eq "b".
func EventTypeFilter(types ...string) string {
	parts := make([]string, 0, len(types))
	for _, t := range types {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		parts = append(parts, `eventType eq "`+strings.ReplaceAll(t, `"`, ``)+`"`)
	}
	return strings.Join(parts, " or ")
}

// LogsURL returns the absolute URL of the first page of q.
func (c *Client) LogsURL(q LogQuery) string {
	v := url.Values{}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	if q.Filter != "" {
		v.Set("filter", q.Filter)
	}
	if q.Limit <= 0 || q.Limit > MaxLogsLimit {
		q.Limit = MaxLogsLimit
	}
	v.Set("limit", strconv.Itoa(q.Limit))
	if q.Descending {
		v.Set("sortOrder", "DESCENDING")
	} else {
		v.Set("sortOrder", "ASCENDING")
	}
	return c.tenant + LogsPath + "?" + v.Encode()
}

// LogPage is one answer of the System Log API.
type LogPage struct {
	// Body is the JSON array of LogEvents exactly as Okta sent it.
	Body []byte
	// URL is the page's request URL; Next the rel="next" link ("" if
	// Okta sent none, which it does only for bounded reads).
	URL, Next string
	// RateLimitRemaining is X-Rate-Limit-Remaining (-1 if absent).
	RateLimitRemaining int
	// Attempts counts HTTP requests made for the page (retries included).
	Attempts int
}

// LogsPage fetches the page at pageURL (from LogsURL or a previous Next).
// The URL must be on the tenant and name the System Log API: links are
// never followed elsewhere.
func (c *Client) LogsPage(ctx context.Context, pageURL string) (*LogPage, error) {
	const op = "list logs"
	u, err := url.Parse(pageURL)
	if err != nil || u.Path != LogsPath {
		return nil, &Error{Kind: KindTenantURL, Op: op, Err: ErrTenantURL, Summary: fmt.Sprintf("refusing log page URL %q: not %s on the tenant", pageURL, LogsPath)}
	}
	if err := c.checkURL(u); err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodGet, u: u, scope: ScopeLogsRead})
	if err != nil {
		return nil, err
	}
	p := &LogPage{Body: resp.body, URL: pageURL, RateLimitRemaining: -1, Attempts: resp.attempts}
	if n, err := strconv.Atoi(resp.header.Get("X-Rate-Limit-Remaining")); err == nil {
		p.RateLimitRemaining = n
	}
	if next := NextLink(resp.header.Values("Link")); next != "" {
		nu, err := u.Parse(next) // relative links resolve against the page
		if err != nil || nu.Path != LogsPath || c.checkURL(nu) != nil {
			return nil, &Error{Kind: KindResponse, Op: op, Method: http.MethodGet, Path: LogsPath, StatusCode: resp.status,
				Summary: fmt.Sprintf("refusing to follow a next link off the tenant's System Log API: %q", next)}
		}
		p.Next = nu.String()
	}
	return p, nil
}

// NextLink returns the target of the rel="next" link among Link header
// values (RFC 8288), or "".
func NextLink(values []string) string {
	for _, v := range values {
		for len(v) > 0 {
			i := strings.IndexByte(v, '<')
			if i < 0 {
				break
			}
			j := strings.IndexByte(v[i:], '>')
			if j < 0 {
				break
			}
			target := v[i+1 : i+j]
			rest := v[i+j+1:]
			// Parameters run to the next comma that starts a new link.
			end := len(rest)
			if k := strings.Index(rest, ","); k >= 0 {
				if l := strings.IndexByte(rest, '<'); l >= 0 && l > k {
					end = k
				} else if l < 0 {
					end = k
				}
			}
			params := rest[:end]
			for _, p := range strings.Split(params, ";") {
				p = strings.TrimSpace(p)
				name, val, ok := strings.Cut(p, "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
					continue
				}
				for _, r := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(r, "next") {
						return target
					}
				}
			}
			v = rest[end:]
		}
	}
	return ""
}
