// Package monitor watches artifact versions in the field. It parses and
// validates production events (event.go), keeps them in an in-memory sliding
// window per artifact version and environment (window.go), and evaluates the
// triggers of promptgate.yaml against that window (trigger.go).
//
// It is pure logic: no HTTP, no database, no clock of its own. The caller
// feeds it events, passes the current time, persists the evaluator's state
// and acts on the results (a revert PR for a firing trigger).
//
// Units. Stats hold rates as fractions (0..1). Trigger thresholds and
// Stats.Value use percent for the rate metrics (escalation_rate,
// dont_know_rate, error_rate), so `above: 10` means 10% and
// `above_previous_by: 5` means 5 percentage points; cost_per_event is USD,
// latency_p50_ms and latency_p95_ms are milliseconds, volume is a count of
// events and rating_avg is on the events' 1..5 scale.
package monitor
