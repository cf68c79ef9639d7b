package fakegithub

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// pull finds the pull request named by the path; nil when there is none.
func (c *call) pull() *issueRec {
	n, err := strconv.Atoi(c.params["pull_number"])
	if err != nil {
		return nil
	}
	is := c.repo.issues[n]
	if is == nil || is.pull == nil {
		return nil
	}
	return is
}

func (c *call) stamp() time.Time { return c.s.now().UTC().Truncate(time.Second) }

func (c *call) listPulls() reply {
	q := c.r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	headOwner, headRef, hasHead := strings.Cut(q.Get("head"), ":")
	if !hasHead {
		headOwner, headRef = "", q.Get("head")
	}
	base := q.Get("base")
	var list []*issueRec
	for _, is := range sortedIssues(c.repo) {
		p := is.pull
		if p == nil || (state != "all" && is.state != state) {
			continue
		}
		if headRef != "" {
			owner := c.repo.Owner
			if p.fork {
				owner = p.headOwner
			}
			if p.headRef != headRef || (headOwner != "" && !strings.EqualFold(owner, headOwner)) {
				continue
			}
		}
		if base != "" && p.baseRef != base {
			continue
		}
		list = append(list, is)
	}
	asc := q.Get("direction") == "asc"
	if q.Get("sort") == "updated" {
		sort.SliceStable(list, func(i, j int) bool { return list[i].updatedAt.Before(list[j].updatedAt) })
	}
	if !asc {
		slices.Reverse(list)
	}
	items := make([]any, len(list))
	for i, is := range list {
		items[i] = c.pullJSON(c.repo, is)
	}
	out, h := c.page(items)
	return reply{body: out, header: h}
}

func (c *call) createPull() reply {
	var req struct {
		Title               string `json:"title"`
		Head                string `json:"head"`
		Base                string `json:"base"`
		Body                string `json:"body"`
		Draft               bool   `json:"draft"`
		MaintainerCanModify *bool  `json:"maintainer_can_modify"`
		Issue               *int   `json:"issue"`
	}
	c.decode(&req)
	rec := c.repo
	if bad := c.bodyTooLong(req.Body); bad != nil {
		return *bad
	}
	if req.Title == "" && req.Issue == nil {
		return validationFailed("PullRequest", "title", "missing_field", "")
	}
	headOwner, headRef, cross := strings.Cut(req.Head, ":")
	if !cross {
		headOwner, headRef = rec.Owner, req.Head
	}
	fork := !strings.EqualFold(headOwner, rec.Owner)
	refs := c.s.refsLocked(rec)
	strict := c.s.opts.Refs != nil || len(refs) > 0
	baseSHA, baseOK := refs["refs/heads/"+req.Base]
	headSHA, headOK := refs["refs/heads/"+headRef]
	if strict && !baseOK {
		return validationFailed("PullRequest", "base", "invalid", "")
	}
	if strict && !fork && !headOK {
		return validationFailed("PullRequest", "head", "invalid", "")
	}
	if !fork && headRef == req.Base {
		return validationFailed("PullRequest", "", "custom", fmt.Sprintf("No commits between %s and %s", req.Base, headRef))
	}
	for _, is := range rec.issues {
		if p := is.pull; p != nil && is.state == "open" && p.headRef == headRef && p.baseRef == req.Base &&
			(p.fork == fork) && (!fork || strings.EqualFold(p.headOwner, headOwner)) {
			return validationFailed("PullRequest", "", "custom", fmt.Sprintf("A pull request already exists for %s:%s.", headOwner, headRef))
		}
	}
	pr := PullRequest{
		Title: req.Title, Body: req.Body, User: c.s.botLogin(), Draft: req.Draft,
		HeadRef: headRef, HeadSHA: headSHA, BaseRef: req.Base, BaseSHA: baseSHA,
		Fork: fork, HeadOwner: headOwner, ViaAPI: true,
		MaintainerCanModify: req.MaintainerCanModify == nil || *req.MaintainerCanModify,
	}
	if !fork {
		pr.HeadOwner = ""
	}
	if req.Issue != nil {
		old := rec.issues[*req.Issue]
		if old == nil || old.pull != nil {
			return validationFailed("PullRequest", "issue", "invalid", "")
		}
		pr.Number, pr.Title, pr.Body = old.number, old.title, old.body
	}
	is := c.s.addPullLocked(rec, pr)
	return reply{body: c.pullJSON(rec, is)}
}

func (c *call) getPull() reply {
	is := c.pull()
	if is == nil {
		return notFound()
	}
	return reply{body: c.pullJSON(c.repo, is)}
}

func (c *call) updatePull() reply {
	is := c.pull()
	if is == nil {
		return notFound()
	}
	var req struct {
		Title               *string `json:"title"`
		Body                *string `json:"body"`
		State               *string `json:"state"`
		Base                *string `json:"base"`
		MaintainerCanModify *bool   `json:"maintainer_can_modify"`
	}
	c.decode(&req)
	if req.Title != nil {
		is.title = *req.Title
	}
	if req.Body != nil {
		if bad := c.bodyTooLong(*req.Body); bad != nil {
			return *bad
		}
		is.body = *req.Body
	}
	if req.Base != nil {
		is.pull.baseRef = *req.Base
	}
	if req.MaintainerCanModify != nil {
		is.pull.maintainerCanModify = *req.MaintainerCanModify
	}
	if req.State != nil && *req.State != is.state {
		if is.pull.merged {
			return validationFailed("PullRequest", "state", "invalid", "")
		}
		c.setState(is, *req.State, "")
	}
	is.updatedAt = c.stamp()
	return reply{body: c.pullJSON(c.repo, is)}
}

func (c *call) setState(is *issueRec, state, reason string) {
	is.state = state
	if state == "closed" {
		is.closedAt = c.stamp()
		if reason == "" {
			reason = "completed"
		}
		is.reason = reason
	} else {
		is.closedAt = time.Time{}
		is.reason = reason
		if reason == "" && is.pull == nil {
			is.reason = "reopened"
		}
	}
	if is.pull != nil {
		is.reason = ""
	}
}

func (c *call) listFiles() reply {
	is := c.pull()
	if is == nil {
		return notFound()
	}
	items := make([]any, len(is.pull.files))
	for i, f := range is.pull.files {
		items[i] = c.fileJSON(c.repo, is.pull, f)
	}
	out, h := c.page(items)
	return reply{body: out, header: h}
}

func (c *call) listReviews() reply {
	is := c.pull()
	if is == nil {
		return notFound()
	}
	items := make([]any, len(is.pull.reviews))
	for i, r := range is.pull.reviews {
		items[i] = c.reviewJSON(c.repo, is, r)
	}
	out, h := c.page(items)
	return reply{body: out, header: h}
}

// draftComment is a review comment as a request carries it.
type draftComment struct {
	Path        string `json:"path"`
	Position    *int   `json:"position"`
	Body        string `json:"body"`
	Line        *int   `json:"line"`
	Side        string `json:"side"`
	StartLine   *int   `json:"start_line"`
	StartSide   string `json:"start_side"`
	CommitID    string `json:"commit_id"`
	InReplyTo   *int64 `json:"in_reply_to"`
	SubjectType string `json:"subject_type"`
}

// unresolvable is GitHub's answer to a review comment it cannot place.
func unresolvable(what string) reply {
	return fail(http.StatusUnprocessableEntity, "Unprocessable Entity", what+" could not be resolved")
}

// place checks that a review comment lands on the pull request's diff: its
// path among the changed files and, where the file's patch is known, its
// lines among the lines the hunks show on that side.
func (c *call) place(p *pullRec, d draftComment) (ReviewComment, *reply) {
	rc := ReviewComment{Path: d.Path, Body: d.Body, Side: d.Side, StartSide: d.StartSide, CommitID: d.CommitID}
	if rc.CommitID == "" {
		rc.CommitID = p.headSHA
	}
	var file *File
	for i := range p.files {
		if p.files[i].Filename == d.Path {
			file = &p.files[i]
		}
	}
	if file == nil && len(p.files) > 0 {
		r := unresolvable("Path")
		return rc, &r
	}
	if d.SubjectType == "file" {
		return rc, nil
	}
	if d.Line == nil && d.Position == nil {
		r := validationFailed("PullRequestReviewComment", "line", "missing_field", "")
		return rc, &r
	}
	if d.Line != nil {
		rc.Line = *d.Line
		if rc.Side == "" {
			rc.Side = "RIGHT"
		}
	}
	if d.StartLine != nil {
		rc.StartLine = *d.StartLine
		if rc.StartSide == "" {
			rc.StartSide = rc.Side
		}
		if rc.StartLine > rc.Line {
			r := validationFailed("PullRequestReviewComment", "start_line", "invalid", "start_line must precede the end line.")
			return rc, &r
		}
	}
	if file != nil && file.Patch != "" && d.Line != nil {
		left, right := diffLines(file.Patch)
		lines := func(side string) map[int]bool {
			if side == "LEFT" {
				return left
			}
			return right
		}
		if !lines(rc.Side)[rc.Line] || (rc.StartLine > 0 && !lines(rc.StartSide)[rc.StartLine]) {
			r := unresolvable("Line")
			return rc, &r
		}
	}
	return rc, nil
}

var hunkHeader = regexp.MustCompile(`^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@`)

// diffLines returns the old (LEFT) and new (RIGHT) line numbers a unified
// diff's hunks show.
func diffLines(patch string) (left, right map[int]bool) {
	left, right = map[int]bool{}, map[int]bool{}
	oldLn, newLn := 0, 0
	for _, line := range strings.Split(patch, "\n") {
		if m := hunkHeader.FindStringSubmatch(line); m != nil {
			oldLn, _ = strconv.Atoi(m[1])
			newLn, _ = strconv.Atoi(m[2])
			continue
		}
		if oldLn == 0 && newLn == 0 || line == "" {
			continue
		}
		switch line[0] {
		case ' ':
			left[oldLn], right[newLn] = true, true
			oldLn++
			newLn++
		case '-':
			left[oldLn] = true
			oldLn++
		case '+':
			right[newLn] = true
			newLn++
		}
	}
	return left, right
}

var reviewStates = map[string]string{
	"APPROVE":         "APPROVED",
	"REQUEST_CHANGES": "CHANGES_REQUESTED",
	"COMMENT":         "COMMENTED",
	"":                "PENDING",
}

func (c *call) createReview() reply {
	is := c.pull()
	if is == nil {
		return notFound()
	}
	var req struct {
		CommitID string         `json:"commit_id"`
		Body     string         `json:"body"`
		Event    string         `json:"event"`
		Comments []draftComment `json:"comments"`
	}
	c.decode(&req)
	p := is.pull
	bot := c.s.botLogin()
	if bad := c.bodyTooLong(req.Body); bad != nil {
		return *bad
	}
	for _, d := range req.Comments {
		if bad := c.bodyTooLong(d.Body); bad != nil {
			return *bad
		}
	}
	if is.user == bot && req.Event == "APPROVE" {
		return fail(http.StatusUnprocessableEntity, "Unprocessable Entity", "Can not approve your own pull request")
	}
	if is.user == bot && req.Event == "REQUEST_CHANGES" {
		return fail(http.StatusUnprocessableEntity, "Unprocessable Entity", "Can not request changes on your own pull request")
	}
	if (req.Event == "REQUEST_CHANGES" || req.Event == "COMMENT") && req.Body == "" && len(req.Comments) == 0 {
		return fail(http.StatusUnprocessableEntity, "Unprocessable Entity", "Review body is required")
	}
	r := c.s.completeReview(Review{User: bot, State: reviewStates[req.Event], Body: req.Body, CommitID: req.CommitID}, p.headSHA)
	var comments []ReviewComment
	for _, d := range req.Comments {
		if d.CommitID == "" {
			d.CommitID = r.CommitID
		}
		rc, bad := c.place(p, d)
		if bad != nil {
			return *bad
		}
		rc.ID, rc.ReviewID, rc.User, rc.CreatedAt = c.s.newID(), r.ID, bot, c.stamp()
		comments = append(comments, rc)
	}
	p.reviews = append(p.reviews, r)
	p.reviewComments = append(p.reviewComments, comments...)
	return reply{body: c.reviewJSON(c.repo, is, r)}
}

func (c *call) listReviewComments() reply {
	is := c.pull()
	if is == nil {
		return notFound()
	}
	items := make([]any, len(is.pull.reviewComments))
	for i, rc := range is.pull.reviewComments {
		items[i] = c.reviewCommentJSON(c.repo, is, rc)
	}
	out, h := c.page(items)
	return reply{body: out, header: h}
}

func (c *call) createReviewComment() reply {
	is := c.pull()
	if is == nil {
		return notFound()
	}
	var d draftComment
	c.decode(&d)
	if bad := c.bodyTooLong(d.Body); bad != nil {
		return *bad
	}
	p := is.pull
	bot := c.s.botLogin()
	var rc ReviewComment
	if d.InReplyTo != nil {
		i := slices.IndexFunc(p.reviewComments, func(x ReviewComment) bool { return x.ID == *d.InReplyTo })
		if i < 0 {
			return notFound()
		}
		parent := p.reviewComments[i]
		rc = ReviewComment{Path: parent.Path, Line: parent.Line, Side: parent.Side, StartLine: parent.StartLine,
			StartSide: parent.StartSide, CommitID: parent.CommitID, Body: d.Body, InReplyTo: parent.ID}
	} else {
		placed, bad := c.place(p, d)
		if bad != nil {
			return *bad
		}
		rc = placed
	}
	r := c.s.completeReview(Review{User: bot, State: "COMMENTED", CommitID: rc.CommitID}, p.headSHA)
	p.reviews = append(p.reviews, r)
	rc.ID, rc.ReviewID, rc.User, rc.CreatedAt = c.s.newID(), r.ID, bot, c.stamp()
	p.reviewComments = append(p.reviewComments, rc)
	return reply{body: c.reviewCommentJSON(c.repo, is, rc)}
}

func (c *call) listRequestedReviewers() reply {
	is := c.pull()
	if is == nil {
		return notFound()
	}
	pr := c.pullJSON(c.repo, is)
	return reply{body: map[string]any{"users": pr["requested_reviewers"], "teams": pr["requested_teams"]}}
}

func (c *call) requestReviewers() reply {
	is := c.pull()
	if is == nil {
		return notFound()
	}
	var req struct {
		Reviewers     []string `json:"reviewers"`
		TeamReviewers []string `json:"team_reviewers"`
	}
	c.decode(&req)
	if len(req.Reviewers) == 0 && len(req.TeamReviewers) == 0 {
		return validationFailed("PullRequest", "reviewers", "missing_field", "")
	}
	p := is.pull
	for _, u := range req.Reviewers {
		if strings.EqualFold(u, is.user) {
			return fail(http.StatusUnprocessableEntity, "Review cannot be requested from pull request author.")
		}
		perm, explicit := c.repo.perms[strings.ToLower(u)]
		if !strings.EqualFold(u, c.repo.Owner) && (!explicit || perm == "none") {
			return fail(http.StatusUnprocessableEntity, fmt.Sprintf(
				"Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the %s/%s repository.",
				c.repo.Owner, c.repo.Name))
		}
	}
	for _, u := range req.Reviewers {
		if !slices.ContainsFunc(p.requestedUsers, func(x string) bool { return strings.EqualFold(x, u) }) {
			p.requestedUsers = append(p.requestedUsers, u)
		}
	}
	for _, t := range req.TeamReviewers {
		if !slices.Contains(p.requestedTeams, t) {
			p.requestedTeams = append(p.requestedTeams, t)
		}
	}
	is.updatedAt = c.stamp()
	return reply{body: c.pullJSON(c.repo, is)}
}
