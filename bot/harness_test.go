package bot_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v62/github"

	"github.com/promptgate/promptgate/bot"
	"github.com/promptgate/promptgate/internal/fakegithub"
	"github.com/promptgate/promptgate/internal/fakeopenai"
	"github.com/promptgate/promptgate/internal/gitserver"
	"github.com/promptgate/promptgate/internal/simulate"
	"github.com/promptgate/promptgate/registry"
	"github.com/promptgate/promptgate/store"
)

const (
	owner       = "acme"
	repoName    = "llm-config"
	appID       = 4242
	secret      = "whsec-test-0123456789abcdef"
	providerKy  = "sk-test-provider-key-987654321"
	eventsToken = "events-token-abcdef123456"
	alertsToken = "alerts-token-abcdef654321"
)

// world is everything an end-to-end test talks to: a fake GitHub, a real
// git server, a local OpenAI-compatible server and the bot itself.
type world struct {
	t          testing.TB
	gh         *fakegithub.Server
	git        *gitserver.Server
	llm        *fakeopenai.Server
	keyPEM     []byte
	url        string // the bot's base URL
	logs       *syncBuffer
	dataDir    string
	dbURL      string
	client     *github.Client
	example    map[string]string // the example config repo at v15, path → content
	production bool
	v14        string
	prod14     string
	nextDel    atomic.Int64
	// extraEnv is added to the bot's environment.
	extraEnv map[string]string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type worldOptions struct {
	latency time.Duration
	// history, when > 0, is how many commits precede the example on main.
	history int
	// golden, when set, replaces the example's golden set (path → content).
	golden  map[string]string
	dbURL   string
	workers int
	noBot   bool
	// production sets the config repo up as production follows it: v14
	// tagged, v15 merged, tagged and live, triggers that fire at once.
	production bool
	// drift, when set, replaces the config repo's drift schedule.
	drift string
	// respond, when set, wraps the simulated model's answers.
	respond func(sim func(fakeopenai.ChatRequest) fakeopenai.Reply) func(fakeopenai.ChatRequest) fakeopenai.Reply
}

func newWorld(t testing.TB, opts worldOptions) *world {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, logs: &syncBuffer{}, dataDir: t.TempDir()}
	w.keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	w.gh = fakegithub.New(fakegithub.Options{AppID: appID, PublicKey: &key.PublicKey})
	t.Cleanup(w.gh.Close)
	w.git = gitserver.New(t, gitserver.Options{Check: func(user, pass string) bool {
		return user == "x-access-token" && w.gh.ValidToken(pass)
	}})
	w.gh.SetGitBaseURL(w.git.BaseURL())
	w.gh.AddRepo(fakegithub.Repo{Owner: owner, Name: repoName, DefaultBranch: "main"})
	w.gh.SetPermission(owner, repoName, "alice", "write")
	w.gh.SetPermission(owner, repoName, "bob", "admin")
	w.gh.SetPermission(owner, repoName, "mallory", "read")

	w.loadExample()
	repo := registry.Load(os.DirFS("../examples/support-assistant"))
	sim := simulate.New(repo.Golden["golden/support-assistant"].Cases)
	respond := sim.Respond
	if opts.respond != nil {
		respond = opts.respond(sim.Respond)
	}
	w.llm = fakeopenai.New(fakeopenai.Options{Respond: respond, Latency: opts.latency, APIKey: providerKy})
	t.Cleanup(w.llm.Close)

	// The config repo: main holds v14 live in production.
	bare := w.git.CreateRepo(owner + "/" + repoName)
	if opts.history > 0 {
		fastImport(t, bare, opts.history)
	}
	if opts.golden != nil {
		for p := range w.example {
			if strings.HasPrefix(p, "golden/") || strings.HasPrefix(p, "recordings/") {
				delete(w.example, p)
			}
		}
		for p, c := range opts.golden {
			w.example[p] = c
		}
	}
	base := w.files(map[string]string{"artifacts/support-assistant.yaml": w.v14, "environments/production.yaml": w.prod14})
	w.git.Seed(owner+"/"+repoName, base, "support-assistant v14")

	if opts.production {
		w.production = true
		repo := owner + "/" + repoName
		w.git.Tag(repo, "support-assistant/v14", "main")
		cfg := strings.Replace(w.example["promptgate.yaml"], "for: 10m                     # the condition", "for: 0s                      # the condition", 1)
		cfg = strings.Replace(cfg, "min_events: 200", "min_events: 50", 1)
		if opts.drift != "" {
			cfg = strings.Replace(cfg, `schedule: "0 6 * * *"`, fmt.Sprintf("schedule: %q", opts.drift), 1)
		}
		w.example["promptgate.yaml"] = cfg
		w.git.Commit(repo, "main", w.files(nil), nil, "Merge pull request #1: support-assistant v15")
		w.git.Tag(repo, "support-assistant/v15", "main")
	}
	w.dbURL = opts.dbURL
	if w.dbURL == "" {
		w.dbURL = filepath.Join(w.dataDir, "promptgate.db")
	}
	if !opts.noBot {
		w.startBot(opts.workers)
	}
	itr, err := ghinstallation.New(http.DefaultTransport, appID, 1, w.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	itr.BaseURL = strings.TrimSuffix(w.gh.APIURL(), "/")
	w.client, err = github.NewClient(&http.Client{Transport: itr}).WithEnterpriseURLs(w.gh.APIURL(), w.gh.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if v := w.gh.Violations(); len(v) > 0 {
			t.Errorf("fake GitHub saw requests that break GitHub's API description:\n%s", strings.Join(v, "\n"))
		}
	})
	return w
}

// fastImport writes n commits of history to main with git fast-import.
func fastImport(t testing.TB, bare string, n int) {
	t.Helper()
	var b strings.Builder
	for i := 1; i <= n; i++ {
		content := fmt.Sprintf("history line %d\n", i)
		fmt.Fprintf(&b, "commit refs/heads/main\ncommitter dev <dev@example.com> %d +0000\ndata <<EOM\nchange %d\nEOM\n", 1700000000+i*60, i)
		fmt.Fprintf(&b, "M 100644 inline notes/history.txt\ndata %d\n%s\n", len(content), content)
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = bare
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fast-import: %v\n%s", err, out)
	}
}

// env is the bot's environment, as `promptgate serve` would see it.
func (w *world) env() map[string]string {
	env := map[string]string{
		"PROMPTGATE_APP_ID":         fmt.Sprint(appID),
		"PROMPTGATE_PRIVATE_KEY":    string(w.keyPEM),
		"PROMPTGATE_WEBHOOK_SECRET": secret,
		"PROMPTGATE_GITHUB_URL":     strings.TrimSuffix(w.gh.APIURL(), "/"),
		"PROMPTGATE_DATABASE_URL":   w.dbURL,
		"PROMPTGATE_DATA_DIR":       w.dataDir,
		"OPENAI_BASE_URL":           w.llm.BaseURL(),
		"OPENAI_API_KEY":            providerKy,
	}
	for k, v := range w.extraEnv {
		env[k] = v
	}
	if w.production {
		env["PROMPTGATE_CONFIG_REPO"] = owner + "/" + repoName
		env["PROMPTGATE_EVENTS_TOKEN"] = eventsToken
		env["PROMPTGATE_ALERTS_TOKEN"] = alertsToken
		env["PROMPTGATE_MONITOR_INTERVAL"] = "200ms"
	}
	return env
}

func (w *world) startBot(workers int) string {
	t := w.t
	env := w.env()
	if workers > 0 {
		env["PROMPTGATE_WORKERS"] = fmt.Sprint(workers)
	}
	settings, err := bot.LoadSettings(func(k string) string { return env[k] }, "")
	if err != nil {
		t.Fatal(err)
	}
	settings.JobLease = 3 * time.Second
	log := bot.NewLogger(w.logs, -4, settings.Secrets())
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := bot.New(ctx, settings, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Run(ctx, ln); err != nil {
			t.Errorf("bot: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	url := "http://" + ln.Addr().String()
	if w.url == "" {
		w.url = url
	}
	return url
}

func (w *world) loadExample() {
	w.example = map[string]string{}
	root := "../examples/support-assistant"
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		data, _ := os.ReadFile(p)
		w.example[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	v14, _ := os.ReadFile("../examples/friday-deploy/support-assistant.v14.yaml")
	prod14, _ := os.ReadFile("../examples/friday-deploy/production.v14.yaml")
	w.v14, w.prod14 = string(v14), string(prod14)
}

// files is the example repo with some files replaced.
func (w *world) files(over map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range w.example {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// openPR pushes files to a branch and opens a PR for it in the fake.
func (w *world) openPR(branch string, files map[string]string, fork bool) (int, string) {
	sha := w.git.Commit(owner+"/"+repoName, branch, files, nil, "change on "+branch)
	base := w.git.Refs(owner + "/" + repoName)["refs/heads/main"]
	var changed []fakegithub.File
	for p := range files {
		changed = append(changed, fakegithub.File{Filename: p, Status: "modified"})
	}
	pr := fakegithub.PullRequest{Title: "Update " + branch, User: "carol", HeadSHA: sha, HeadRef: branch, BaseRef: "main", BaseSHA: base, Files: changed}
	if fork {
		pr.Fork, pr.HeadOwner = true, "stranger"
	}
	n := w.gh.AddPull(owner, repoName, pr)
	w.git.SetRef(owner+"/"+repoName, fmt.Sprintf("refs/pull/%d/head", n), sha)
	return n, sha
}

// event builds a webhook payload shaped like GitHub's from the fake's own
// API representation of the PR and repository.
func (w *world) event(action string, pr int, extra map[string]any) map[string]any {
	w.t.Helper()
	ctx := context.Background()
	var prJSON, repoJSON json.RawMessage
	req, _ := w.client.NewRequest("GET", fmt.Sprintf("repos/%s/%s/pulls/%d", owner, repoName, pr), nil)
	if _, err := w.client.Do(ctx, req, &prJSON); err != nil {
		w.t.Fatal(err)
	}
	req, _ = w.client.NewRequest("GET", fmt.Sprintf("repos/%s/%s", owner, repoName), nil)
	if _, err := w.client.Do(ctx, req, &repoJSON); err != nil {
		w.t.Fatal(err)
	}
	ev := map[string]any{
		"action": action, "number": pr, "pull_request": prJSON, "repository": repoJSON,
		"installation": map[string]any{"id": 1, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="},
		"sender":       map[string]any{"login": "carol", "id": 7, "type": "User"},
	}
	for k, v := range extra {
		ev[k] = v
	}
	return ev
}

// deliver signs and posts a webhook; it returns the status code.
func (w *world) deliver(event string, payload any, delivery string) int {
	return deliverTo(w.t, w.url, event, payload, delivery, secret)
}

func deliverTo(t testing.TB, url, event string, payload any, delivery, key string) int {
	body, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", url+"/api/github/hook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	if key != "" {
		mac := hmac.New(sha256.New, []byte(key))
		mac.Write(body)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (w *world) newDelivery() string {
	return fmt.Sprintf("0000000-%04d-11f0-8000-%012d", w.nextDel.Add(1), time.Now().UnixNano()%1e12)
}

// waitCheck waits until the promptgate check on sha is completed.
func (w *world) waitCheck(sha string, timeout time.Duration) fakegithub.CheckRun {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cr, ok := w.gh.LatestCheckRun(owner, repoName, bot.CheckName, sha); ok && cr.Status == "completed" {
			return cr
		}
		time.Sleep(50 * time.Millisecond)
	}
	cr, _ := w.gh.LatestCheckRun(owner, repoName, bot.CheckName, sha)
	w.t.Fatalf("check on %s not completed within %s (now %q)\nlogs:\n%s", sha[:8], timeout, cr.Status, tail(w.logs.String(), 4000))
	return fakegithub.CheckRun{}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// stickyComments are the PR's live comments carrying the report marker.
func (w *world) stickyComments(pr int) []fakegithub.Comment {
	var out []fakegithub.Comment
	for _, c := range w.gh.Comments(owner, repoName, pr) {
		if !c.Deleted && strings.HasPrefix(c.Body, "<!-- promptgate:report -->") {
			out = append(out, c)
		}
	}
	return out
}

func (w *world) openStore() *store.Store {
	s, err := store.Open(context.Background(), w.dbURL)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { s.Close() })
	return s
}
