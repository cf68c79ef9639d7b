package registry

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func seedFiles(f *testing.F, glob string) {
	paths, _ := filepath.Glob(glob)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("name: [\n"))
	f.Add([]byte("cases: {id: 1}\n"))
	f.Add([]byte("&a [*a]\n"))
	f.Add([]byte("- - - x\n"))
	f.Add([]byte("expect: !!binary AAA=\n"))
}

// FuzzLoadArtifact checks that no artifact input panics the loader and
// that every problem it reports names a file.
func FuzzLoadArtifact(f *testing.F) {
	seedFiles(f, "../examples/support-assistant/artifacts/*.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{
			"promptgate.yaml":        {Data: []byte("providers: {}\n")},
			"artifacts/sa.yaml":      {Data: data},
			"golden/sa/cases.yaml":   {Data: []byte("category: c\ncases: [{id: a, vars: {question: q}, expect: {contains: [x]}}]\n")},
			"environments/prod.yaml": {Data: []byte("sa: 1\n")},
		}
		checkLoad(t, fsys)
	})
}

// FuzzLoadGolden does the same for golden-set files.
func FuzzLoadGolden(f *testing.F) {
	seedFiles(f, "../examples/support-assistant/golden/support-assistant/*.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{
			"promptgate.yaml":      {Data: []byte("judge: {model: gpt-4o-2024-08-06}\n")},
			"artifacts/sa.yaml":    {Data: []byte("name: sa\nversion: 1\nmodel: gpt-4o-2024-08-06\nsystem_prompt: x\ntemplates: {user: '{{question}}'}\noutput_schema: {type: object}\n")},
			"golden/sa/cases.yaml": {Data: data},
		}
		checkLoad(t, fsys)
	})
}

func checkLoad(t *testing.T, fsys fs.FS) {
	r := Load(fsys)
	for _, p := range r.Problems {
		if p.Path == "" || p.Message == "" {
			t.Fatalf("problem without path or message: %+v", p)
		}
	}
}
