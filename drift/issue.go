package drift

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/promptgate/promptgate/evaluator"
	"github.com/promptgate/promptgate/registry"
	"github.com/promptgate/promptgate/report"
)

// Issues is the narrow GitHub surface the drift check needs, on the config
// repository. The bot implements it over the REST API.
type Issues interface {
	// FindOpen returns the open issue with exactly this title, if any.
	FindOpen(ctx context.Context, title string) (number int, found bool, err error)
	Create(ctx context.Context, title, body string, labels []string) (int, error)
	// Update replaces an issue's body.
	Update(ctx context.Context, number int, body string) error
	Comment(ctx context.Context, number int, body string) error
}

// Labels are put on every drift issue.
var Labels = []string{"promptgate", "drift"}

// marker is the hidden first line of a drift issue's body.
const marker = "<!-- promptgate:drift -->"

// Title is the title of the one issue per drifting artifact version and
// environment.
func Title(artifact string, version int, env string) string {
	return fmt.Sprintf("promptgate: silent drift in %s v%d (%s)", artifact, version, env)
}

// reportDrift files the drift: the issue known for this drift is updated
// and commented on, else an open issue with the title is adopted, else one
// is created. It returns the issue's number.
func (r *Runner) reportDrift(ctx context.Context, log *slog.Logger, art *registry.Artifact, env string, ar *evaluator.ArtifactReport, refAt, now time.Time) (int, error) {
	if r.Issues == nil {
		log.Warn("drift detected; no issue tracker configured", "regressed", names(regressed(ar)))
		return 0, nil
	}
	title := Title(art.Name, art.Version, env)
	body := issueBody(art, env, ar, refAt, now)
	n, known, err := found(r.Store.DriftIssue(ctx, r.Repo, art.Name, env, art.Digest))
	if err != nil {
		return 0, err
	}
	if !known {
		// The store may have lost it (a new database) or another replica
		// may have filed it: the title is the issue's identity on GitHub.
		if n, known, err = r.Issues.FindOpen(ctx, title); err != nil {
			return 0, fmt.Errorf("find drift issue %q: %w", title, err)
		}
	}
	if known {
		if err := r.Issues.Update(ctx, n, body); err != nil {
			return n, fmt.Errorf("update drift issue #%d: %w", n, err)
		}
		if err := r.Issues.Comment(ctx, n, stillComment(ar, now)); err != nil {
			return n, fmt.Errorf("comment on drift issue #%d: %w", n, err)
		}
		log.Info("drift issue updated", "issue", n)
	} else {
		if n, err = r.Issues.Create(ctx, title, body, Labels); err != nil {
			return 0, fmt.Errorf("create drift issue %q: %w", title, err)
		}
		log.Info("drift issue opened", "issue", n, "regressed", names(regressed(ar)))
	}
	if err := r.Store.SetDriftIssue(ctx, r.Repo, art.Name, env, art.Digest, n); err != nil {
		return n, err
	}
	return n, nil
}

// reportRecovery comments on the drift's issue, if it has one, that the
// latest run is back within the thresholds. The issue stays open for a
// person to close.
func (r *Runner) reportRecovery(ctx context.Context, log *slog.Logger, art *registry.Artifact, env string, ar *evaluator.ArtifactReport, now time.Time) (int, error) {
	if r.Issues == nil {
		return 0, nil
	}
	n, known, err := found(r.Store.DriftIssue(ctx, r.Repo, art.Name, env, art.Digest))
	if err != nil || !known {
		return 0, err
	}
	o := ar.Overall
	msg := fmt.Sprintf("✅ The run of %s is back within the thresholds: overall pass rate %s → %s (%s pp) against the reference. "+
		"The provider may have restored the model; close this issue once you are satisfied.",
		stamp(now), percent(o.BasePassRate), percent(o.HeadPassRate), points(o.DeltaPP))
	if err := r.Issues.Comment(ctx, n, msg); err != nil {
		return n, fmt.Errorf("comment on drift issue #%d: %w", n, err)
	}
	if err := r.Store.SetDriftIssue(ctx, r.Repo, art.Name, env, art.Digest, n); err != nil {
		return n, err
	}
	log.Info("drift issue: back within thresholds", "issue", n)
	return n, nil
}

// issueBody explains the drift and carries the report, within GitHub's
// limit on an issue body.
func issueBody(art *registry.Artifact, env string, ar *evaluator.ArtifactReport, refAt, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n## 📉 Silent drift: %s v%d in %s\n\n", marker, report.Inline(art.Name), art.Version, report.Inline(env))
	fmt.Fprintf(&b, "The scheduled golden-set run ran against the version live in %s with no change on our side: "+
		"the same artifact (digest %s), prompt, parameters and model name (%s). "+
		"A drop means the provider changed the model behind the same name.\n\n",
		report.Inline(env), registry.ShortDigest(art.Digest), report.Inline(art.Model))
	b.WriteString("**Dropped**\n\n")
	drops := regressed(ar)
	for i, c := range drops {
		if i == maxDropLines {
			fmt.Fprintf(&b, "- … and %d more (see the table below)\n", len(drops)-i)
			break
		}
		fmt.Fprintf(&b, "- %s: %s → %s (%s pp, %s, %d cases)\n", categoryName(c), percent(c.BasePassRate),
			percent(c.HeadPassRate), points(c.DeltaPP), pValue(c.PValue), c.N)
	}
	fmt.Fprintf(&b, "\nThis run: %s. Compared with the run of %s, the last one within the thresholds.\n\n", stamp(now), stamp(refAt))
	b.WriteString("**What to do**: check the provider's changelog and status; pin another model snapshot in a new version " +
		"of the artifact (a pull request, gated as usual) or roll back. Each scheduled run updates this issue while the drift lasts.\n\n")

	intro := b.String()
	md := report.Markdown(&evaluator.Report{Verdict: ar.Verdict, Artifacts: []*evaluator.ArtifactReport{ar}},
		report.Options{MaxChars: report.DefaultMaxChars - utf8.RuneCountInString(intro)})
	return intro + stripPRParts(md)
}

// stripPRParts removes what only makes sense on a pull request: the sticky
// comment's marker and the closing "What happens next" section, which tells
// a reviewer how to accept a regression.
func stripPRParts(md string) string {
	md = strings.TrimPrefix(md, report.Marker+"\n")
	if i := strings.LastIndex(md, "\n### What happens next"); i >= 0 {
		md = md[:i]
	}
	return strings.TrimRight(md, "\n") + "\n"
}

// stillComment is the note on an existing issue when a later run drifted too.
func stillComment(ar *evaluator.ArtifactReport, now time.Time) string {
	var parts []string
	for _, c := range regressed(ar) {
		parts = append(parts, fmt.Sprintf("%s %s → %s (%s pp)", categoryName(c), percent(c.BasePassRate), percent(c.HeadPassRate), points(c.DeltaPP)))
	}
	return fmt.Sprintf("📉 Still drifting in the run of %s: %s. The description now shows this run's report.", stamp(now), strings.Join(parts, "; "))
}

// maxDropLines bounds the list of dropped categories above the report, so
// that the explanation never crowds the report out of the body.
const maxDropLines = 30

func categoryName(c evaluator.CategoryDelta) string {
	if c.Name == "overall" {
		return "overall"
	}
	name := c.Name
	if utf8.RuneCountInString(name) > 80 {
		name = string([]rune(name)[:79]) + "…"
	}
	return "category " + report.Inline(name)
}

func names(cs []evaluator.CategoryDelta) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "an earlier run"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func percent(rate float64) string { return fmt.Sprintf("%.1f%%", 100*rate) }

// points renders a change in percentage points with a sign.
func points(pp float64) string {
	s := fmt.Sprintf("%+.1f", pp)
	if s == "+0.0" || s == "-0.0" {
		return "0"
	}
	return strings.Replace(s, "-", "−", 1)
}

func pValue(p float64) string {
	if p < 0.001 {
		return "p<0.001"
	}
	return fmt.Sprintf("p=%.3f", p)
}
