package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/clarion-itdr/clarion/internal/bus"
	"github.com/clarion-itdr/clarion/internal/secrets"
)

// AccessTopic is the compacted topic of API tokens and revoked console
// sessions. Key "t/<id>" holds a Token (its hash, never the secret); key
// "s/<session id>" a revoked session until its expiry. Every replica
// replays it, so a token issued or a session ended on one replica holds on
// all of them.
const AccessTopic = bus.TopicAccess

// Token kinds.
const (
	// TokenPersonal acts as the person who issued it, with at most their role.
	TokenPersonal = "personal"
	// TokenService is an automation's token, issued by an admin.
	TokenService = "service"
)

// TokenPrefix starts every API token, so secret scanners can find leaked ones.
const TokenPrefix = "clarion_"

// MaxTokenTTL bounds a token's lifetime.
const MaxTokenTTL = 366 * 24 * time.Hour

// Token is an API token as stored: the SHA-256 of its secret (the secret
// has 256 random bits, so a fast hash is enough), never the secret.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	Role      string    `json:"role"`
	OwnerID   string    `json:"owner_id"`
	OwnerName string    `json:"owner_name"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Hash      string    `json:"hash,omitempty"`
}

// Public is t without its hash.
func (t Token) Public() Token { t.Hash = ""; return t }

// TokenRequest asks for a new token.
type TokenRequest struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	Role string `json:"role"`
	// TTL in seconds; 0 means 90 days.
	TTLSeconds int64 `json:"ttl_seconds"`
}

// ErrForbidden: the principal may not do this with tokens.
var ErrForbidden = errors.New("api: not allowed")

// ErrInvalidToken: a bad token request.
var ErrInvalidToken = errors.New("api: invalid token request")

// Access is the token and session-revocation store on AccessTopic. Reads
// come from memory (a replay of the topic plus everything since). Safe for
// concurrent use.
type Access struct {
	cl  *kgo.Client
	log *slog.Logger
	now func() time.Time

	mu      sync.RWMutex
	tokens  map[string]*Token // id -> token
	byHash  map[string]string // hash -> id
	revoked map[string]time.Time

	done chan struct{}
}

// OpenAccess replays AccessTopic (which must exist) and follows it until
// Close.
func OpenAccess(ctx context.Context, brokers []string, log *slog.Logger, extra ...kgo.Opt) (*Access, error) {
	if log == nil {
		log = slog.Default()
	}
	cl, err := bus.NewClient(brokers, log, append(append(bus.ProducerOpts(0),
		kgo.ConsumeTopics(AccessTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond),
	), extra...)...)
	if err != nil {
		return nil, err
	}
	s := &Access{cl: cl, log: log, now: time.Now, tokens: map[string]*Token{}, byHash: map[string]string{}, revoked: map[string]time.Time{}, done: make(chan struct{})}
	if err := s.catchUp(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	go s.follow()
	return s, nil
}

func (s *Access) catchUp(ctx context.Context) error {
	ends, err := kadm.NewClient(s.cl).ListEndOffsets(ctx, AccessTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("api: read %s end offsets: %w", AccessTopic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	for len(want) > 0 {
		fs := s.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("api: replay %s: %w", AccessTopic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			s.apply(r)
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return nil
}

func (s *Access) follow() {
	defer close(s.done)
	for {
		fs := s.cl.PollFetches(context.Background())
		if fs.IsClientClosed() {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			s.log.Warn("access store fetch", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(s.apply)
	}
}

func (s *Access) apply(r *kgo.Record) {
	k := string(r.Key)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case strings.HasPrefix(k, "t/"):
		var t Token
		if err := json.Unmarshal(r.Value, &t); err != nil || t.ID != k[2:] {
			s.log.Warn("access store: bad token record", "key", k)
			return
		}
		if old, ok := s.tokens[t.ID]; ok && old.Hash != t.Hash {
			delete(s.byHash, old.Hash)
		}
		s.tokens[t.ID] = &t
		s.byHash[t.Hash] = t.ID
	case strings.HasPrefix(k, "s/"):
		var v struct {
			ExpiresAt time.Time `json:"expires_at"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			s.log.Warn("access store: bad session record", "key", k)
			return
		}
		now := s.now()
		for id, exp := range s.revoked {
			if !now.Before(exp) {
				delete(s.revoked, id)
			}
		}
		s.revoked[k[2:]] = v.ExpiresAt
	}
}

// Close stops following the topic.
func (s *Access) Close() {
	s.cl.Close()
	<-s.done
}

func (s *Access) put(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	rec := &kgo.Record{Topic: AccessTopic, Key: []byte(key), Value: b}
	if err := s.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("api: write %s: %w", AccessTopic, err)
	}
	s.apply(rec)
	return nil
}

func hashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Issue creates a token for req on behalf of by and returns it with its
// secret, which is shown once and never stored. A personal token belongs to
// by and holds at most by's role; a service token needs an admin.
func (s *Access) Issue(ctx context.Context, req TokenRequest, by Principal) (Token, string, error) {
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 100 {
		return Token{}, "", fmt.Errorf("%w: name must be 1 to 100 characters", ErrInvalidToken)
	}
	role, err := ParseRole(req.Role)
	if err != nil {
		return Token{}, "", fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	switch {
	case req.TTLSeconds == 0:
		ttl = 90 * 24 * time.Hour
	case req.TTLSeconds < 60 || ttl > MaxTokenTTL:
		return Token{}, "", fmt.Errorf("%w: ttl_seconds must be between 60 and %d", ErrInvalidToken, int64(MaxTokenTTL/time.Second))
	}
	switch req.Kind {
	case TokenPersonal:
		if by.Via != ViaSession {
			return Token{}, "", fmt.Errorf("%w: personal tokens are issued from a console session", ErrForbidden)
		}
		if !by.Role.Allows(role) {
			return Token{}, "", fmt.Errorf("%w: a personal token cannot hold more than your role (%s)", ErrForbidden, by.Role)
		}
	case TokenService:
		if !by.Role.Allows(RoleAdmin) {
			return Token{}, "", fmt.Errorf("%w: service tokens are issued by admins", ErrForbidden)
		}
	default:
		return Token{}, "", fmt.Errorf(`%w: kind must be "personal" or "service"`, ErrInvalidToken)
	}
	secret := TokenPrefix + secrets.RandomToken(32)
	now := s.now().UTC().Truncate(time.Second)
	t := Token{
		ID: "tok-" + secrets.RandomToken(9), Name: req.Name, Kind: req.Kind, Role: role.String(),
		OwnerID: by.ID, OwnerName: by.Name, CreatedAt: now, ExpiresAt: now.Add(ttl), Hash: hashToken(secret),
	}
	if req.Kind == TokenService {
		t.OwnerID, t.OwnerName = "service", req.Name
	}
	if err := s.put(ctx, "t/"+t.ID, t); err != nil {
		return Token{}, "", err
	}
	return t.Public(), secret, nil
}

// Authenticate returns the principal of a token secret that is known, not
// expired and not revoked.
func (s *Access) Authenticate(secret string) (Principal, bool) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return Principal{}, false
	}
	h := hashToken(secret)
	s.mu.RLock()
	id, ok := s.byHash[h]
	var t Token
	if ok {
		t = *s.tokens[id]
	}
	s.mu.RUnlock()
	if !ok || !secrets.EqualTokens(t.Hash, h) || !t.RevokedAt.IsZero() || !s.now().Before(t.ExpiresAt) {
		return Principal{}, false
	}
	role, err := ParseRole(t.Role)
	if err != nil {
		return Principal{}, false
	}
	p := Principal{ID: t.ID, Name: t.Name, Role: role, RoleName: role.String(), Via: ViaAPIToken}
	if t.Kind == TokenPersonal {
		p.ID, p.Name = t.OwnerID, t.OwnerName+" (token "+t.Name+")"
	}
	return p, true
}

// Tokens lists the tokens by may see (an admin: all; others: their own),
// newest first.
func (s *Access) Tokens(by Principal) []Token {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []Token{}
	for _, t := range s.tokens {
		if by.Role.Allows(RoleAdmin) || t.OwnerID == by.ID {
			out = append(out, t.Public())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Revoke ends token id; an admin may revoke any, others their own.
func (s *Access) Revoke(ctx context.Context, id string, by Principal) (Token, error) {
	s.mu.RLock()
	t, ok := s.tokens[id]
	var c Token
	if ok {
		c = *t
	}
	s.mu.RUnlock()
	if !ok || !(by.Role.Allows(RoleAdmin) || c.OwnerID == by.ID) {
		return Token{}, fmt.Errorf("%w: no token you may revoke has this id", ErrInvalidToken)
	}
	if c.RevokedAt.IsZero() {
		c.RevokedAt = s.now().UTC().Truncate(time.Second)
		if err := s.put(ctx, "t/"+c.ID, c); err != nil {
			return Token{}, err
		}
	}
	return c.Public(), nil
}

// RevokeSession ends the console session id (until expiry) on every replica.
func (s *Access) RevokeSession(ctx context.Context, id string, expiry time.Time) error {
	return s.put(ctx, "s/"+id, map[string]time.Time{"expires_at": expiry.UTC()})
}

// SessionRevoked reports whether session id was revoked.
func (s *Access) SessionRevoked(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.revoked[id]
	return ok
}
