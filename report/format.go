package report

import (
	"math"
	"strconv"
	"strings"

	"github.com/promptgate/promptgate/evaluator"
)

// minus is the typographic minus sign: "−16.7" reads better than "-16.7"
// and cannot be taken for a list marker.
const minus = "−"

// rate renders a pass or error rate (0..1) as a percentage.
func rate(r float64) string {
	return strconv.FormatFloat(r*100, 'f', 1, 64) + "%"
}

// signed renders v with one decimal and an explicit sign; a value that
// rounds to zero gets no sign.
func signed(v float64, decimals int) string {
	s := strconv.FormatFloat(math.Abs(v), 'f', decimals, 64)
	if strings.Trim(s, "0.") == "" {
		return s
	}
	if v < 0 {
		return minus + s
	}
	return "+" + s
}

// deltaPct renders a relative change; nil is a change that cannot be
// computed (a missing price, a zero baseline).
func deltaPct(p *float64) string {
	if p == nil || math.IsNaN(*p) || math.IsInf(*p, 0) {
		return "n/a"
	}
	return signed(*p, 1) + "%"
}

// change computes the relative change from before to after in percent.
func change(before, after float64) *float64 {
	if before == 0 {
		return nil
	}
	p := (after - before) / before * 100
	return &p
}

// usd renders a dollar amount with three significant digits, enough to tell
// per-case costs of fractions of a cent apart.
func usd(v float64) string {
	if v == 0 {
		return "$0"
	}
	decimals := 2
	if a := math.Abs(v); a < 1 {
		decimals = max(2, 2-int(math.Floor(math.Log10(a))))
	}
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		if i := strings.IndexByte(s, '.'); len(s)-i-1 < 2 {
			s += strings.Repeat("0", 2-(len(s)-i-1))
		}
	}
	return "$" + s
}

// millis renders a latency given in milliseconds.
func millis(v float64) string {
	if v >= 1000 {
		return strconv.FormatFloat(v/1000, 'f', 2, 64) + " s"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
}

// tokens renders a mean token count per case.
func tokens(v float64) string {
	return Thousands(int(math.Round(v)))
}

// thousands renders n with comma separators: 5,000.
// Thousands writes n with comma separators and a true minus sign.
func Thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return minus + b.String()
	}
	return b.String()
}

// number renders a threshold or parameter without trailing zeros.
func number(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// pValue renders a p-value the way papers do: two significant places, and
// "p<0.001" below that.
func pValue(p float64) string {
	switch {
	case p < 0.001:
		return "p<0.001"
	case p < 0.01:
		return "p=" + strconv.FormatFloat(p, 'f', 3, 64)
	default:
		return "p=" + strconv.FormatFloat(p, 'f', 2, 64)
	}
}

// plural renders "1 case" / "2 cases".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return Thousands(n) + " " + many
}

// icon is the verdict's emoji.
func icon(v evaluator.Verdict) string {
	switch v {
	case evaluator.Pass:
		return "✅"
	case evaluator.Fail:
		return "❌"
	case evaluator.Inconclusive:
		return "⚠️"
	}
	return "❔"
}

// verdictWord is the verdict as shown; an empty one is a report that was not
// finished, which must not read as a pass.
func verdictWord(v evaluator.Verdict) string {
	if v == "" {
		return "unknown"
	}
	return Inline(string(v))
}
