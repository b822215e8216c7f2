package okta

import (
	"context"
	"net/http"
)

// Group is the part of an Okta group Clarion uses.
type Group struct {
	ID   string `json:"id"`
	Type string `json:"type,omitempty"` // OKTA_GROUP, APP_GROUP, BUILT_IN
	Name string `json:"name"`
}

// UserGroups lists the groups a user belongs to (GET
// /api/v1/users/{id}/groups), with the okta.users.manage token the setup
// guide grants. The responder checks it against the protected groups, and
// triage shows it to the agent.
func (c *Client) UserGroups(ctx context.Context, id string) ([]Group, error) {
	resp, err := c.userCall(ctx, nil, "list user groups", http.MethodGet, userPath(id)+"/groups", false)
	if err != nil {
		return nil, err
	}
	var raw []struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Profile struct {
			Name string `json:"name"`
		} `json:"profile"`
	}
	if err := decodeJSON("list user groups", resp, &raw); err != nil {
		return nil, err
	}
	out := make([]Group, 0, len(raw))
	for _, g := range raw {
		out = append(out, Group{ID: g.ID, Type: g.Type, Name: g.Profile.Name})
	}
	return out, nil
}

// UserProfile reads a user with the whole profile object as Okta returned
// it (GET /api/v1/users/{id}). Profile values are attacker-influenced text
// (a user can edit some of their own attributes): treat them as data.
func (c *Client) UserProfile(ctx context.Context, id string) (*User, map[string]any, error) {
	resp, err := c.userCall(ctx, nil, "get user", http.MethodGet, userPath(id), false)
	if err != nil {
		return nil, nil, err
	}
	var raw struct {
		ID          string         `json:"id"`
		Status      string         `json:"status"`
		Created     string         `json:"created"`
		LastLogin   string         `json:"lastLogin"`
		PassChanged string         `json:"passwordChanged"`
		Profile     map[string]any `json:"profile"`
	}
	if err := decodeJSON("get user", resp, &raw); err != nil {
		return nil, nil, err
	}
	u := &User{ID: raw.ID, Status: raw.Status, Created: raw.Created}
	u.Login, _ = raw.Profile["login"].(string)
	u.Email, _ = raw.Profile["email"].(string)
	prof := map[string]any{"profile": raw.Profile, "lastLogin": raw.LastLogin, "passwordChanged": raw.PassChanged, "created": raw.Created, "status": raw.Status}
	return u, prof, nil
}
