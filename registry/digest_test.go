package registry

import (
	"strings"
	"testing"
)

const baseArtifact = `# support assistant
name: sa
version: 3
provider: openai
model: gpt-4o-2024-08-06
params: {temperature: 0.2, top_p: 1, max_tokens: 400, seed: 7, stop: ["END"]}
system_prompt: |
  You are the support assistant.
  Be brief.
templates:
  user: "Q: {{question}}"
output_schema: {type: object, required: [answer]}
knowledge_base: {index: faq, version: "2026-11-28"}
routing:
  - when: {category: billing}
    model: gpt-4o-mini-2024-07-18
golden_set: golden/sa
`

// restyled is baseArtifact with other key order, comments, quoting,
// block/flow style and number spelling, and a different version.
const restyled = `golden_set: "golden/sa"
routing:
- model: 'gpt-4o-mini-2024-07-18'
  when:
    category: "billing"
knowledge_base:
  version: 2026-11-28   # pinned index
  index: faq
output_schema:
  required:
  - answer
  type: "object"
templates: {user: 'Q: {{question}}'}
system_prompt: "You are the support assistant.\nBe brief.\n"
params:
  stop: [END]
  seed: 7
  max_tokens: 400
  top_p: 1.0
  temperature: 0.20
model: "gpt-4o-2024-08-06"
provider: openai
version: 99
name: sa
`

func TestDigestStableAcrossStyle(t *testing.T) {
	want, err := DigestYAML([]byte(baseArtifact))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DigestYAML([]byte(restyled))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		a, _ := Canonical([]byte(baseArtifact))
		b, _ := Canonical([]byte(restyled))
		t.Fatalf("digest changed with style only:\n%s\n%s", a, b)
	}
	// Defaults made explicit do not change the digest either.
	implicit := strings.Replace(strings.Replace(baseArtifact, "provider: openai\n", "", 1), "golden_set: golden/sa\n", "", 1)
	implicit = strings.Replace(implicit, "name: sa", "name: sa", 1)
	withDefaults := strings.Replace(baseArtifact, "golden_set: golden/sa", "golden_set: golden/sa", 1)
	d1, _ := DigestYAML([]byte(implicit))
	d2, _ := DigestYAML([]byte(withDefaults))
	if d1 != d2 {
		t.Errorf("implicit defaults changed the digest")
	}
}

func TestDigestSensitiveToEveryField(t *testing.T) {
	base, _ := DigestYAML([]byte(baseArtifact))
	edits := map[string][2]string{
		"prompt one character":  {"Be brief.", "Be brief!"},
		"prompt trailing space": {"Be brief.\n", "Be brief. \n"},
		"model":                 {"model: gpt-4o-2024-08-06", "model: gpt-4o-2024-11-20"},
		"provider":              {"provider: openai", "provider: azure"},
		"temperature":           {"temperature: 0.2", "temperature: 0.3"},
		"top_p":                 {"top_p: 1,", "top_p: 0.9,"},
		"max_tokens":            {"max_tokens: 400", "max_tokens: 401"},
		"seed":                  {"seed: 7", "seed: 8"},
		"stop":                  {`stop: ["END"]`, `stop: ["STOP"]`},
		"template":              {`user: "Q: {{question}}"`, `user: "Question: {{question}}"`},
		"schema":                {"required: [answer]", "required: [answer, escalate]"},
		"kb version":            {`version: "2026-11-28"`, `version: "2026-11-29"`},
		"kb version as written": {`version: "2026-11-28"`, `version: 2026-11-28T00:00:00Z`},
		"kb index":              {"index: faq", "index: faq2"},
		"route model":           {"model: gpt-4o-mini-2024-07-18", "model: gpt-4o-2024-08-06"},
		"route condition":       {"category: billing", "category: cards"},
		"golden set":            {"golden_set: golden/sa", "golden_set: golden/other"},
		"name":                  {"name: sa", "name: sb"},
		"new field":             {"golden_set: golden/sa", "golden_set: golden/sa\ndescription: x"},
	}
	for name, e := range edits {
		t.Run(name, func(t *testing.T) {
			edited := strings.Replace(baseArtifact, e[0], e[1], 1)
			if edited == baseArtifact {
				t.Fatalf("edit %q did not apply", e[0])
			}
			d, err := DigestYAML([]byte(edited))
			if err != nil {
				t.Fatal(err)
			}
			if d == base {
				t.Errorf("digest did not change when %s changed", name)
			}
		})
	}
	t.Run("unquoted string fields keep their text", func(t *testing.T) {
		a, _ := DigestYAML([]byte(strings.Replace(baseArtifact, `version: "2026-11-28"`, `version: 1.10`, 1)))
		b, _ := DigestYAML([]byte(strings.Replace(baseArtifact, `version: "2026-11-28"`, `version: 1.1`, 1)))
		if a == b {
			t.Error("kb versions 1.10 and 1.1 share a digest")
		}
		q, _ := DigestYAML([]byte(strings.Replace(baseArtifact, `version: "2026-11-28"`, `version: "1.10"`, 1)))
		if q != a {
			t.Error("quoting a string field changed the digest")
		}
	})
	t.Run("version is not content", func(t *testing.T) {
		d, _ := DigestYAML([]byte(strings.Replace(baseArtifact, "version: 3", "version: 4", 1)))
		if d != base {
			t.Error("digest changed with version only")
		}
	})
}
