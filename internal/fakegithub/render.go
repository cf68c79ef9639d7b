package fakegithub

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// This file renders the fake's state as GitHub's JSON: the fields go-github
// reads, named and typed as the description has them.

func (c *call) api(path string) string { return c.s.URL + c.prefix + path }

func (c *call) html(path string) string { return c.s.URL + path }

func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nodeID(kind string, id int64) string {
	return fmt.Sprintf("%s_fake%d", kind, id)
}

func (c *call) user(login string) map[string]any {
	id := c.s.userID(login)
	typ := "User"
	if strings.HasSuffix(login, "[bot]") {
		typ = "Bot"
	}
	return map[string]any{
		"login":               login,
		"id":                  id,
		"node_id":             nodeID("U", id),
		"avatar_url":          c.html("/avatars/" + url.PathEscape(login)),
		"gravatar_id":         "",
		"url":                 c.api("/users/" + url.PathEscape(login)),
		"html_url":            c.html("/" + url.PathEscape(login)),
		"type":                typ,
		"site_admin":          false,
		"followers_url":       c.api("/users/" + url.PathEscape(login) + "/followers"),
		"organizations_url":   c.api("/users/" + url.PathEscape(login) + "/orgs"),
		"repos_url":           c.api("/users/" + url.PathEscape(login) + "/repos"),
		"events_url":          c.api("/users/" + url.PathEscape(login) + "/events{/privacy}"),
		"received_events_url": c.api("/users/" + url.PathEscape(login) + "/received_events"),
	}
}

func (c *call) repoJSON(rec *repoRec) map[string]any {
	full := rec.Owner + "/" + rec.Name
	visibility := "public"
	if rec.Private {
		visibility = "private"
	}
	return map[string]any{
		"id":             rec.id,
		"node_id":        nodeID("R", rec.id),
		"name":           rec.Name,
		"full_name":      full,
		"owner":          c.user(rec.Owner),
		"private":        rec.Private,
		"visibility":     visibility,
		"fork":           rec.Fork,
		"archived":       false,
		"disabled":       false,
		"description":    nil,
		"html_url":       c.html("/" + full),
		"url":            c.api("/repos/" + full),
		"clone_url":      c.s.gitBaseURL + "/" + full + ".git",
		"git_url":        strings.Replace(c.s.gitBaseURL, "http", "git", 1) + "/" + full + ".git",
		"ssh_url":        "git@fake.invalid:" + full + ".git",
		"default_branch": rec.DefaultBranch,
		"created_at":     ts(rec.createdAt),
		"updated_at":     ts(rec.createdAt),
		"pushed_at":      ts(rec.createdAt),
	}
}

// forkJSON renders the head repository of a pull request from a fork.
func (c *call) forkJSON(rec *repoRec, owner string) map[string]any {
	f := &repoRec{Repo: Repo{Owner: owner, Name: rec.Name, DefaultBranch: rec.DefaultBranch, Fork: true}, id: c.s.userID(owner + "/" + rec.Name), createdAt: rec.createdAt}
	return c.repoJSON(f)
}

func (c *call) label(rec *repoRec, name string) map[string]any {
	id, ok := rec.labelIDs[strings.ToLower(name)]
	if !ok {
		id = c.s.newID()
		rec.labelIDs[strings.ToLower(name)] = id
	}
	return map[string]any{
		"id":          id,
		"node_id":     nodeID("LA", id),
		"url":         c.api("/repos/" + rec.Owner + "/" + rec.Name + "/labels/" + url.PathEscape(name)),
		"name":        name,
		"color":       "ededed",
		"default":     false,
		"description": "", // nullable in label, a plain string in pull-request
	}
}

func (c *call) labels(rec *repoRec, names []string) []any {
	out := make([]any, 0, len(names))
	for _, n := range names {
		out = append(out, c.label(rec, n))
	}
	return out
}

func association(rec *repoRec, s *Server, login string) string {
	switch {
	case strings.EqualFold(login, rec.Owner):
		return "OWNER"
	case strings.HasSuffix(login, "[bot]"):
		return "NONE"
	}
	switch s.permission(rec, login) {
	case "admin", "maintain", "write", "triage":
		return "COLLABORATOR"
	}
	return "CONTRIBUTOR"
}

func (c *call) issueJSON(rec *repoRec, is *issueRec) map[string]any {
	base := "/repos/" + rec.Owner + "/" + rec.Name
	n := strconv.Itoa(is.number)
	assignees := make([]any, 0, len(is.assignees))
	for _, a := range is.assignees {
		assignees = append(assignees, c.user(a))
	}
	var assignee any
	if len(is.assignees) > 0 {
		assignee = c.user(is.assignees[0])
	}
	count := 0
	for _, id := range is.comments {
		if cm := c.s.comments[id]; cm != nil && !cm.Deleted {
			count++
		}
	}
	m := map[string]any{
		"id":                 is.id,
		"node_id":            nodeID("I", is.id),
		"number":             is.number,
		"title":              is.title,
		"body":               nullable(is.body),
		"user":               c.user(is.user),
		"labels":             c.labels(rec, is.labels),
		"state":              is.state,
		"state_reason":       nullable(is.reason),
		"locked":             false,
		"assignee":           assignee,
		"assignees":          assignees,
		"milestone":          nil,
		"comments":           count,
		"created_at":         ts(is.createdAt),
		"updated_at":         ts(is.updatedAt),
		"closed_at":          ts(is.closedAt),
		"author_association": association(rec, c.s, is.user),
		"url":                c.api(base + "/issues/" + n),
		"repository_url":     c.api(base),
		"labels_url":         c.api(base + "/issues/" + n + "/labels{/name}"),
		"comments_url":       c.api(base + "/issues/" + n + "/comments"),
		"events_url":         c.api(base + "/issues/" + n + "/events"),
		"html_url":           c.html("/" + rec.Owner + "/" + rec.Name + "/issues/" + n),
	}
	if is.pull != nil {
		m["html_url"] = c.html("/" + rec.Owner + "/" + rec.Name + "/pull/" + n)
		m["pull_request"] = map[string]any{
			"url":       c.api(base + "/pulls/" + n),
			"html_url":  c.html("/" + rec.Owner + "/" + rec.Name + "/pull/" + n),
			"diff_url":  c.html("/" + rec.Owner + "/" + rec.Name + "/pull/" + n + ".diff"),
			"patch_url": c.html("/" + rec.Owner + "/" + rec.Name + "/pull/" + n + ".patch"),
			"merged_at": ts(is.pull.mergedAt),
		}
	}
	return m
}

func (c *call) pullJSON(rec *repoRec, is *issueRec) map[string]any {
	p := is.pull
	base := "/repos/" + rec.Owner + "/" + rec.Name
	n := strconv.Itoa(is.number)
	htmlBase := "/" + rec.Owner + "/" + rec.Name + "/pull/" + n
	headOwner, headRepo := rec.Owner, c.repoJSON(rec)
	if p.fork {
		headOwner, headRepo = p.headOwner, c.forkJSON(rec, p.headOwner)
	}
	reviewers := make([]any, 0, len(p.requestedUsers))
	for _, u := range p.requestedUsers {
		reviewers = append(reviewers, c.user(u))
	}
	teams := make([]any, 0, len(p.requestedTeams))
	for _, t := range p.requestedTeams {
		id := c.s.userID("team:" + t)
		teams = append(teams, map[string]any{
			"id": id, "node_id": nodeID("T", id), "name": t, "slug": t,
			"url":      c.api("/orgs/" + rec.Owner + "/teams/" + t),
			"html_url": c.html("/orgs/" + rec.Owner + "/teams/" + t),
		})
	}
	adds, dels := 0, 0
	for _, f := range p.files {
		adds += f.Additions
		dels += f.Deletions
	}
	var mergeable any = true
	if p.merged || is.state == "closed" {
		mergeable = nil
	}
	return map[string]any{
		"id":                    p.id,
		"node_id":               nodeID("PR", p.id),
		"number":                is.number,
		"state":                 is.state,
		"locked":                false,
		"title":                 is.title,
		"body":                  nullable(is.body),
		"user":                  c.user(is.user),
		"labels":                c.labels(rec, is.labels),
		"draft":                 p.draft,
		"merged":                p.merged,
		"mergeable":             mergeable,
		"mergeable_state":       "clean",
		"merged_at":             ts(p.mergedAt),
		"merge_commit_sha":      nullable(p.mergeCommitSHA),
		"created_at":            ts(is.createdAt),
		"updated_at":            ts(is.updatedAt),
		"closed_at":             ts(is.closedAt),
		"author_association":    association(rec, c.s, is.user),
		"requested_reviewers":   reviewers,
		"requested_teams":       teams,
		"assignee":              nil,
		"assignees":             []any{},
		"milestone":             nil,
		"maintainer_can_modify": p.maintainerCanModify,
		"comments":              len(is.comments),
		"review_comments":       len(p.reviewComments),
		"commits":               1,
		"additions":             adds,
		"deletions":             dels,
		"changed_files":         len(p.files),
		"url":                   c.api(base + "/pulls/" + n),
		"html_url":              c.html(htmlBase),
		"diff_url":              c.html(htmlBase + ".diff"),
		"patch_url":             c.html(htmlBase + ".patch"),
		"issue_url":             c.api(base + "/issues/" + n),
		"commits_url":           c.api(base + "/pulls/" + n + "/commits"),
		"review_comments_url":   c.api(base + "/pulls/" + n + "/comments"),
		"review_comment_url":    c.api(base + "/pulls/comments{/number}"),
		"comments_url":          c.api(base + "/issues/" + n + "/comments"),
		"statuses_url":          c.api(base + "/statuses/" + p.headSHA),
		"head": map[string]any{
			"label": headOwner + ":" + p.headRef,
			"ref":   p.headRef,
			"sha":   p.headSHA,
			"user":  c.user(headOwner),
			"repo":  headRepo,
		},
		"base": map[string]any{
			"label": rec.Owner + ":" + p.baseRef,
			"ref":   p.baseRef,
			"sha":   p.baseSHA,
			"user":  c.user(rec.Owner),
			"repo":  c.repoJSON(rec),
		},
	}
}

func (c *call) commentJSON(cm *commentRec) map[string]any {
	rec := cm.repo
	base := "/repos/" + rec.Owner + "/" + rec.Name
	return map[string]any{
		"id":                 cm.ID,
		"node_id":            nodeID("IC", cm.ID),
		"url":                c.api(base + "/issues/comments/" + strconv.FormatInt(cm.ID, 10)),
		"html_url":           c.html(fmt.Sprintf("/%s/%s/issues/%d#issuecomment-%d", rec.Owner, rec.Name, cm.Number, cm.ID)),
		"issue_url":          c.api(base + "/issues/" + strconv.Itoa(cm.Number)),
		"body":               cm.Body,
		"user":               c.user(cm.User),
		"created_at":         ts(cm.CreatedAt),
		"updated_at":         ts(cm.UpdatedAt),
		"author_association": association(rec, c.s, cm.User),
	}
}

func (c *call) reviewJSON(rec *repoRec, is *issueRec, r Review) map[string]any {
	base := "/repos/" + rec.Owner + "/" + rec.Name
	n := strconv.Itoa(is.number)
	m := map[string]any{
		"id":                 r.ID,
		"node_id":            nodeID("PRR", r.ID),
		"user":               c.user(r.User),
		"body":               r.Body,
		"state":              r.State,
		"commit_id":          r.CommitID,
		"html_url":           c.html(fmt.Sprintf("/%s/%s/pull/%d#pullrequestreview-%d", rec.Owner, rec.Name, is.number, r.ID)),
		"pull_request_url":   c.api(base + "/pulls/" + n),
		"author_association": association(rec, c.s, r.User),
		"_links": map[string]any{
			"html":         map[string]any{"href": c.html(fmt.Sprintf("/%s/%s/pull/%d#pullrequestreview-%d", rec.Owner, rec.Name, is.number, r.ID))},
			"pull_request": map[string]any{"href": c.api(base + "/pulls/" + n)},
		},
	}
	if !r.SubmittedAt.IsZero() {
		m["submitted_at"] = ts(r.SubmittedAt)
	}
	return m
}

func (c *call) reviewCommentJSON(rec *repoRec, is *issueRec, rc ReviewComment) map[string]any {
	base := "/repos/" + rec.Owner + "/" + rec.Name
	n := strconv.Itoa(is.number)
	htmlURL := c.html(fmt.Sprintf("/%s/%s/pull/%d#discussion_r%d", rec.Owner, rec.Name, is.number, rc.ID))
	m := map[string]any{
		"id":                     rc.ID,
		"node_id":                nodeID("PRRC", rc.ID),
		"url":                    c.api(base + "/pulls/comments/" + strconv.FormatInt(rc.ID, 10)),
		"pull_request_review_id": rc.ReviewID,
		"diff_hunk":              "",
		"path":                   rc.Path,
		"commit_id":              rc.CommitID,
		"original_commit_id":     rc.CommitID,
		"user":                   c.user(rc.User),
		"body":                   rc.Body,
		"created_at":             ts(rc.CreatedAt),
		"updated_at":             ts(rc.CreatedAt),
		"html_url":               htmlURL,
		"pull_request_url":       c.api(base + "/pulls/" + n),
		"author_association":     association(rec, c.s, rc.User),
		"subject_type":           "line",
		"_links": map[string]any{
			"self":         map[string]any{"href": c.api(base + "/pulls/comments/" + strconv.FormatInt(rc.ID, 10))},
			"html":         map[string]any{"href": htmlURL},
			"pull_request": map[string]any{"href": c.api(base + "/pulls/" + n)},
		},
	}
	if rc.Line > 0 {
		m["line"], m["original_line"], m["side"] = rc.Line, rc.Line, rc.Side
	}
	if rc.StartLine > 0 {
		m["start_line"], m["original_start_line"], m["start_side"] = rc.StartLine, rc.StartLine, rc.StartSide
	}
	if rc.InReplyTo != 0 {
		m["in_reply_to_id"] = rc.InReplyTo
	}
	return m
}

func (c *call) fileJSON(rec *repoRec, p *pullRec, f File) map[string]any {
	full := rec.Owner + "/" + rec.Name
	m := map[string]any{
		"sha":          f.SHA,
		"filename":     f.Filename,
		"status":       f.Status,
		"additions":    f.Additions,
		"deletions":    f.Deletions,
		"changes":      f.Additions + f.Deletions,
		"blob_url":     c.html("/" + full + "/blob/" + p.headSHA + "/" + f.Filename),
		"raw_url":      c.html("/" + full + "/raw/" + p.headSHA + "/" + f.Filename),
		"contents_url": c.api("/repos/" + full + "/contents/" + f.Filename + "?ref=" + p.headSHA),
	}
	if f.Patch != "" {
		m["patch"] = f.Patch
	}
	if f.PreviousFilename != "" {
		m["previous_filename"] = f.PreviousFilename
	}
	return m
}

func (c *call) app() map[string]any {
	id := c.s.opts.AppID
	return map[string]any{
		"id":         id,
		"slug":       c.s.opts.AppSlug,
		"node_id":    nodeID("A", id),
		"name":       c.s.opts.AppSlug,
		"owner":      c.user("promptgate-owner"),
		"html_url":   c.html("/apps/" + c.s.opts.AppSlug),
		"created_at": "2026-01-01T00:00:00Z",
		"updated_at": "2026-01-01T00:00:00Z",
		"permissions": map[string]any{
			"checks": "write", "contents": "write", "issues": "write",
			"metadata": "read", "pull_requests": "write",
		},
		"events": []any{"pull_request", "pull_request_review", "issue_comment", "check_run", "push"},
	}
}

func (c *call) checkRunJSON(rec *repoRec, r *CheckRun) map[string]any {
	base := "/repos/" + rec.Owner + "/" + rec.Name
	id := strconv.FormatInt(r.ID, 10)
	var prs []any
	for _, is := range sortedIssues(rec) {
		if p := is.pull; p != nil && p.headSHA == r.HeadSHA && is.state == "open" && !p.fork {
			prs = append(prs, map[string]any{
				"id":     p.id,
				"number": is.number,
				"url":    c.api(base + "/pulls/" + strconv.Itoa(is.number)),
				"head":   map[string]any{"ref": p.headRef, "sha": p.headSHA, "repo": map[string]any{"id": rec.id, "name": rec.Name, "url": c.api(base)}},
				"base":   map[string]any{"ref": p.baseRef, "sha": p.baseSHA, "repo": map[string]any{"id": rec.id, "name": rec.Name, "url": c.api(base)}},
			})
		}
	}
	if prs == nil {
		prs = []any{}
	}
	return map[string]any{
		"id":           r.ID,
		"node_id":      nodeID("CR", r.ID),
		"name":         r.Name,
		"head_sha":     r.HeadSHA,
		"external_id":  r.ExternalID,
		"url":          c.api(base + "/check-runs/" + id),
		"html_url":     c.html("/" + rec.Owner + "/" + rec.Name + "/runs/" + id),
		"details_url":  r.DetailsURL,
		"status":       r.Status,
		"conclusion":   nullable(r.Conclusion),
		"started_at":   ts(r.StartedAt),
		"completed_at": ts(r.CompletedAt),
		"output": map[string]any{
			"title":             nullable(r.Output.Title),
			"summary":           nullable(r.Output.Summary),
			"text":              nullable(r.Output.Text),
			"annotations_count": len(r.Annotations),
			"annotations_url":   c.api(base + "/check-runs/" + id + "/annotations"),
		},
		"check_suite":   map[string]any{"id": rec.id*1000 + 1},
		"app":           c.app(),
		"pull_requests": prs,
	}
}

func (c *call) refJSON(rec *repoRec, ref, sha string) map[string]any {
	base := "/repos/" + rec.Owner + "/" + rec.Name
	return map[string]any{
		"ref":     ref,
		"node_id": nodeID("REF", c.s.userID(rec.Owner+"/"+rec.Name+":"+ref)),
		"url":     c.api(base + "/git/" + ref),
		"object": map[string]any{
			"type": "commit",
			"sha":  sha,
			"url":  c.api(base + "/git/commits/" + sha),
		},
	}
}

// page cuts one page out of items per the per_page (default 30, at most
// 100) and page query parameters, with GitHub's Link header.
func (c *call) page(items []any) ([]any, http.Header) {
	q := c.r.URL.Query()
	per := 30
	if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 {
		per = min(v, 100)
	}
	pg := 1
	if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
		pg = v
	}
	last := max(1, (len(items)+per-1)/per)
	start := min((pg-1)*per, len(items))
	end := min(start+per, len(items))
	out := append([]any{}, items[start:end]...)

	link := func(n int, rel string) string {
		qq := c.r.URL.Query()
		qq.Set("page", strconv.Itoa(n))
		qq.Set("per_page", strconv.Itoa(per))
		u := c.s.URL + c.prefix + c.apiPath + "?" + qq.Encode()
		return fmt.Sprintf("<%s>; rel=%q", u, rel)
	}
	var links []string
	if pg > 1 {
		links = append(links, link(pg-1, "prev"), link(1, "first"))
	}
	if pg < last {
		links = append(links, link(pg+1, "next"), link(last, "last"))
	}
	h := http.Header{}
	if len(links) > 0 {
		h.Set("Link", strings.Join(links, ", "))
	}
	return out, h
}
