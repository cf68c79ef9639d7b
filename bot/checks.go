package bot

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/promptgate/promptgate/registry"
)

// maxAnnotations is how many annotations GitHub takes per check-run request;
// more are sent in further updates, which GitHub appends.
const maxAnnotations = 50

// Check-run conclusions the bot sets.
const (
	conclusionSuccess   = "success"
	conclusionFailure   = "failure"
	conclusionNeutral   = "neutral"
	conclusionCancelled = "cancelled"
)

// checkRun is the PR's promptgate check on one head SHA.
type checkRun struct {
	gh          *github.Client
	owner, repo string
	id          int64
	url         string
	externalID  string
	headSHA     string
}

// startCheck creates the check in progress, or moves an existing one
// (a re-requested check) back to in progress.
func startCheck(ctx context.Context, gh *github.Client, owner, repo, headSHA string, existing int64, externalID, summary string) (*checkRun, error) {
	out := &github.CheckRunOutput{Title: github.String("Running the golden set"), Summary: github.String(summary)}
	cr := &checkRun{gh: gh, owner: owner, repo: repo, headSHA: headSHA, externalID: externalID}
	if existing != 0 {
		run, _, err := gh.Checks.UpdateCheckRun(ctx, owner, repo, existing, github.UpdateCheckRunOptions{
			Name: CheckName, Status: github.String("in_progress"), ExternalID: github.String(externalID), Output: out,
		})
		if err != nil {
			return nil, fmt.Errorf("restart check run: %w", err)
		}
		cr.id, cr.url = run.GetID(), run.GetHTMLURL()
		return cr, nil
	}
	// A job resumed after a crash finds the check it created before.
	runs, _, err := gh.Checks.ListCheckRunsForRef(ctx, owner, repo, headSHA, &github.ListCheckRunsOptions{CheckName: github.String(CheckName)})
	if err != nil {
		return nil, fmt.Errorf("list check runs: %w", err)
	}
	for _, r := range runs.CheckRuns {
		if r.GetExternalID() == externalID && externalID != "" {
			return startCheck(ctx, gh, owner, repo, headSHA, r.GetID(), externalID, summary)
		}
	}
	run, _, err := gh.Checks.CreateCheckRun(ctx, owner, repo, github.CreateCheckRunOptions{
		Name: CheckName, HeadSHA: headSHA, Status: github.String("in_progress"),
		StartedAt: &github.Timestamp{Time: time.Now()}, ExternalID: github.String(externalID), Output: out,
	})
	if err != nil {
		return nil, fmt.Errorf("create check run: %w", err)
	}
	cr.id, cr.url = run.GetID(), run.GetHTMLURL()
	return cr, nil
}

// complete finishes the check. GitHub takes 50 annotations per request, so
// earlier batches go in updates while the check is still in progress and
// the last batch rides with the completion: whoever sees the check
// completed sees every annotation.
func (c *checkRun) complete(ctx context.Context, conclusion, title, summary, text string, anns []*github.CheckRunAnnotation) error {
	for len(anns) > maxAnnotations {
		_, _, err := c.gh.Checks.UpdateCheckRun(ctx, c.owner, c.repo, c.id, github.UpdateCheckRunOptions{
			Name:   CheckName,
			Output: &github.CheckRunOutput{Title: &title, Summary: &summary, Annotations: anns[:maxAnnotations]},
		})
		if err != nil {
			return fmt.Errorf("add annotations: %w", err)
		}
		anns = anns[maxAnnotations:]
	}
	out := &github.CheckRunOutput{Title: &title, Summary: &summary, Annotations: anns}
	if text != "" {
		out.Text = &text
	}
	_, _, err := c.gh.Checks.UpdateCheckRun(ctx, c.owner, c.repo, c.id, github.UpdateCheckRunOptions{
		Name: CheckName, Status: github.String("completed"), Conclusion: &conclusion,
		CompletedAt: &github.Timestamp{Time: time.Now()}, Output: out,
	})
	if err != nil {
		return fmt.Errorf("complete check run: %w", err)
	}
	return nil
}

// annotations turns validation problems and wrong version numbers into
// check-run annotations at their YAML lines.
func annotations(problems []registry.Problem, versions []registry.VersionCheck) []*github.CheckRunAnnotation {
	var out []*github.CheckRunAnnotation
	for _, p := range problems {
		line := max(p.Line, 1)
		out = append(out, &github.CheckRunAnnotation{
			Path: github.String(p.Path), StartLine: github.Int(line), EndLine: github.Int(line),
			AnnotationLevel: github.String("failure"), Title: github.String("promptgate validate"), Message: github.String(p.Message),
		})
	}
	for _, v := range versions {
		if v.OK {
			continue
		}
		line := max(v.Line, 1)
		out = append(out, &github.CheckRunAnnotation{
			Path: github.String(v.Path), StartLine: github.Int(line), EndLine: github.Int(line),
			AnnotationLevel: github.String("failure"), Title: github.String("wrong version number"),
			Message: github.String(fmt.Sprintf("%s: set `version: %d`", v.Message, v.Expected)),
		})
	}
	return out
}
