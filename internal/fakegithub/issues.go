package fakegithub

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// issue finds the issue or pull request named by the path.
func (c *call) issue() *issueRec {
	n, err := strconv.Atoi(c.params["issue_number"])
	if err != nil {
		return nil
	}
	return c.repo.issues[n]
}

// labelNames reads labels given as names or {name} objects.
func labelNames(raw json.RawMessage) []string {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		var one string
		if json.Unmarshal(raw, &one) == nil && one != "" {
			return []string{one}
		}
		return nil
	}
	var out []string
	for _, it := range items {
		var name string
		if json.Unmarshal(it, &name) != nil {
			var obj struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(it, &obj)
			name = obj.Name
		}
		if name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func (c *call) listIssues() reply {
	q := c.r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	var want []string
	if l := q.Get("labels"); l != "" {
		want = strings.Split(l, ",")
	}
	creator := q.Get("creator")
	var list []*issueRec
	for _, is := range sortedIssues(c.repo) {
		if state != "all" && is.state != state {
			continue
		}
		if creator != "" && !strings.EqualFold(is.user, creator) {
			continue
		}
		ok := true
		for _, w := range want {
			if !slices.ContainsFunc(is.labels, func(l string) bool { return strings.EqualFold(l, strings.TrimSpace(w)) }) {
				ok = false
			}
		}
		if ok {
			list = append(list, is)
		}
	}
	if q.Get("direction") != "asc" {
		slices.Reverse(list)
	}
	items := make([]any, len(list))
	for i, is := range list {
		items[i] = c.issueJSON(c.repo, is)
	}
	out, h := c.page(items)
	return reply{body: out, header: h}
}

func (c *call) createIssue() reply {
	var req struct {
		Title     json.RawMessage `json:"title"`
		Body      *string         `json:"body"`
		Labels    json.RawMessage `json:"labels"`
		Assignees []string        `json:"assignees"`
		Assignee  *string         `json:"assignee"`
	}
	c.decode(&req)
	if req.Body != nil {
		if bad := c.bodyTooLong(*req.Body); bad != nil {
			return *bad
		}
	}
	is := c.s.newIssueLocked(c.repo, 0)
	is.title = rawString(req.Title)
	if req.Body != nil {
		is.body = *req.Body
	}
	is.user = c.s.botLogin()
	is.labels = labelNames(req.Labels)
	is.assignees = req.Assignees
	if req.Assignee != nil && *req.Assignee != "" {
		is.assignees = append(is.assignees, *req.Assignee)
	}
	is.createdAt, is.updatedAt, is.viaAPI = c.stamp(), c.stamp(), true
	return reply{body: c.issueJSON(c.repo, is)}
}

// rawString reads a string or a number (issue titles may be either).
func rawString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

func (c *call) getIssue() reply {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	return reply{body: c.issueJSON(c.repo, is)}
}

func (c *call) updateIssue() reply {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	var req struct {
		Title       json.RawMessage `json:"title"`
		Body        *string         `json:"body"`
		State       *string         `json:"state"`
		StateReason *string         `json:"state_reason"`
		Labels      json.RawMessage `json:"labels"`
		Assignees   *[]string       `json:"assignees"`
	}
	c.decode(&req)
	if len(req.Title) > 0 && string(req.Title) != "null" {
		is.title = rawString(req.Title)
	}
	if req.Body != nil {
		if bad := c.bodyTooLong(*req.Body); bad != nil {
			return *bad
		}
		is.body = *req.Body
	}
	if len(req.Labels) > 0 {
		is.labels = labelNames(req.Labels)
	}
	if req.Assignees != nil {
		is.assignees = *req.Assignees
	}
	if req.State != nil && *req.State != is.state {
		reason := ""
		if req.StateReason != nil {
			reason = *req.StateReason
		}
		c.setState(is, *req.State, reason)
	}
	is.updatedAt = c.stamp()
	return reply{body: c.issueJSON(c.repo, is)}
}

func (c *call) listComments() reply {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	var since time.Time
	if v := c.r.URL.Query().Get("since"); v != "" {
		since, _ = time.Parse(time.RFC3339, v)
	}
	var items []any
	for _, id := range is.comments {
		cm := c.s.comments[id]
		if cm == nil || cm.Deleted || cm.UpdatedAt.Before(since) {
			continue
		}
		items = append(items, c.commentJSON(cm))
	}
	out, h := c.page(items)
	return reply{body: out, header: h}
}

func (c *call) createComment() reply {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	var req struct {
		Body string `json:"body"`
	}
	c.decode(&req)
	if bad := c.bodyTooLong(req.Body); bad != nil {
		return *bad
	}
	cm := c.s.addCommentLocked(c.repo, is, c.s.botLogin(), req.Body)
	is.activity.Created++
	return reply{body: c.commentJSON(cm)}
}

// bodyTooLong enforces GitHub's limit on comment, issue, pull request and
// review bodies, which its REST guide states but the schemas do not carry,
// with GitHub's own answer.
func (c *call) bodyTooLong(body string) *reply {
	if utf8.RuneCountInString(body) <= maxBody {
		return nil
	}
	r := validationFailed(resourceName(c.op.ID), "body", "custom", "Body is too long (maximum is 65536 characters)")
	return &r
}

// maxBody is GitHub's limit on a body, in characters.
const maxBody = 65536

// comment finds the comment named by the path, in this repository.
func (c *call) comment() *commentRec {
	id, err := strconv.ParseInt(c.params["comment_id"], 10, 64)
	if err != nil {
		return nil
	}
	cm := c.s.comments[id]
	if cm == nil || cm.Deleted || cm.repo != c.repo {
		return nil
	}
	return cm
}

func (c *call) getComment() reply {
	cm := c.comment()
	if cm == nil {
		return notFound()
	}
	return reply{body: c.commentJSON(cm)}
}

func (c *call) updateComment() reply {
	cm := c.comment()
	if cm == nil {
		return notFound()
	}
	var req struct {
		Body string `json:"body"`
	}
	c.decode(&req)
	if bad := c.bodyTooLong(req.Body); bad != nil {
		return *bad
	}
	cm.Body = req.Body
	cm.Bodies = append(cm.Bodies, req.Body)
	cm.Edits++
	cm.UpdatedAt = c.stamp()
	if is := c.repo.issues[cm.Number]; is != nil {
		is.activity.Edited++
	}
	return reply{body: c.commentJSON(cm)}
}

func (c *call) deleteComment() reply {
	cm := c.comment()
	if cm == nil {
		return notFound()
	}
	cm.Deleted = true
	if is := c.repo.issues[cm.Number]; is != nil {
		is.activity.Deleted++
	}
	return reply{}
}

func (c *call) labelsReply(is *issueRec) reply {
	return reply{body: c.labels(c.repo, is.labels)}
}

func (c *call) listLabels() reply {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	out, h := c.page(c.labels(c.repo, is.labels))
	return reply{body: out, header: h}
}

// labelsBody reads the add/set labels body: {"labels": [...]}, a bare
// array, or one name.
func (c *call) labelsBody() []string {
	var obj struct {
		Labels json.RawMessage `json:"labels"`
	}
	if json.Unmarshal(c.raw, &obj) == nil && obj.Labels != nil {
		return labelNames(obj.Labels)
	}
	return labelNames(c.raw)
}

func (c *call) addLabels() reply {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	for _, l := range c.labelsBody() {
		if !slices.ContainsFunc(is.labels, func(x string) bool { return strings.EqualFold(x, l) }) {
			is.labels = append(is.labels, l)
		}
	}
	is.updatedAt = c.stamp()
	return c.labelsReply(is)
}

func (c *call) setLabels() reply {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	is.labels = c.labelsBody()
	is.updatedAt = c.stamp()
	return c.labelsReply(is)
}

func (c *call) removeAllLabels() reply {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	is.labels = nil
	is.updatedAt = c.stamp()
	return reply{}
}

func (c *call) removeLabel() reply {
	is := c.issue()
	if is == nil {
		return notFound()
	}
	name := c.params["name"]
	i := slices.IndexFunc(is.labels, func(x string) bool { return strings.EqualFold(x, name) })
	if i < 0 {
		return fail(http.StatusNotFound, "Label does not exist")
	}
	is.labels = slices.Delete(is.labels, i, i+1)
	is.updatedAt = c.stamp()
	return c.labelsReply(is)
}
