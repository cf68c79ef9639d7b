package bot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/promptgate/promptgate/internal/pgtest"
	"github.com/promptgate/promptgate/store"
)

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs `promptgate serve` as a real process.
func (w *world) startServe(bin, addr string) *exec.Cmd {
	cmd := exec.Command(bin, "serve")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PROMPTGATE_ADDR=" + addr, "PROMPTGATE_JOB_LEASE=2s", "PROMPTGATE_WORKERS=2"}
	for k, v := range w.env() {
		env = append(env, k+"="+v)
	}
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = w.logs, w.logs
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return cmd
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.t.Fatalf("serve did not listen on %s\n%s", addr, tail(w.logs.String(), 3000))
	return nil
}

// TestKillDuringGateResumes kills the App with SIGKILL in the middle of a
// gate; after a restart the same PR's check completes.
func TestKillDuringGateResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "promptgate")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/promptgate").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	w := newWorld(t, worldOptions{latency: 60 * time.Millisecond, noBot: true})
	addr := freeAddr(t)
	w.url = "http://" + addr
	first := w.startServe(bin, addr)
	pr, sha := w.openPR("v15", w.files(nil), false)
	w.deliver("pull_request", w.event("opened", pr, nil), w.newDelivery())
	deadline := time.Now().Add(30 * time.Second)
	for w.llm.Calls() < 40 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if w.llm.Calls() < 40 {
		t.Fatalf("gate did not start\n%s", tail(w.logs.String(), 3000))
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	if cr, _ := w.gh.LatestCheckRun(owner, repoName, "promptgate", sha); cr.Status != "in_progress" {
		t.Fatalf("check was %q when the process died", cr.Status)
	}
	callsBefore := w.llm.Calls()
	w.startServe(bin, addr)
	cr := w.waitCheck(sha, 90*time.Second)
	if cr.Conclusion != "failure" {
		t.Fatalf("resumed check concluded %s", cr.Conclusion)
	}
	if n := len(w.gh.CheckRuns(owner, repoName)); n != 1 {
		t.Errorf("%d check runs: the resumed job should reuse its check", n)
	}
	// Responses paid for before the kill come from the cache after it;
	// only calls in flight at the kill are made twice.
	if total := w.llm.Calls(); total > 264+16 {
		t.Errorf("model calls: %d before the kill, %d in all; the cache should spare most re-runs", callsBefore, total)
	}
	if len(w.stickyComments(pr)) != 1 {
		t.Errorf("%d sticky comments", len(w.stickyComments(pr)))
	}
}

// TestTwoReplicasOnePostgres: two App replicas share one PostgreSQL
// database; deliveries arrive at either, and every job runs exactly once.
func TestTwoReplicasOnePostgres(t *testing.T) {
	dbURL := pgtest.URL(t)
	w := newWorld(t, worldOptions{dbURL: dbURL, noBot: true})
	urls := []string{w.startBot(2), w.startBot(2)}
	var prs []int
	var shas []string
	for i := 0; i < 6; i++ {
		pr, sha := w.openPR(fmt.Sprintf("change-%d", i), w.files(nil), false)
		prs, shas = append(prs, pr), append(shas, sha)
	}
	var wg sync.WaitGroup
	for _, pr := range prs {
		ev := w.event("opened", pr, nil)
		id := w.newDelivery()
		// The same delivery reaches both replicas (a redelivery), and each PR's at once.
		for _, u := range urls {
			wg.Add(1)
			go func(u string) {
				defer wg.Done()
				deliverTo(t, u, "pull_request", ev, id, secret)
			}(u)
		}
	}
	wg.Wait()
	for _, sha := range shas {
		cr := w.waitCheck(sha, 120*time.Second)
		if got := strings.Join(cr.Sequence(), " → "); got != "in_progress → completed/failure" {
			t.Errorf("check on %s: %s", sha[:8], got)
		}
	}
	st, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, pr := range prs {
		jobs, err := st.Jobs(context.Background(), "gate", fmt.Sprintf("%s/%s#%d", owner, repoName, pr))
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 1 || jobs[0].Attempts != 1 || jobs[0].State != store.StateDone {
			t.Errorf("PR %d jobs: %+v", pr, jobs)
		}
	}
	if n := len(w.gh.CheckRuns(owner, repoName)); n != len(prs) {
		t.Errorf("%d check runs for %d PRs", n, len(prs))
	}
	owners := map[string]bool{}
	for _, line := range strings.Split(w.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"job done"`) {
			owners[line] = true
		}
	}
	if len(owners) != len(prs) {
		t.Errorf("%d job completions logged for %d jobs", len(owners), len(prs))
	}
}

// TestKillLosesNoAcknowledgedEvent posts event batches to a real
// `promptgate serve`, kills it with SIGKILL in the middle, restarts it, and
// checks that every batch that got a 2xx is in the store.
func TestKillLosesNoAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "promptgate")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/promptgate").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	w := newWorld(t, worldOptions{production: true, noBot: true})
	addr := freeAddr(t)
	w.url = "http://" + addr
	proc := w.startServe(bin, addr)
	acked := 0
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				now := time.Now()
				code, ans := postQuiet(w.url+"/api/v1/events", eventsToken, productionEvents(15, 100, 0.1, now.Add(-time.Minute), now))
				if code == 0 {
					return // the server is gone
				}
				if code == 200 {
					mu.Lock()
					acked += int(ans["accepted"].(float64))
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	proc.Process.Signal(syscall.SIGKILL)
	proc.Wait()
	close(stop)
	wg.Wait()
	if acked == 0 {
		t.Fatal("no batch was acknowledged before the kill")
	}
	w.startServe(bin, addr)
	st, err := store.Open(context.Background(), w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.EventCount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n < acked || n%100 != 0 {
		t.Fatalf("%d events stored after the kill, %d acknowledged (batches are all or nothing)", n, acked)
	}
	t.Logf("%d events acknowledged before SIGKILL, %d stored", acked, n)
}

// postQuiet is post without failing the test when the server is gone: it
// returns status 0 then.
func postQuiet(url, token, body string) (int, map[string]any) {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, nil
	}
	return resp.StatusCode, out
}
