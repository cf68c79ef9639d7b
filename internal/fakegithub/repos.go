package fakegithub

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// installationKnown reports whether some repository (or the default) is in
// installation id; s.mu held.
func (s *Server) installationKnown(id int64) bool {
	if id == s.opts.InstallationID {
		return true
	}
	for _, r := range s.repoOrder {
		if r.installationID == id {
			return true
		}
	}
	return false
}

var defaultTokenPermissions = map[string]any{
	"checks": "write", "contents": "write", "issues": "write",
	"metadata": "read", "pull_requests": "write",
}

func (c *call) createInstallationToken() reply {
	id, err := strconv.ParseInt(c.params["installation_id"], 10, 64)
	if err != nil || !c.s.installationKnown(id) {
		return notFound()
	}
	var req struct {
		Permissions map[string]any `json:"permissions"`
	}
	c.decode(&req)
	perms := defaultTokenPermissions
	if len(req.Permissions) > 0 {
		perms = req.Permissions
	}
	t := c.s.issueTokenLocked(id)
	return reply{body: map[string]any{
		"token":                t.value,
		"expires_at":           ts(t.expiresAt),
		"permissions":          perms,
		"repository_selection": "all",
	}}
}

func (c *call) getRepoInstallation() reply {
	rec := c.repo
	id := rec.installationID
	typ := "Organization"
	return reply{body: map[string]any{
		"id":                   id,
		"account":              c.user(rec.Owner),
		"app_id":               c.s.opts.AppID,
		"app_slug":             c.s.opts.AppSlug,
		"target_id":            c.s.userID(rec.Owner),
		"target_type":          typ,
		"permissions":          defaultTokenPermissions,
		"events":               []any{"pull_request", "pull_request_review", "issue_comment", "check_run", "push"},
		"repository_selection": "all",
		"single_file_name":     nil,
		"access_tokens_url":    c.api("/app/installations/" + strconv.FormatInt(id, 10) + "/access_tokens"),
		"repositories_url":     c.api("/installation/repositories"),
		"html_url":             c.html("/organizations/" + rec.Owner + "/settings/installations/" + strconv.FormatInt(id, 10)),
		"created_at":           ts(rec.createdAt),
		"updated_at":           ts(rec.createdAt),
	}}
}

func (c *call) getRepo() reply {
	return reply{body: c.repoJSON(c.repo)}
}

func (c *call) getPermission() reply {
	login := c.params["username"]
	perm := c.s.permission(c.repo, login)
	role := perm
	// The legacy "permission" field knows only admin, write, read, none.
	switch perm {
	case "maintain":
		perm = "write"
	case "triage":
		perm = "read"
	}
	u := c.user(login)
	u["permissions"] = map[string]any{
		"admin":    role == "admin",
		"maintain": slices.Contains([]string{"admin", "maintain"}, role),
		"push":     slices.Contains([]string{"admin", "maintain", "write"}, role),
		"triage":   slices.Contains([]string{"admin", "maintain", "write", "triage"}, role),
		"pull":     role != "none",
	}
	u["role_name"] = role
	return reply{body: map[string]any{"permission": perm, "role_name": role, "user": u}}
}

func (c *call) listMatchingRefs() reply {
	prefix := "refs/" + c.params["ref"]
	refs := c.s.refsLocked(c.repo)
	names := make([]string, 0, len(refs))
	for name := range refs {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := make([]any, 0, len(names))
	for _, name := range names {
		out = append(out, c.refJSON(c.repo, name, refs[name]))
	}
	return reply{body: out}
}

func (c *call) getRef() reply {
	name := "refs/" + c.params["ref"]
	sha, ok := c.s.refsLocked(c.repo)[name]
	if !ok {
		return fail(http.StatusNotFound, "Not Found")
	}
	return reply{body: c.refJSON(c.repo, name, sha)}
}
