package registry

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// modelFamily is one row of the pinning table: model ids that match Prefix
// must also match Pinned, which describes that family's snapshot ids.
type modelFamily struct {
	Family  string
	Prefix  *regexp.Regexp
	Pinned  *regexp.Regexp
	Example string
}

// modelFamilies is the model-pinning table. A model id must name an exact,
// immutable snapshot: aliases such as `gpt-4o` or `claude-3-5-sonnet-latest`
// move under the same name when the provider ships a new snapshot, which is
// exactly the silent change the gate exists to catch. README.md reproduces
// this table; keep the two in step.
var modelFamilies = []modelFamily{
	{"OpenAI GPT", regexp.MustCompile(`^(gpt-|chatgpt-)`), regexp.MustCompile(`-(\d{4}-\d{2}-\d{2}|\d{4})$`), "gpt-4o-2024-08-06"},
	{"OpenAI o-series", regexp.MustCompile(`^o\d`), regexp.MustCompile(`-\d{4}-\d{2}-\d{2}$`), "o3-mini-2025-01-31"},
	{"OpenAI fine-tune", regexp.MustCompile(`^ft:`), regexp.MustCompile(`^ft:[^:]+:[^:]*:[^:]*:[A-Za-z0-9]+$`), "ft:gpt-4o-mini-2024-07-18:acme::9abcDEF1"},
	{"Anthropic Claude", regexp.MustCompile(`^(anthropic\.)?claude-`), regexp.MustCompile(`-\d{8}(-v\d+(:\d+)?)?$`), "claude-3-5-sonnet-20241022"},
	{"Google Gemini", regexp.MustCompile(`^(models/)?gemini-`), regexp.MustCompile(`-(\d{3}|preview-\d{2}-\d{2}|exp-\d{4})$`), "gemini-1.5-pro-002"},
	{"Mistral", regexp.MustCompile(`^(mistral|mixtral|codestral|ministral|pixtral|open-mistral)-`), regexp.MustCompile(`-\d{4}$`), "mistral-large-2411"},
	{"Cohere Command", regexp.MustCompile(`^command-`), regexp.MustCompile(`-\d{2}-\d{4}$`), "command-r-plus-08-2024"},
}

// genericPinned accepts ids of families not in the table when they carry a
// date or snapshot number at the end.
var genericPinned = regexp.MustCompile(`[-_@:.](\d{8}|\d{4}-\d{2}-\d{2}|\d{4}|\d{3}|v\d+)$`)

var latestRE = regexp.MustCompile(`(^|[-_:./])latest($|[-_:./])`)

// CheckModel returns why a model id is not pinned, or "" when it is.
// allow lists exact ids or path.Match patterns that a repo accepts as pinned,
// typically self-hosted models without a date.
func CheckModel(model string, allow []string) string {
	for _, a := range allow {
		if a == model {
			return ""
		}
		if ok, _ := path.Match(a, model); ok {
			return ""
		}
	}
	id := strings.TrimSpace(model)
	if id == "" {
		return "model is empty"
	}
	if latestRE.MatchString(strings.ToLower(id)) {
		return fmt.Sprintf("model %q is a moving alias (latest): pin an exact snapshot", model)
	}
	for _, f := range modelFamilies {
		if f.Prefix.MatchString(id) {
			if f.Pinned.MatchString(id) {
				return ""
			}
			return fmt.Sprintf("model %q is an undated %s alias: pin a snapshot such as %q, or list it under allow_models in %s", model, f.Family, f.Example, ConfigFile)
		}
	}
	if genericPinned.MatchString(id) {
		return ""
	}
	return fmt.Sprintf("model %q is not a pinned snapshot (no date or version suffix): pin one, or list it under allow_models in %s", model, ConfigFile)
}
