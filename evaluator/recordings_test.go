package evaluator

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/promptgate/promptgate/internal/fakeopenai"
)

func TestRecordingsRoundTrip(t *testing.T) {
	srv, client := oaTestSetup(t, fakeopenai.Options{Latency: 5 * time.Millisecond, Respond: func(r fakeopenai.ChatRequest) fakeopenai.Reply {
		if strings.Contains(r.LastUser(), "long") {
			return fakeopenai.Reply{Content: "cut <here> & there", FinishReason: "length"}
		}
		return fakeopenai.DefaultResponder(r)
	}}, OpenAIOptions{})

	var live bytes.Buffer
	rec := NewRecorder(client, &live)
	var reqs []Request
	for i, q := range []string{"card blocked", "refund?", "a long question", "hello", "card blocked"} {
		req := oaRequest(q)
		req.Repeat = i / 4 // the repeated question is a second sample
		reqs = append(reqs, req)
		if _, err := rec.Complete(context.Background(), req); err != nil && !strings.Contains(q, "long") {
			t.Fatal(err)
		}
	}
	if err := rec.Err(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(live.String(), "\n"); n != 5 {
		t.Fatalf("appended %d lines, want 5:\n%s", n, live.String())
	}

	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "support-assistant.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteRecordings(f, rec.Recordings()); err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("not a recording"), 0o644)

	written, _ := os.ReadFile(filepath.Join(dir, "support-assistant.jsonl"))
	lines := strings.Split(strings.TrimSpace(string(written)), "\n")
	if !slices.IsSortedFunc(lines, strings.Compare) {
		t.Fatalf("lines are not sorted by key:\n%s", written)
	}
	if !strings.HasPrefix(lines[0], `{"key":"`) || !strings.Contains(string(written), `"prompt":"a long question","response":{"content":"cut <here> & there","finish_reason":"length","input_tokens":`) {
		t.Fatalf("field order or escaping:\n%s", written)
	}

	loaded, err := LoadRecordings(os.DirFS(dir), ".")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(loaded, rec.Recordings()) {
		t.Fatalf("loaded %+v\nwant %+v", loaded, rec.Recordings())
	}

	cache, _ := cacheTestOpen(t)
	if err := cache.Import(context.Background(), loaded); err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	offline := &Cached{Next: client, Cache: cache, Mode: CacheOffline}
	for _, req := range reqs {
		resp, err := offline.Complete(context.Background(), req)
		want := NewRecording(req, Response{})
		var got Recording
		for _, r := range loaded {
			if r.Key == want.Key {
				got = r
			}
		}
		if strings.Contains(req.Messages[1].Content, "long") {
			oaKind(t, err, ErrTruncated)
		} else if err != nil {
			t.Fatal(err)
		}
		if !resp.Cached || resp.Content != got.Response.Content || resp.Latency != time.Duration(got.Response.LatencyMS)*time.Millisecond ||
			resp.InputTokens != got.Response.InputTokens || resp.OutputTokens != got.Response.OutputTokens {
			t.Fatalf("replayed %+v, recorded %+v", resp, got.Response)
		}
	}
	if srv.Calls() != calls {
		t.Fatalf("offline replay made %d server calls", srv.Calls()-calls)
	}
}

func TestRecordingsRecorderSkipsReplaysAndErrors(t *testing.T) {
	srv, client := oaTestSetup(t, fakeopenai.Options{Respond: func(r fakeopenai.ChatRequest) fakeopenai.Reply {
		if r.LastUser() == "bad" {
			return fakeopenai.Reply{Status: 400}
		}
		return fakeopenai.DefaultResponder(r)
	}}, OpenAIOptions{})
	cache, _ := cacheTestOpen(t)
	rec := NewRecorder(&Cached{Next: client, Cache: cache}, nil)
	for _, q := range []string{"a", "a", "bad", "b"} {
		rec.Complete(context.Background(), oaRequest(q))
	}
	got := rec.Recordings()
	if len(got) != 2 || srv.Calls() != 3 {
		t.Fatalf("recorded %d (want 2: a once, b), server calls %d", len(got), srv.Calls())
	}
}

func TestRecordingsLoadErrors(t *testing.T) {
	good := NewRecording(oaRequest("q"), Response{Content: "a", FinishReason: "stop", Latency: 1234 * time.Millisecond})
	line, _ := recordingLine(good)
	other := good
	other.Response.Content = "b"
	otherLine, _ := recordingLine(other)
	if good.Response.LatencyMS != 1234 || good.Prompt != "q" || good.Key != oaRequest("q").Digest() {
		t.Fatalf("recording %+v", good)
	}

	fsys := fstest.MapFS{
		"rec/a.jsonl": {Data: []byte(string(line) + "\n\n" + string(line) + "{not json}\n")},
		"rec/b.jsonl": {Data: []byte(`{"key":"abc","provider":"openai","model":"m","repeat":0,"prompt":"","response":{}}` + "\n" +
			`{"key":"` + good.Key + `","model":"m","reponse":{}}` + "\n" + string(otherLine))},
		"rec/notes.txt": {Data: []byte("ignored")},
	}
	_, err := LoadRecordings(fsys, "rec")
	if err == nil {
		t.Fatal("want errors")
	}
	msg := err.Error()
	for _, want := range []string{
		"rec/a.jsonl:5: invalid character",
		"rec/b.jsonl:1: key \"abc\" is not a request digest",
		"rec/b.jsonl:2: json: unknown field \"reponse\"",
		"rec/b.jsonl:3: key " + good.Key[:12] + " is already recorded at rec/a.jsonl:1",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "a.jsonl:4") {
		t.Errorf("an identical duplicate is not an error:\n%s", msg)
	}

	recs, err := LoadRecordings(fstest.MapFS{"rec/a.jsonl": {Data: append(line, line...)}}, "rec")
	if err != nil || len(recs) != 1 || recs[0] != good {
		t.Fatalf("identical duplicates: %v %v", recs, err)
	}
	if _, err := LoadRecordings(fsys, "missing"); err == nil {
		t.Fatal("missing dir: want an error")
	}
}

func TestRecordingsPromptExcerpt(t *testing.T) {
	long := strings.Repeat("ü", 300)
	got := promptExcerpt([]Message{{Role: "user", Content: "first"}, {Role: "user", Content: long}, {Role: "assistant", Content: "x"}})
	if got != strings.Repeat("ü", 200)+"…" {
		t.Fatalf("excerpt %q", got)
	}
	if got := promptExcerpt([]Message{{Role: "user", Content: " two\n\tlines "}}); got != "two lines" {
		t.Fatalf("excerpt %q", got)
	}
	if got := promptExcerpt([]Message{{Role: "system", Content: "s"}}); got != "" {
		t.Fatalf("excerpt %q", got)
	}
}

func TestRecordingsWriteSortsWithoutMutating(t *testing.T) {
	recs := []Recording{
		NewRecording(oaRequest("b"), Response{Content: "b"}),
		NewRecording(oaRequest("a"), Response{Content: "a"}),
		NewRecording(oaRequest("c"), Response{Content: "c"}),
	}
	before := slices.Clone(recs)
	var buf bytes.Buffer
	if err := WriteRecordings(&buf, recs); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs, before) {
		t.Fatal("WriteRecordings reordered its argument")
	}
	var keys []string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		keys = append(keys, l[len(`{"key":"`):len(`{"key":"`)+64])
	}
	if !slices.IsSorted(keys) || len(keys) != 3 {
		t.Fatalf("keys %v", keys)
	}
	var again bytes.Buffer
	WriteRecordings(&again, []Recording{recs[2], recs[0], recs[1]})
	if again.String() != buf.String() {
		t.Fatal("output depends on input order")
	}
}
