package fakegithub

import (
	"net/http"
	"strconv"
	"time"
)

// checkRunRequest is the body of a check run create or update.
type checkRunRequest struct {
	Name        *string `json:"name"`
	HeadSHA     string  `json:"head_sha"`
	DetailsURL  *string `json:"details_url"`
	ExternalID  *string `json:"external_id"`
	Status      *string `json:"status"`
	StartedAt   *string `json:"started_at"`
	Conclusion  *string `json:"conclusion"`
	CompletedAt *string `json:"completed_at"`
	Output      *struct {
		Title       *string `json:"title"`
		Summary     *string `json:"summary"`
		Text        *string `json:"text"`
		Annotations []struct {
			Path        string `json:"path"`
			StartLine   int    `json:"start_line"`
			EndLine     int    `json:"end_line"`
			StartColumn *int   `json:"start_column"`
			EndColumn   *int   `json:"end_column"`
			Level       string `json:"annotation_level"`
			Message     string `json:"message"`
			Title       string `json:"title"`
			RawDetails  string `json:"raw_details"`
		} `json:"annotations"`
	} `json:"output"`
}

func (c *call) createCheckRun() reply {
	var req checkRunRequest
	c.decode(&req)
	run := &CheckRun{ID: c.s.newID(), HeadSHA: req.HeadSHA, Status: "queued", StartedAt: c.stamp()}
	if bad := c.applyCheckRun(run, req, "created"); bad != nil {
		return *bad
	}
	c.repo.checkRuns = append(c.repo.checkRuns, run)
	return reply{body: c.checkRunJSON(c.repo, run)}
}

func (c *call) findCheckRun() *CheckRun {
	id, err := strconv.ParseInt(c.params["check_run_id"], 10, 64)
	if err != nil {
		return nil
	}
	for _, r := range c.repo.checkRuns {
		if r.ID == id {
			return r
		}
	}
	return nil
}

func (c *call) getCheckRun() reply {
	run := c.findCheckRun()
	if run == nil {
		return notFound()
	}
	return reply{body: c.checkRunJSON(c.repo, run)}
}

func (c *call) updateCheckRun() reply {
	run := c.findCheckRun()
	if run == nil {
		return notFound()
	}
	var req checkRunRequest
	c.decode(&req)
	next := cloneCheckRun(run)
	if bad := c.applyCheckRun(&next, req, "updated"); bad != nil {
		return *bad
	}
	*run = next
	return reply{body: c.checkRunJSON(c.repo, run)}
}

// applyCheckRun merges a create or update into run as GitHub does: a
// conclusion completes the run, output fields replace the old ones, and
// annotations are appended to those already there.
func (c *call) applyCheckRun(run *CheckRun, req checkRunRequest, action string) *reply {
	// go-github always sends name on update, "" when the caller left it out.
	if req.Name != nil && (*req.Name != "" || action == "created") {
		run.Name = *req.Name
	}
	if req.DetailsURL != nil {
		run.DetailsURL = *req.DetailsURL
	}
	if req.ExternalID != nil {
		run.ExternalID = *req.ExternalID
	}
	if req.StartedAt != nil {
		t, err := time.Parse(time.RFC3339, *req.StartedAt)
		if err != nil {
			r := validationFailed("CheckRun", "started_at", "invalid", "")
			return &r
		}
		run.StartedAt = t
	}
	if req.Status != nil {
		run.Status = *req.Status
	}
	if req.Conclusion != nil {
		run.Conclusion = *req.Conclusion
		run.Status = "completed"
	}
	if req.CompletedAt != nil {
		t, err := time.Parse(time.RFC3339, *req.CompletedAt)
		if err != nil {
			r := validationFailed("CheckRun", "completed_at", "invalid", "")
			return &r
		}
		run.CompletedAt = t
	}
	if run.Status == "completed" {
		if run.Conclusion == "" {
			r := validationFailed("CheckRun", "conclusion", "missing_field", "conclusion is required when status is completed")
			return &r
		}
		if run.CompletedAt.IsZero() {
			run.CompletedAt = c.stamp()
		}
	} else {
		run.Conclusion, run.CompletedAt = "", time.Time{}
	}
	var added []Annotation
	if o := req.Output; o != nil {
		if o.Title != nil {
			run.Output.Title = *o.Title
		}
		if o.Summary != nil {
			run.Output.Summary = *o.Summary
		}
		if o.Text != nil {
			run.Output.Text = *o.Text
		}
		for i, a := range o.Annotations {
			// The description: columns only where start_line == end_line.
			if (a.StartColumn != nil || a.EndColumn != nil) && a.StartLine != a.EndLine {
				r := fail(http.StatusUnprocessableEntity, "Invalid request.\n\nstart_column and end_column may only be given when start_line and end_line are the same.",
					map[string]any{"resource": "CheckRun", "field": "output.annotations[" + strconv.Itoa(i) + "]", "code": "invalid"})
				return &r
			}
			an := Annotation{Path: a.Path, StartLine: a.StartLine, EndLine: a.EndLine, Level: a.Level,
				Message: a.Message, Title: a.Title, RawDetails: a.RawDetails}
			if a.StartColumn != nil {
				an.StartColumn = *a.StartColumn
			}
			if a.EndColumn != nil {
				an.EndColumn = *a.EndColumn
			}
			added = append(added, an)
		}
		run.Annotations = append(run.Annotations, added...)
	}
	run.History = append(run.History, CheckRunEvent{
		Action: action, Status: run.Status, Conclusion: run.Conclusion,
		Output: run.Output, Annotations: added, Body: string(c.raw),
	})
	return nil
}

func (c *call) listCheckRunsForRef() reply {
	ref := c.params["ref"]
	sha := ref
	if s, ok := c.s.refsLocked(c.repo)["refs/heads/"+ref]; ok {
		sha = s
	} else if s, ok := c.s.refsLocked(c.repo)["refs/"+ref]; ok {
		sha = s
	} else {
		for _, is := range sortedIssues(c.repo) {
			if is.pull != nil && is.state == "open" && is.pull.headRef == ref {
				sha = is.pull.headSHA
			}
		}
	}
	q := c.r.URL.Query()
	name, status := q.Get("check_name"), q.Get("status")
	latest := q.Get("filter") != "all"
	var runs []*CheckRun
	seen := map[string]bool{}
	// Newest first, as GitHub lists them; "latest" keeps one run per name.
	for i := len(c.repo.checkRuns) - 1; i >= 0; i-- {
		r := c.repo.checkRuns[i]
		if r.HeadSHA != sha || (name != "" && r.Name != name) || (status != "" && r.Status != status) {
			continue
		}
		if latest && seen[r.Name] {
			continue
		}
		seen[r.Name] = true
		runs = append(runs, r)
	}
	items := make([]any, len(runs))
	for i, r := range runs {
		items[i] = c.checkRunJSON(c.repo, r)
	}
	out, h := c.page(items)
	return reply{body: map[string]any{"total_count": len(runs), "check_runs": out}, header: h}
}
