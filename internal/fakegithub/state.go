package fakegithub

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Repo is a repository the fake knows.
type Repo struct {
	Owner string
	Name  string
	// DefaultBranch defaults to "main".
	DefaultBranch string
	Private       bool
	Fork          bool
	// InstallationID is the App installation that can see the repository;
	// 0 means Options.InstallationID. Tokens of other installations get 404.
	InstallationID int64
}

// PullRequest is a pull request, seeded by a test or created through the
// API.
type PullRequest struct {
	// Number is assigned (shared with issues, as on GitHub) when 0.
	Number int
	Title  string
	Body   string
	// User is the author's login; default "octocat".
	User string
	// State is "open" (default) or "closed".
	State  string
	Draft  bool
	Merged bool
	// MergeCommitSHA is the commit a merge made on the base branch.
	MergeCommitSHA string
	// HeadSHA defaults to a hash of the head ref; HeadRef to "feature",
	// BaseRef to the repository's default branch.
	HeadSHA string
	HeadRef string
	BaseRef string
	BaseSHA string
	// Fork marks a pull request from a fork, owned by HeadOwner (default
	// User); head.repo is then that fork.
	Fork      bool
	HeadOwner string
	Labels    []string
	Files     []File
	Reviews   []Review
	// RequestedReviewers and RequestedTeams are pending review requests.
	RequestedReviewers  []string
	RequestedTeams      []string
	MaintainerCanModify bool
	CreatedAt           time.Time
	// ViaAPI is set on pull requests created through POST .../pulls.
	ViaAPI bool
}

// File is one changed file of a pull request.
type File struct {
	Filename string
	// Status is added, removed, modified (default), renamed, copied,
	// changed or unchanged.
	Status           string
	Additions        int
	Deletions        int
	SHA              string
	PreviousFilename string
	// Patch is the file's unified diff hunks. When set, review comments on
	// this file must land on a line the hunks show, as on GitHub.
	Patch string
}

// Review is a pull request review.
type Review struct {
	ID int64
	// User is the reviewer's login.
	User string
	// State is APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED or PENDING.
	State       string
	Body        string
	CommitID    string
	SubmittedAt time.Time
}

// ReviewComment is a comment on a line of a pull request's diff, posted
// alone or as part of a review.
type ReviewComment struct {
	ID        int64
	ReviewID  int64
	User      string
	Path      string
	Line      int
	Side      string
	StartLine int
	StartSide string
	CommitID  string
	Body      string
	InReplyTo int64
	CreatedAt time.Time
}

// Issue is an issue (pull requests are issues too, but Issues lists only
// plain issues).
type Issue struct {
	Number      int
	Title       string
	Body        string
	User        string
	State       string // open, closed
	StateReason string
	Labels      []string
	Assignees   []string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ViaAPI      bool
}

// Comment is an issue (or pull request conversation) comment.
type Comment struct {
	ID     int64
	Number int // the issue or pull request
	User   string
	// Body is the current body; Bodies every body it had, oldest first.
	Body      string
	Bodies    []string
	Edits     int
	Deleted   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CommentActivity counts what happened to an issue's comments.
type CommentActivity struct {
	Created int
	Edited  int
	Deleted int
}

// CheckRun is a check run with its whole history.
type CheckRun struct {
	ID          int64
	Name        string
	HeadSHA     string
	Status      string // queued, in_progress, completed
	Conclusion  string
	DetailsURL  string
	ExternalID  string
	StartedAt   time.Time
	CompletedAt time.Time
	Output      CheckOutput
	// Annotations accumulate over the create and every update, as on GitHub.
	Annotations []Annotation
	// History has one entry per create or update, in order.
	History []CheckRunEvent
}

// CheckOutput is a check run's output text.
type CheckOutput struct {
	Title   string
	Summary string
	Text    string
}

// Annotation is a check run annotation.
type Annotation struct {
	Path        string
	StartLine   int
	EndLine     int
	StartColumn int
	EndColumn   int
	Level       string // notice, warning, failure
	Message     string
	Title       string
	RawDetails  string
}

// CheckRunEvent is the check run as one create or update left it.
type CheckRunEvent struct {
	Action     string // "created" or "updated"
	Status     string
	Conclusion string
	Output     CheckOutput
	// Annotations are the ones this request added.
	Annotations []Annotation
	// Body is the request body as sent.
	Body string
}

// Sequence is the check run's states in order, one per create or update:
// "queued", "in_progress", or "completed/<conclusion>".
func (r CheckRun) Sequence() []string {
	out := make([]string, len(r.History))
	for i, e := range r.History {
		out[i] = e.Status
		if e.Status == "completed" {
			out[i] += "/" + e.Conclusion
		}
	}
	return out
}

type repoRec struct {
	Repo
	id, installationID int64
	createdAt          time.Time
	nextNumber         int
	issues             map[int]*issueRec
	checkRuns          []*CheckRun
	perms              map[string]string // lower-case login → permission
	refs               map[string]string
	labelIDs           map[string]int64
}

type issueRec struct {
	number    int
	id        int64
	title     string
	body      string
	user      string
	state     string
	reason    string
	labels    []string
	assignees []string
	createdAt time.Time
	updatedAt time.Time
	closedAt  time.Time
	viaAPI    bool
	comments  []int64
	activity  CommentActivity
	pull      *pullRec // nil for a plain issue
}

type pullRec struct {
	id                  int64
	headSHA, headRef    string
	baseSHA, baseRef    string
	fork                bool
	headOwner           string
	draft, merged       bool
	mergedAt            time.Time
	mergeCommitSHA      string
	maintainerCanModify bool
	files               []File
	reviews             []Review
	requestedUsers      []string
	requestedTeams      []string
	reviewComments      []ReviewComment
}

type commentRec struct {
	Comment
	repo *repoRec
}

func repoKey(owner, name string) string { return strings.ToLower(owner + "/" + name) }

// repo looks a repository up; s.mu must be held.
func (s *Server) repo(owner, name string) *repoRec {
	return s.repos[repoKey(owner, name)]
}

// ensureRepo returns the repository, creating it with defaults; s.mu held.
func (s *Server) ensureRepo(owner, name string) *repoRec {
	if r := s.repo(owner, name); r != nil {
		return r
	}
	return s.addRepoLocked(Repo{Owner: owner, Name: name})
}

func (s *Server) addRepoLocked(r Repo) *repoRec {
	if r.DefaultBranch == "" {
		r.DefaultBranch = "main"
	}
	rec := &repoRec{
		Repo:           r,
		id:             s.newID(),
		installationID: r.InstallationID,
		createdAt:      s.now().UTC(),
		issues:         map[int]*issueRec{},
		perms:          map[string]string{},
		refs:           map[string]string{},
		labelIDs:       map[string]int64{},
	}
	if rec.installationID == 0 {
		rec.installationID = s.opts.InstallationID
	}
	if old := s.repo(r.Owner, r.Name); old != nil {
		i := slices.Index(s.repoOrder, old)
		s.repoOrder = slices.Delete(s.repoOrder, i, i+1)
	}
	s.repos[repoKey(r.Owner, r.Name)] = rec
	s.repoOrder = append(s.repoOrder, rec)
	return rec
}

func (s *Server) newID() int64 {
	s.nextID++
	return s.nextID
}

func (s *Server) userID(login string) int64 {
	k := strings.ToLower(login)
	if id, ok := s.userIDs[k]; ok {
		return id
	}
	id := s.newID()
	s.userIDs[k] = id
	return id
}

// botLogin is the App's user.
func (s *Server) botLogin() string { return s.opts.AppSlug + "[bot]" }

// fakeSHA is a stable 40-hex stand-in for a commit the fake cannot know.
func fakeSHA(parts ...string) string {
	h := sha1.Sum([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])
}

// AddRepo adds (or replaces) a repository.
func (s *Server) AddRepo(r Repo) {
	if r.Owner == "" || r.Name == "" {
		panic("fakegithub: AddRepo needs Owner and Name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addRepoLocked(r)
}

// AddPull seeds a pull request (creating the repository with defaults if
// needed) and returns its number.
func (s *Server) AddPull(owner, repo string, pr PullRequest) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.ensureRepo(owner, repo)
	return s.addPullLocked(rec, pr).number
}

func (s *Server) addPullLocked(rec *repoRec, pr PullRequest) *issueRec {
	now := s.now().UTC().Truncate(time.Second)
	if pr.User == "" {
		pr.User = "octocat"
	}
	if pr.State == "" {
		pr.State = "open"
	}
	if pr.HeadRef == "" {
		pr.HeadRef = "feature"
	}
	if pr.BaseRef == "" {
		pr.BaseRef = rec.DefaultBranch
	}
	if pr.HeadSHA == "" {
		pr.HeadSHA = fakeSHA(rec.Owner, rec.Name, "head", pr.HeadRef)
	}
	if pr.BaseSHA == "" {
		pr.BaseSHA = fakeSHA(rec.Owner, rec.Name, "base", pr.BaseRef)
	}
	if pr.Fork && pr.HeadOwner == "" {
		pr.HeadOwner = pr.User
	}
	if pr.CreatedAt.IsZero() {
		pr.CreatedAt = now
	}
	is := s.newIssueLocked(rec, pr.Number)
	is.title, is.body, is.user, is.state = pr.Title, pr.Body, pr.User, pr.State
	is.labels = slices.Clone(pr.Labels)
	is.createdAt, is.updatedAt = pr.CreatedAt, pr.CreatedAt
	is.viaAPI = pr.ViaAPI
	if pr.State == "closed" {
		is.closedAt = now
	}
	p := &pullRec{
		id:      s.newID(),
		headSHA: pr.HeadSHA, headRef: pr.HeadRef,
		baseSHA: pr.BaseSHA, baseRef: pr.BaseRef,
		fork: pr.Fork, headOwner: pr.HeadOwner,
		draft: pr.Draft, merged: pr.Merged, mergeCommitSHA: pr.MergeCommitSHA,
		maintainerCanModify: pr.MaintainerCanModify,
		files:               slices.Clone(pr.Files),
		requestedUsers:      slices.Clone(pr.RequestedReviewers),
		requestedTeams:      slices.Clone(pr.RequestedTeams),
	}
	if pr.Merged {
		p.mergedAt = now
	}
	for i := range p.files {
		f := &p.files[i]
		if f.Status == "" {
			f.Status = "modified"
		}
		if f.SHA == "" {
			f.SHA = fakeSHA(rec.Owner, rec.Name, pr.HeadSHA, f.Filename)
		}
	}
	for _, r := range pr.Reviews {
		p.reviews = append(p.reviews, s.completeReview(r, pr.HeadSHA))
	}
	is.pull = p
	return is
}

func (s *Server) completeReview(r Review, headSHA string) Review {
	if r.ID == 0 {
		r.ID = s.newID()
	}
	if r.State == "" {
		r.State = "COMMENTED"
	}
	if r.CommitID == "" {
		r.CommitID = headSHA
	}
	if r.SubmittedAt.IsZero() && r.State != "PENDING" {
		r.SubmittedAt = s.now().UTC().Truncate(time.Second)
	}
	return r
}

func (s *Server) newIssueLocked(rec *repoRec, number int) *issueRec {
	if number == 0 {
		number = rec.nextNumber + 1
	}
	if number > rec.nextNumber {
		rec.nextNumber = number
	}
	is := &issueRec{number: number, id: s.newID(), state: "open"}
	rec.issues[number] = is
	return is
}

// AddIssue seeds an issue and returns its number.
func (s *Server) AddIssue(owner, repo string, is Issue) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.ensureRepo(owner, repo)
	now := s.now().UTC().Truncate(time.Second)
	r := s.newIssueLocked(rec, is.Number)
	r.title, r.body, r.user, r.reason = is.Title, is.Body, is.User, is.StateReason
	if r.user == "" {
		r.user = "octocat"
	}
	if is.State != "" {
		r.state = is.State
	}
	r.labels, r.assignees = slices.Clone(is.Labels), slices.Clone(is.Assignees)
	r.createdAt, r.updatedAt = now, now
	return r.number
}

// EditPull changes a pull request in place, e.g. a new head after a push
// or a merge. It reports whether the pull request exists. edit runs with
// the fake's lock held and must not call back into the Server.
func (s *Server) EditPull(owner, repo string, number int, edit func(pr *PullRequest)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.repo(owner, repo)
	if rec == nil || rec.issues[number] == nil || rec.issues[number].pull == nil {
		return false
	}
	old := rec.issues[number]
	pr := pullOf(old)
	edit(&pr)
	pr.Number = number
	fresh := s.addPullLocked(rec, pr)
	fresh.id, fresh.pull.id = old.id, old.pull.id
	fresh.comments, fresh.activity, fresh.assignees = old.comments, old.activity, old.assignees
	fresh.pull.reviewComments = old.pull.reviewComments
	fresh.closedAt = old.closedAt
	switch {
	case pr.State != "closed":
		fresh.closedAt = time.Time{}
	case old.closedAt.IsZero():
		fresh.closedAt = s.now().UTC().Truncate(time.Second)
	}
	fresh.updatedAt = s.now().UTC().Truncate(time.Second)
	return true
}

// AddReview adds a submitted review to a pull request (state default
// COMMENTED), e.g. an approval.
func (s *Server) AddReview(owner, repo string, number int, r Review) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.repo(owner, repo)
	if rec == nil || rec.issues[number] == nil || rec.issues[number].pull == nil {
		return false
	}
	p := rec.issues[number].pull
	p.reviews = append(p.reviews, s.completeReview(r, p.headSHA))
	return true
}

// AddComment seeds an issue comment (e.g. a human's, or an old sticky
// comment) and returns its ID. It is not counted in CommentActivity.
func (s *Server) AddComment(owner, repo string, number int, user, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.ensureRepo(owner, repo)
	is := rec.issues[number]
	if is == nil {
		is = s.newIssueLocked(rec, number)
		is.user, is.title = "octocat", fmt.Sprintf("issue %d", number)
	}
	return s.addCommentLocked(rec, is, user, body).ID
}

func (s *Server) addCommentLocked(rec *repoRec, is *issueRec, user, body string) *commentRec {
	now := s.now().UTC().Truncate(time.Second)
	c := &commentRec{repo: rec, Comment: Comment{
		ID: s.newID(), Number: is.number, User: user, Body: body, Bodies: []string{body},
		CreatedAt: now, UpdatedAt: now,
	}}
	s.comments[c.ID] = c
	is.comments = append(is.comments, c.ID)
	return c
}

// SetPermission sets a user's permission on a repository: admin, maintain,
// write, triage, read or none. Unset users have none on a private
// repository and read on a public one, as GitHub answers for
// non-collaborators.
func (s *Server) SetPermission(owner, repo, user, permission string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureRepo(owner, repo).perms[strings.ToLower(user)] = permission
}

// SetRef sets a git ref ("refs/tags/x/v1", "tags/x/v1" or "heads/main") to
// a commit SHA, for the git refs operations and pull request creation when
// Options.Refs is not set.
func (s *Server) SetRef(owner, repo, ref, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !strings.HasPrefix(ref, "refs/") {
		ref = "refs/" + ref
	}
	s.ensureRepo(owner, repo).refs[ref] = sha
}

// refsLocked lists a repository's refs; s.mu held. Options.Refs is called
// with the lock held and must not call back into the Server.
func (s *Server) refsLocked(rec *repoRec) map[string]string {
	if s.opts.Refs != nil {
		return s.opts.Refs(rec.Owner, rec.Name)
	}
	return rec.refs
}

func (s *Server) permission(rec *repoRec, user string) string {
	if p, ok := rec.perms[strings.ToLower(user)]; ok {
		return p
	}
	if strings.EqualFold(user, rec.Owner) {
		return "admin"
	}
	if rec.Private {
		return "none"
	}
	return "read"
}

// Pull returns a pull request's current state.
func (s *Server) Pull(owner, repo string, number int) (PullRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.repo(owner, repo)
	if rec == nil || rec.issues[number] == nil || rec.issues[number].pull == nil {
		return PullRequest{}, false
	}
	return pullOf(rec.issues[number]), true
}

// Pulls returns the repository's pull requests by number; CreatedPulls only
// those created through the API.
func (s *Server) Pulls(owner, repo string) []PullRequest {
	return s.pulls(owner, repo, false)
}

// CreatedPulls returns the pull requests created through POST .../pulls.
func (s *Server) CreatedPulls(owner, repo string) []PullRequest {
	return s.pulls(owner, repo, true)
}

func (s *Server) pulls(owner, repo string, viaAPI bool) []PullRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.repo(owner, repo)
	if rec == nil {
		return nil
	}
	var out []PullRequest
	for _, is := range sortedIssues(rec) {
		if is.pull != nil && (!viaAPI || is.viaAPI) {
			out = append(out, pullOf(is))
		}
	}
	return out
}

func pullOf(is *issueRec) PullRequest {
	p := is.pull
	return PullRequest{
		Number: is.number, Title: is.title, Body: is.body, User: is.user, State: is.state,
		Draft: p.draft, Merged: p.merged, MergeCommitSHA: p.mergeCommitSHA,
		HeadSHA: p.headSHA, HeadRef: p.headRef, BaseRef: p.baseRef, BaseSHA: p.baseSHA,
		Fork: p.fork, HeadOwner: p.headOwner,
		Labels:              slices.Clone(is.labels),
		Files:               slices.Clone(p.files),
		Reviews:             slices.Clone(p.reviews),
		RequestedReviewers:  slices.Clone(p.requestedUsers),
		RequestedTeams:      slices.Clone(p.requestedTeams),
		MaintainerCanModify: p.maintainerCanModify,
		CreatedAt:           is.createdAt,
		ViaAPI:              is.viaAPI,
	}
}

// Reviews returns a pull request's reviews, seeded and posted, in order.
func (s *Server) Reviews(owner, repo string, number int) []Review {
	pr, _ := s.Pull(owner, repo, number)
	return pr.Reviews
}

// RequestedReviewers returns the users whose review is requested.
func (s *Server) RequestedReviewers(owner, repo string, number int) []string {
	pr, _ := s.Pull(owner, repo, number)
	return pr.RequestedReviewers
}

// ReviewComments returns the review comments posted on a pull request,
// alone or within reviews, in order.
func (s *Server) ReviewComments(owner, repo string, number int) []ReviewComment {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.repo(owner, repo)
	if rec == nil || rec.issues[number] == nil || rec.issues[number].pull == nil {
		return nil
	}
	return slices.Clone(rec.issues[number].pull.reviewComments)
}

// Issues returns the repository's plain issues (not pull requests) by
// number.
func (s *Server) Issues(owner, repo string) []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.repo(owner, repo)
	if rec == nil {
		return nil
	}
	var out []Issue
	for _, is := range sortedIssues(rec) {
		if is.pull == nil {
			out = append(out, issueOf(is))
		}
	}
	return out
}

func issueOf(is *issueRec) Issue {
	return Issue{
		Number: is.number, Title: is.title, Body: is.body, User: is.user, State: is.state,
		StateReason: is.reason, Labels: slices.Clone(is.labels), Assignees: slices.Clone(is.assignees),
		CreatedAt: is.createdAt, UpdatedAt: is.updatedAt, ViaAPI: is.viaAPI,
	}
}

func sortedIssues(rec *repoRec) []*issueRec {
	out := make([]*issueRec, 0, len(rec.issues))
	for _, is := range rec.issues {
		out = append(out, is)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].number < out[j].number })
	return out
}

// Labels returns the labels on an issue or pull request.
func (s *Server) Labels(owner, repo string, number int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.repo(owner, repo)
	if rec == nil || rec.issues[number] == nil {
		return nil
	}
	return slices.Clone(rec.issues[number].labels)
}

// Comments returns the current (not deleted) comments on an issue or pull
// request, oldest first.
func (s *Server) Comments(owner, repo string, number int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.repo(owner, repo)
	if rec == nil || rec.issues[number] == nil {
		return nil
	}
	var out []Comment
	for _, id := range rec.issues[number].comments {
		if c := s.comments[id]; c != nil && !c.Deleted {
			cc := c.Comment
			cc.Bodies = slices.Clone(c.Bodies)
			out = append(out, cc)
		}
	}
	return out
}

// CommentActivity counts the comments created, edits made and comments
// deleted on an issue or pull request through the API.
func (s *Server) CommentActivity(owner, repo string, number int) CommentActivity {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.repo(owner, repo)
	if rec == nil || rec.issues[number] == nil {
		return CommentActivity{}
	}
	return rec.issues[number].activity
}

// CheckRuns returns the repository's check runs in creation order.
func (s *Server) CheckRuns(owner, repo string) []CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.repo(owner, repo)
	if rec == nil {
		return nil
	}
	out := make([]CheckRun, len(rec.checkRuns))
	for i, r := range rec.checkRuns {
		out[i] = cloneCheckRun(r)
	}
	return out
}

// LatestCheckRun returns the newest check run with this name for a head SHA
// ("" for any).
func (s *Server) LatestCheckRun(owner, repo, name, headSHA string) (CheckRun, bool) {
	runs := s.CheckRuns(owner, repo)
	for i := len(runs) - 1; i >= 0; i-- {
		if runs[i].Name == name && (headSHA == "" || runs[i].HeadSHA == headSHA) {
			return runs[i], true
		}
	}
	return CheckRun{}, false
}

func cloneCheckRun(r *CheckRun) CheckRun {
	c := *r
	c.Annotations = slices.Clone(r.Annotations)
	c.History = slices.Clone(r.History)
	return c
}
