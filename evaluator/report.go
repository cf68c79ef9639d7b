package evaluator

import "github.com/promptgate/promptgate/registry"

// Verdict is the gate's outcome for one artifact or the whole PR.
type Verdict string

// Verdicts, with the exit codes of `promptgate gate`.
const (
	Pass         Verdict = "pass"         // exit 0
	Fail         Verdict = "fail"         // exit 1
	Inconclusive Verdict = "inconclusive" // exit 2: not enough data to call it
)

// Evidence says whether a category's change is supported by a paired test.
type Evidence string

// Evidence levels.
const (
	// Insufficient: too few discordant pairs for the test to ever call it.
	Insufficient   Evidence = "insufficient evidence"
	NotSignificant Evidence = "not significant"
	Significant    Evidence = "significant"
	NoChange       Evidence = "no change"
)

// Report is the whole gate result for one PR (base against head).
type Report struct {
	Verdict Verdict `json:"verdict"`
	// Reasons summarises why, across artifacts.
	Reasons   []string          `json:"reasons"`
	BaseRef   string            `json:"base_ref"`
	HeadRef   string            `json:"head_ref"`
	Artifacts []*ArtifactReport `json:"artifacts"`
	// Unchanged lists artifacts whose digest and golden set did not change.
	Unchanged []string `json:"unchanged"`
	// Deleted lists artifacts the PR removes.
	Deleted []string `json:"deleted,omitempty"`
	// Pointers lists the environment pointers the PR moves: deploys,
	// rollbacks and canaries.
	Pointers []PointerChange `json:"pointers,omitempty"`
	// ConfigChanged is set when the PR edits promptgate.yaml; the gate ran under the base rules.
	ConfigChanged bool       `json:"config_changed,omitempty"`
	ConfigDiff    []DiffLine `json:"config_diff,omitempty"`
	// Problems are validation and version-number problems in the head.
	Problems []registry.Problem      `json:"problems,omitempty"`
	Versions []registry.VersionCheck `json:"versions,omitempty"`
	// DetailsURL, when set, is where the full report lives (the check run).
	DetailsURL string `json:"details_url,omitempty"`
}

// ArtifactReport compares one artifact's baseline with its candidate.
type ArtifactReport struct {
	Name        string   `json:"name"`
	BaseVersion int      `json:"base_version"` // 0 for a new artifact
	HeadVersion int      `json:"head_version"`
	Verdict     Verdict  `json:"verdict"`
	Reasons     []string `json:"reasons"`
	Repeats     int      `json:"repeats"`

	Categories []CategoryDelta `json:"categories"`
	Overall    CategoryDelta   `json:"overall"`
	Worse      []CaseDelta     `json:"worse"`
	Better     []CaseDelta     `json:"better"`

	Cost    CostDelta    `json:"cost"`
	Latency LatencyDelta `json:"latency"`
	Errors  ErrorCounts  `json:"errors"`
	Change  Change       `json:"change"`
	Judge   *Calibration `json:"judge,omitempty"`
	// BudgetSpent is set when the run budget stopped the run early.
	BudgetSpent string `json:"budget_spent,omitempty"`
	// Calls counts model calls actually made (cache misses), per side.
	BaseCalls int `json:"base_calls"`
	HeadCalls int `json:"head_calls"`
}

// CategoryDelta is one category's pass rates before and after.
// Pass rates count only outcomes that are verdicts; errors are counted apart.
type CategoryDelta struct {
	Name         string   `json:"name"`
	N            int      `json:"n"`       // cases
	Samples      int      `json:"samples"` // paired samples (cases × repeats, both sides usable)
	BasePassRate float64  `json:"base_pass_rate"`
	HeadPassRate float64  `json:"head_pass_rate"`
	DeltaPP      float64  `json:"delta_pp"`
	PValue       float64  `json:"p_value"`
	Evidence     Evidence `json:"evidence"`
	// Regressed is true when the drop breaks the threshold and the test supports it.
	Regressed   bool    `json:"regressed"`
	ThresholdPP float64 `json:"threshold_pp"`
	BaseErrors  int     `json:"base_errors"`
	HeadErrors  int     `json:"head_errors"`
}

// CaseDelta is one case whose result changed between the sides.
type CaseDelta struct {
	CaseID   string `json:"case_id"`
	Category string `json:"category"`
	// Reason names the failed criterion (for worse) or the fixed one (for better).
	Reason     string   `json:"reason"`
	Failed     []string `json:"failed,omitempty"`
	BaseOutput string   `json:"base_output"`
	HeadOutput string   `json:"head_output"`
	// BasePasses and HeadPasses count passing repeats out of Repeats.
	BasePasses int    `json:"base_passes"`
	HeadPasses int    `json:"head_passes"`
	Repeats    int    `json:"repeats"`
	File       string `json:"file,omitempty"`
}

// CostDelta compares tokens and cost per case. Nil costs are unknown
// (a model without a price), never zero.
type CostDelta struct {
	BaseInputTokens  float64  `json:"base_input_tokens_per_case"`
	BaseOutputTokens float64  `json:"base_output_tokens_per_case"`
	HeadInputTokens  float64  `json:"head_input_tokens_per_case"`
	HeadOutputTokens float64  `json:"head_output_tokens_per_case"`
	BasePerCase      *float64 `json:"base_usd_per_case"`
	HeadPerCase      *float64 `json:"head_usd_per_case"`
	BaseTotal        *float64 `json:"base_usd_total"`
	HeadTotal        *float64 `json:"head_usd_total"`
	DeltaPct         *float64 `json:"delta_pct"`
	// UnknownModels lists models without a price in promptgate.yaml.
	UnknownModels []string `json:"unknown_models,omitempty"`
}

// LatencyDelta compares latency percentiles in milliseconds.
// Cached responses keep the latency they were recorded with.
type LatencyDelta struct {
	BaseP50ms   float64  `json:"base_p50_ms"`
	BaseP95ms   float64  `json:"base_p95_ms"`
	HeadP50ms   float64  `json:"head_p50_ms"`
	HeadP95ms   float64  `json:"head_p95_ms"`
	DeltaP95Pct *float64 `json:"delta_p95_pct"`
}

// ErrorCounts counts outcomes that are missing data, per side and kind.
type ErrorCounts struct {
	Base     int               `json:"base"`
	Head     int               `json:"head"`
	BaseRate float64           `json:"base_rate"`
	HeadRate float64           `json:"head_rate"`
	ByKind   map[ErrorKind]int `json:"by_kind,omitempty"`
	// Examples are a few error messages, redacted, for the report.
	Examples []string `json:"examples,omitempty"`
}

// Change summarises what changed in the artifact between the sides.
type Change struct {
	ModelBefore   string     `json:"model_before,omitempty"`
	ModelAfter    string     `json:"model_after"`
	Params        []string   `json:"params,omitempty"` // e.g. "temperature: 0.2 → 0.7"
	PromptDiff    []DiffLine `json:"prompt_diff,omitempty"`
	PromptAdded   int        `json:"prompt_lines_added"`
	PromptRemoved int        `json:"prompt_lines_removed"`
	Other         []string   `json:"other,omitempty"` // KB version, routing, schema, templates
	GoldenChanged bool       `json:"golden_changed,omitempty"`
}

// DiffLine is one line of a unified diff: Op is ' ', '+' or '-'.
type DiffLine struct {
	Op   string `json:"op"`
	Text string `json:"text"`
}

// Calibration is the judge's agreement with human ratings.
type Calibration struct {
	Model    string  `json:"model"`
	N        int     `json:"n"`
	Accuracy float64 `json:"accuracy"`
	Kappa    float64 `json:"kappa"`
	TPR      float64 `json:"tpr"`
	TNR      float64 `json:"tnr"`
	Errors   int     `json:"errors"`
	Min      float64 `json:"min_agreement"`
	Trusted  bool    `json:"trusted"`
	Note     string  `json:"note,omitempty"`
}

// PointerChange is one environment pointer a PR moves. Zero versions mean
// absent (a new pointer, a removed one, no canary).
type PointerChange struct {
	Environment  string  `json:"environment"`
	Artifact     string  `json:"artifact"`
	From         int     `json:"from"`
	To           int     `json:"to"`
	CanaryFrom   int     `json:"canary_from,omitempty"`
	CanaryTo     int     `json:"canary_to,omitempty"`
	CanaryWeight float64 `json:"canary_weight,omitempty"`
}
