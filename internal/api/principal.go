package api

import (
	"context"
	"fmt"
)

// Role is what a signed-in person or a token may do in the console and the
// API. Each role includes the ones before it:
//
//	viewer   reads alerts, anomalies, triage runs, actions, integrations
//	analyst  + gives verdicts and feedback, proposes actions
//	approver + approves or rejects pending actions
//	admin    + changes integrations, policy and tokens
type Role int

// The roles, lowest first. RoleNone is the zero value and may do nothing.
const (
	RoleNone Role = iota
	RoleViewer
	RoleAnalyst
	RoleApprover
	RoleAdmin
)

var roleNames = [...]string{"none", "viewer", "analyst", "approver", "admin"}

// String is the role's name as configured and recorded: viewer, analyst,
// approver, admin (none for the zero value).
func (r Role) String() string {
	if r < 0 || int(r) >= len(roleNames) {
		return fmt.Sprintf("role(%d)", int(r))
	}
	return roleNames[r]
}

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	for i, n := range roleNames {
		if i > 0 && n == s {
			return Role(i), nil
		}
	}
	return RoleNone, fmt.Errorf("api: unknown role %q (want viewer, analyst, approver or admin)", s)
}

// Allows reports whether r includes need.
func (r Role) Allows(need Role) bool { return need > RoleNone && r >= need }

// How a principal authenticated.
const (
	// ViaAdminToken: the bootstrap admin token (automation, first setup).
	ViaAdminToken = "admin_token"
	// ViaAPIToken: a personal or service API token.
	ViaAPIToken = "api_token"
	// ViaSession: a console session (password or OIDC sign-in).
	ViaSession = "session"
)

// Principal is who made a request: the identity every human action records.
type Principal struct {
	// ID is stable and unique: the IdP's issuer + subject for OIDC, the
	// token id for an API token, "admin-token" for the admin token.
	ID string `json:"id"`
	// Name is what people read ("Ada Lovelace", the token's name).
	Name string `json:"name"`
	// Email, when the IdP gives one.
	Email string `json:"email,omitempty"`
	// Role held for this request.
	Role Role `json:"-"`
	// RoleName is Role's name, for JSON.
	RoleName string `json:"role"`
	// Via says how the principal authenticated (ViaAdminToken …).
	Via string `json:"via"`
}

// AdminTokenPrincipal is the principal of a request that presents the
// admin token.
func AdminTokenPrincipal() Principal {
	return Principal{ID: "admin-token", Name: "admin token", Role: RoleAdmin, RoleName: RoleAdmin.String(), Via: ViaAdminToken}
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	if p.RoleName == "" {
		p.RoleName = p.Role.String()
	}
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal the API attached to a request's
// context after authenticating it.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
