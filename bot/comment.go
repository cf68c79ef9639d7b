package bot

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-github/v62/github"

	"github.com/promptgate/promptgate/report"
)

// stickyComment edits the PR's one promptgate comment in place, found by
// report.Marker, or creates it. Two runs racing on one PR can both create
// one; afterwards each keeps the oldest and deletes the rest, so they
// converge on exactly one comment.
func stickyComment(ctx context.Context, gh *github.Client, owner, repo string, pr int, body string) (*github.IssueComment, error) {
	if !strings.Contains(body, report.Marker) {
		body = report.Marker + "\n" + body
	}
	mine, err := markedComments(ctx, gh, owner, repo, pr)
	if err != nil {
		return nil, err
	}
	var c *github.IssueComment
	if len(mine) > 0 {
		c, _, err = gh.Issues.EditComment(ctx, owner, repo, mine[0].GetID(), &github.IssueComment{Body: &body})
		if err != nil {
			return nil, fmt.Errorf("edit comment: %w", err)
		}
	} else {
		c, _, err = gh.Issues.CreateComment(ctx, owner, repo, pr, &github.IssueComment{Body: &body})
		if err != nil {
			return nil, fmt.Errorf("create comment: %w", err)
		}
		mine, err = markedComments(ctx, gh, owner, repo, pr)
		if err != nil {
			return nil, err
		}
		if len(mine) > 1 && mine[0].GetID() != c.GetID() {
			// Another run created one first: that one is the sticky comment.
			if _, _, err := gh.Issues.EditComment(ctx, owner, repo, mine[0].GetID(), &github.IssueComment{Body: &body}); err != nil {
				return nil, fmt.Errorf("edit comment: %w", err)
			}
			c = mine[0]
		}
	}
	for _, dup := range mine {
		if dup.GetID() != c.GetID() && dup.GetID() > c.GetID() {
			if _, err := gh.Issues.DeleteComment(ctx, owner, repo, dup.GetID()); err != nil {
				return nil, fmt.Errorf("delete duplicate comment: %w", err)
			}
		}
	}
	return c, nil
}

// markedComments lists the PR's comments that carry the marker, oldest first.
func markedComments(ctx context.Context, gh *github.Client, owner, repo string, pr int) ([]*github.IssueComment, error) {
	var out []*github.IssueComment
	opt := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		page, resp, err := gh.Issues.ListComments(ctx, owner, repo, pr, opt)
		if err != nil {
			return nil, fmt.Errorf("list comments: %w", err)
		}
		for _, c := range page {
			if strings.HasPrefix(strings.TrimSpace(c.GetBody()), report.Marker) {
				out = append(out, c)
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetID() < out[j].GetID() })
	return out, nil
}

// placeholder is the sticky comment while the gate runs.
func placeholder(headSHA string, artifacts []string) string {
	var b strings.Builder
	b.WriteString(report.Marker + "\n")
	b.WriteString("## ⏳ promptgate: running the golden set\n\n")
	fmt.Fprintf(&b, "Evaluating `%s` against the base branch", short(headSHA))
	if len(artifacts) > 0 {
		fmt.Fprintf(&b, " for changes in %s", strings.Join(quoteAll(artifacts), ", "))
	}
	b.WriteString(". This comment is replaced by the report when the run finishes; the `promptgate` check shows progress.\n")
	return b.String()
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = report.Inline(s)
	}
	return out
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
