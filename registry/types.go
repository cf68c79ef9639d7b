package registry

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is promptgate.yaml: providers, prices, gate thresholds, judge and triggers.
type Config struct {
	Providers   map[string]Provider `yaml:"providers"`
	Prices      map[string]Price    `yaml:"prices"`
	Gate        Gate                `yaml:"gate"`
	Judge       *Judge              `yaml:"judge"`
	AllowModels []string            `yaml:"allow_models"`
	Monitor     Monitor             `yaml:"monitor"`
	Triggers    []Trigger           `yaml:"triggers"`
	Drift       *Drift              `yaml:"drift"`
	Recordings  string              `yaml:"recordings"`
	Node        *yaml.Node          `yaml:"-"`
}

// Provider is one OpenAI-compatible endpoint.
type Provider struct {
	BaseURL           string     `yaml:"base_url"`
	APIKeyEnv         string     `yaml:"api_key_env"`
	RequestsPerMinute float64    `yaml:"requests_per_minute"`
	TokensPerMinute   float64    `yaml:"tokens_per_minute"`
	Timeout           Duration   `yaml:"timeout"`
	Node              *yaml.Node `yaml:"-"`
}

// Price is USD per million tokens.
type Price struct {
	Input  *float64   `yaml:"input" pg:"required"`
	Output *float64   `yaml:"output" pg:"required"`
	Node   *yaml.Node `yaml:"-"`
}

// Gate holds the thresholds and run settings of the PR gate.
type Gate struct {
	Repeats                  int                     `yaml:"repeats"`
	Concurrency              int                     `yaml:"concurrency"`
	MaxCategoryDropPP        *float64                `yaml:"max_category_drop_pp"`
	MaxOverallDropPP         *float64                `yaml:"max_overall_drop_pp"`
	MaxCostIncreasePct       *float64                `yaml:"max_cost_increase_pct"`
	MaxP95LatencyIncreasePct *float64                `yaml:"max_p95_latency_increase_pct"`
	MaxErrorRate             *float64                `yaml:"max_error_rate"`
	Categories               map[string]CategoryGate `yaml:"categories"`
	Timeout                  Duration                `yaml:"timeout"`
	MaxCalls                 int                     `yaml:"max_calls"`
	MaxUSD                   float64                 `yaml:"max_usd"`
	Node                     *yaml.Node              `yaml:"-"`
}

// CategoryGate overrides the drop threshold for one category.
type CategoryGate struct {
	MaxDropPP *float64 `yaml:"max_drop_pp"`
}

// Judge configures the LLM-as-judge.
type Judge struct {
	Provider     string     `yaml:"provider"`
	Model        string     `yaml:"model" pg:"required"`
	MinAgreement float64    `yaml:"min_agreement"`
	Node         *yaml.Node `yaml:"-"`
}

// Monitor configures how often production triggers are evaluated.
type Monitor struct {
	Interval Duration `yaml:"interval"`
}

// Trigger is a production condition that opens a revert PR when it holds.
// The short forms (above, above_previous_by) and the generic op/threshold
// form are both accepted.
type Trigger struct {
	Name            string     `yaml:"name" pg:"required"`
	Metric          string     `yaml:"metric" pg:"required"`
	Artifact        string     `yaml:"artifact"`
	Environment     string     `yaml:"environment"`
	Above           *float64   `yaml:"above"`
	Below           *float64   `yaml:"below"`
	AbovePreviousBy *float64   `yaml:"above_previous_by"`
	Op              string     `yaml:"op"`
	Threshold       *float64   `yaml:"threshold"`
	Window          Duration   `yaml:"window"`
	For             Duration   `yaml:"for"`
	MinEvents       int        `yaml:"min_events"`
	Node            *yaml.Node `yaml:"-"`
}

// Drift schedules golden-set runs against the versions live in production.
type Drift struct {
	Schedule     string   `yaml:"schedule" pg:"required"`
	Environments []string `yaml:"environments"`
}

// Artifact is one version artifact: everything that shapes the model's behaviour.
type Artifact struct {
	Name          string            `yaml:"name" pg:"required"`
	Version       int               `yaml:"version" pg:"required"`
	Description   string            `yaml:"description"`
	Provider      string            `yaml:"provider"`
	Model         string            `yaml:"model" pg:"required"`
	Params        Params            `yaml:"params"`
	SystemPrompt  string            `yaml:"system_prompt"`
	Templates     map[string]string `yaml:"templates"`
	OutputSchema  map[string]any    `yaml:"output_schema"`
	KnowledgeBase *KnowledgeBase    `yaml:"knowledge_base"`
	Routing       []Route           `yaml:"routing"`
	GoldenSet     string            `yaml:"golden_set"`
	Node          *yaml.Node        `yaml:"-"`

	// Path is the file the artifact was loaded from, relative to the repo root.
	Path string `yaml:"-"`
	// Digest is the canonical content hash (everything but version).
	Digest string `yaml:"-"`
}

// Params are the sampling parameters sent with every call.
type Params struct {
	Temperature      *float64   `yaml:"temperature" json:"temperature,omitempty"`
	TopP             *float64   `yaml:"top_p" json:"top_p,omitempty"`
	MaxTokens        *int       `yaml:"max_tokens" json:"max_tokens,omitempty"`
	Seed             *int       `yaml:"seed" json:"seed,omitempty"`
	Stop             StringList `yaml:"stop" json:"stop,omitempty"`
	PresencePenalty  *float64   `yaml:"presence_penalty" json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64   `yaml:"frequency_penalty" json:"frequency_penalty,omitempty"`
	Node             *yaml.Node `yaml:"-" json:"-"`
}

// KnowledgeBase pins the retrieval index version the artifact was built against.
type KnowledgeBase struct {
	Index   string `yaml:"index" pg:"required"`
	Version string `yaml:"version" pg:"required"`
}

// Route picks another model (and optionally params) for requests that match When.
// When keys are `category` or the name of a case variable.
type Route struct {
	When     map[string]string `yaml:"when" pg:"required"`
	Provider string            `yaml:"provider"`
	Model    string            `yaml:"model" pg:"required"`
	Params   *Params           `yaml:"params"`
	Node     *yaml.Node        `yaml:"-"`
}

// GoldenFile is one file of a golden set.
type GoldenFile struct {
	Category string     `yaml:"category"`
	Cases    []*Case    `yaml:"cases" pg:"required"`
	Node     *yaml.Node `yaml:"-"`
}

// Case is one golden case with its acceptance criteria.
type Case struct {
	ID       string            `yaml:"id" pg:"required"`
	Category string            `yaml:"category"`
	Vars     map[string]string `yaml:"vars"`
	Context  string            `yaml:"context"`
	Expect   Expect            `yaml:"expect"`
	Human    []HumanRating     `yaml:"human"`
	Node     *yaml.Node        `yaml:"-"`

	// File is the golden file the case came from, relative to the repo root,
	// and Line the line the case starts on.
	File string `yaml:"-"`
	Line int    `yaml:"-"`
}

// Expect holds a case's criteria; a case passes when every one holds.
type Expect struct {
	Contains    StringList `yaml:"contains" json:"contains,omitempty"`
	NotContains StringList `yaml:"not_contains" json:"not_contains,omitempty"`
	Regex       StringList `yaml:"regex" json:"regex,omitempty"`
	JSONSchema  bool       `yaml:"json_schema" json:"json_schema,omitempty"`
	MaxChars    int        `yaml:"max_chars" json:"max_chars,omitempty"`
	Judge       string     `yaml:"judge" json:"judge,omitempty"`
	Node        *yaml.Node `yaml:"-" json:"-"`
}

// HumanRating is a human's verdict on one output, used to calibrate the judge.
type HumanRating struct {
	Output string `yaml:"output" pg:"required"`
	Pass   *bool  `yaml:"pass" pg:"required"`
}

// Environment is environments/<name>.yaml: which version of each artifact is live.
type Environment struct {
	Name    string
	Path    string
	Entries map[string]EnvEntry
	Node    *yaml.Node
}

// EnvEntry is one artifact's pointer: a version, optionally with a canary.
type EnvEntry struct {
	Version int
	Canary  *Canary
	Node    *yaml.Node
}

// Canary sends Weight percent of traffic to Version.
type Canary struct {
	Version int        `yaml:"version" pg:"required"`
	Weight  float64    `yaml:"weight" pg:"required"`
	Node    *yaml.Node `yaml:"-"`
}

// StringList accepts a single string or a list of strings.
type StringList []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		*s = StringList{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(StringList, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("expected a string or a list of strings, got %s", describeNode(item))
			}
			out = append(out, item.Value)
		}
		*s = out
		return nil
	}
	return fmt.Errorf("expected a string or a list of strings, got %s", describeNode(n))
}

// Duration is a time.Duration written as "90s", "15m" or "1h30m".
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration such as 30s or 15m, got %s", describeNode(n))
	}
	if n.Value == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("expected a duration such as 30s or 15m, got %q", n.Value)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalYAML writes the duration back in its readable form.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }
