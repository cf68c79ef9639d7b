package drift

import (
	"github.com/robfig/cron/v3"

	"github.com/promptgate/promptgate/registry"
)

// Schedule parses `drift.schedule` from promptgate.yaml; see
// registry.ParseSchedule, which validation uses too.
func Schedule(expr string) (cron.Schedule, error) { return registry.ParseSchedule(expr) }
