package bot

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/promptgate/promptgate/store"
)

// Job kinds.
const (
	KindGate  = "gate"
	KindMerge = "merge"
)

// Labels the bot reads.
const (
	LabelRun    = "promptgate:run"
	LabelAccept = "promptgate:accept-regression"
	// RunCommand in a PR comment, from someone with write access, runs the gate.
	RunCommand = "/promptgate run"
)

// PRJob is the payload of gate and merge jobs: what the webhook said, no more.
// Handlers read the rest from GitHub when they run.
type PRJob struct {
	Delivery     string `json:"delivery"`
	Event        string `json:"event"`
	Action       string `json:"action"`
	Installation int64  `json:"installation"`
	Owner        string `json:"owner"`
	Repo         string `json:"repo"`
	PR           int    `json:"pr"`
	HeadSHA      string `json:"head_sha,omitempty"`
	// Actor is who commented or labelled, when that matters for permission.
	Actor string `json:"actor,omitempty"`
	// Trigger says why the job exists, for logs and the comment.
	Trigger string `json:"trigger"`
	// CheckRunID is set when GitHub asked to re-run an existing check.
	CheckRunID int64 `json:"check_run_id,omitempty"`
}

// FullName is owner/repo.
func (j PRJob) FullName() string { return j.Owner + "/" + j.Repo }

// key groups the jobs of one PR, so a newer push supersedes an older run.
func (j PRJob) key() string { return fmt.Sprintf("%s#%d", j.FullName(), j.PR) }

// handleHook verifies the signature before reading anything else, records
// the delivery so a redelivery is not processed twice, turns the event into
// at most one job, and answers 202 without waiting for the work.
func (s *Server) handleHook(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	event := r.Header.Get("X-GitHub-Event")
	delivery := r.Header.Get("X-GitHub-Delivery")
	// GitHub caps payloads at 25 MB; nothing larger is read before the signature check.
	r.Body = http.MaxBytesReader(w, r.Body, 25<<20)
	payload, err := github.ValidatePayload(r, []byte(s.settings.WebhookSecret))
	if err != nil {
		s.metrics.deliveries.WithLabelValues(event, "bad_signature").Inc()
		s.log.Warn("webhook rejected", "event", event, "delivery", delivery, "reason", "invalid signature or payload")
		http.Error(w, "invalid signature", http.StatusBadRequest)
		return
	}
	if delivery == "" || event == "" {
		s.metrics.deliveries.WithLabelValues(event, "malformed").Inc()
		http.Error(w, "missing X-GitHub-Event or X-GitHub-Delivery", http.StatusBadRequest)
		return
	}
	parsed, err := github.ParseWebHook(event, payload)
	if err != nil {
		// An event type go-github does not know is not ours to handle.
		if strings.Contains(err.Error(), "unknown X-Github-Event") {
			s.accepted(w, event, "ignored", start)
			return
		}
		s.metrics.deliveries.WithLabelValues(event, "malformed").Inc()
		s.log.Warn("webhook payload malformed", "event", event, "delivery", delivery, "error", err)
		http.Error(w, "malformed payload", http.StatusBadRequest)
		return
	}
	job, kind, ok := toJob(parsed, delivery, event)
	if !ok {
		s.accepted(w, event, "ignored", start)
		return
	}
	body, _ := json.Marshal(job)
	key := job.key()
	if kind == KindMerge {
		key += ":merge"
	}
	res, err := s.acceptor.accept(r.Context(), store.DeliveryJob{Delivery: delivery, Event: event, Kind: kind, Key: key, Payload: body})
	if err != nil {
		s.log.Error("accept delivery", "delivery", delivery, "error", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	if res.Duplicate {
		s.accepted(w, event, "duplicate", start)
		return
	}
	created, superseded := res.Job, res.Superseded
	s.log.Info("job queued", "kind", kind, "job", created.ID, "repo", job.FullName(), "pr", job.PR, "delivery", delivery, "trigger", job.Trigger, "superseded", len(superseded))
	s.queue.wake()
	s.accepted(w, event, "queued", start)
}

func (s *Server) accepted(w http.ResponseWriter, event, result string, start time.Time) {
	s.metrics.deliveries.WithLabelValues(event, result).Inc()
	s.metrics.acceptSeconds.Observe(time.Since(start).Seconds())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, "{\"result\":%q}\n", result)
}

// toJob picks the trigger; it returns false for events the bot ignores.
func toJob(ev any, delivery, event string) (PRJob, string, bool) {
	switch e := ev.(type) {
	case *github.PullRequestEvent:
		pr := e.GetPullRequest()
		j := PRJob{Delivery: delivery, Event: event, Action: e.GetAction(), Installation: e.GetInstallation().GetID(),
			Owner: e.GetRepo().GetOwner().GetLogin(), Repo: e.GetRepo().GetName(), PR: pr.GetNumber(),
			HeadSHA: pr.GetHead().GetSHA(), Actor: e.GetSender().GetLogin(), Trigger: "pull_request." + e.GetAction()}
		switch e.GetAction() {
		case "opened", "synchronize", "reopened":
			if pr.GetDraft() {
				return j, "", false
			}
			return j, KindGate, true
		case "ready_for_review":
			return j, KindGate, true
		case "labeled":
			if l := e.GetLabel().GetName(); l == LabelRun || l == LabelAccept {
				j.Trigger = "label " + l
				return j, KindGate, true
			}
		case "closed":
			if pr.GetMerged() {
				j.HeadSHA = pr.GetMergeCommitSHA()
				j.Trigger = "merged"
				return j, KindMerge, true
			}
		}
	case *github.CheckRunEvent:
		cr := e.GetCheckRun()
		if e.GetAction() != "rerequested" || cr.GetName() != CheckName || len(cr.PullRequests) == 0 {
			return PRJob{}, "", false
		}
		return PRJob{Delivery: delivery, Event: event, Action: e.GetAction(), Installation: e.GetInstallation().GetID(),
			Owner: e.GetRepo().GetOwner().GetLogin(), Repo: e.GetRepo().GetName(), PR: cr.PullRequests[0].GetNumber(),
			HeadSHA: cr.GetHeadSHA(), Actor: e.GetSender().GetLogin(), Trigger: "check_run.rerequested", CheckRunID: cr.GetID()}, KindGate, true
	case *github.IssueCommentEvent:
		if e.GetAction() != "created" || !e.GetIssue().IsPullRequest() {
			return PRJob{}, "", false
		}
		if strings.TrimSpace(e.GetComment().GetBody()) != RunCommand {
			return PRJob{}, "", false
		}
		return PRJob{Delivery: delivery, Event: event, Action: e.GetAction(), Installation: e.GetInstallation().GetID(),
			Owner: e.GetRepo().GetOwner().GetLogin(), Repo: e.GetRepo().GetName(), PR: e.GetIssue().GetNumber(),
			Actor: e.GetComment().GetUser().GetLogin(), Trigger: "comment " + RunCommand}, KindGate, true
	}
	return PRJob{}, "", false
}
