package registry

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// ParseSchedule parses `drift.schedule` from promptgate.yaml: a standard
// five-field cron expression (minute hour day-of-month month day-of-week,
// e.g. "0 6 * * *") or a descriptor (@hourly, @daily, @weekly, @monthly,
// @yearly, @every 6h). Times are UTC unless the expression starts with
// CRON_TZ=<zone> (or TZ=<zone>), so the same file means the same times on
// every server. A schedule that can never fire (such as February 30) is an
// error.
func ParseSchedule(expr string) (s cron.Schedule, err error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, errors.New(`empty schedule: want a cron expression such as "0 6 * * *" or a descriptor such as @daily`)
	}
	spec := expr
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		// cron v3.0.1 slices past the zone's end when nothing follows it.
		if !strings.Contains(expr, " ") {
			return nil, fmt.Errorf("schedule %q: a time zone must be followed by a cron expression", expr)
		}
	} else {
		spec = "CRON_TZ=UTC " + expr
	}
	defer func() {
		// The parser is third-party code fed user input: a panic in it must
		// not take the bot down.
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("schedule %q: invalid (%v)", expr, p)
		}
	}()
	s, err = cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", expr, err)
	}
	if s.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("schedule %q never fires", expr)
	}
	return s, nil
}
