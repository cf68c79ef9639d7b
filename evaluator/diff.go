package evaluator

import (
	"fmt"
	"strings"
)

// HunkOp is the DiffLine.Op of a hunk header such as "@@ -12,7 +12,8 @@";
// the header is the whole Text, so a renderer can print Text alone for it.
const HunkOp = "@"

// DefaultDiffContext is how many unchanged lines surround each change.
const DefaultDiffContext = 3

// maxEditDistance bounds the Myers search. Past it the middle of the texts
// is shown as removed then added: the diff is still correct, only less
// minimal, and a rewrite that large is read as a whole anyway.
const maxEditDistance = 1000

// LineDiff compares two texts line by line (a shortest edit script, Myers'
// algorithm) and returns unified-diff hunks with context unchanged lines
// around each change; a negative context returns every line. Each hunk starts
// with a HunkOp header line. added and removed count the '+' and '-' lines.
func LineDiff(before, after string, context int) (lines []DiffLine, added, removed int) {
	a, b := splitLines(before), splitLines(after)
	ops := diffLines(a, b)
	for _, o := range ops {
		switch o.op {
		case '+':
			added++
		case '-':
			removed++
		}
	}
	if added == 0 && removed == 0 {
		return nil, 0, 0
	}
	return hunks(ops, context), added, removed
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n")
}

type diffOp struct {
	op   byte // ' ', '+', '-'
	text string
	// aLine and bLine are the 1-based line numbers the op sits at in each text:
	// for '+' aLine is the line after which it is inserted, and vice versa.
	aLine, bLine int
}

// diffLines returns the full edit script turning a into b.
func diffLines(a, b []string) []diffOp {
	// Prompt edits are usually small: strip the common ends so the search runs
	// on the changed middle only.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ops := make([]diffOp, 0, len(a)+len(b))
	for i := 0; i < pre; i++ {
		ops = append(ops, diffOp{' ', a[i], i + 1, i + 1})
	}
	midA, midB := a[pre:len(a)-suf], b[pre:len(b)-suf]
	for _, o := range myers(midA, midB) {
		o.aLine += pre
		o.bLine += pre
		ops = append(ops, o)
	}
	for i := 0; i < suf; i++ {
		ai, bi := len(a)-suf+i, len(b)-suf+i
		ops = append(ops, diffOp{' ', a[ai], ai + 1, bi + 1})
	}
	return ops
}

// myers finds a shortest edit script with the greedy forward algorithm,
// keeping each round's frontier to walk the path back.
func myers(a, b []string) []diffOp {
	n, m := len(a), len(b)
	if n == 0 && m == 0 {
		return nil
	}
	maxD := n + m
	off := maxD + 1
	v := make([]int, 2*maxD+3)
	var trace [][]int // trace[d] is the frontier before round d, for k in [-d, d]
	found := -1
	for d := 0; d <= maxD && d <= maxEditDistance; d++ {
		trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: insert b[y]
			} else {
				x = v[off+k-1] + 1 // right: delete a[x]
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				found = d
				break
			}
		}
		if found >= 0 {
			break
		}
	}
	if found < 0 {
		return replaceAll(a, b)
	}

	rev := make([]diffOp, 0, n+m)
	x, y := n, m
	for d := found; d > 0; d-- {
		prev := trace[d] // prev[k+d] is how far diagonal k reached after round d-1
		k := x - y
		var pk int
		if k == -d || (k != d && prev[k-1+d] < prev[k+1+d]) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := prev[pk+d]
		py := px - pk
		// Round d made one edit from (px, py), then followed a snake of equal lines to (x, y).
		mx, my := px+1, py
		if pk == k+1 {
			mx, my = px, py+1
		}
		for x > mx && y > my {
			rev = append(rev, diffOp{' ', a[x-1], x, y})
			x--
			y--
		}
		if pk == k+1 {
			rev = append(rev, diffOp{'+', b[y-1], x, y})
		} else {
			rev = append(rev, diffOp{'-', a[x-1], x, y})
		}
		x, y = px, py
	}
	for x > 0 && y > 0 {
		rev = append(rev, diffOp{' ', a[x-1], x, y})
		x--
		y--
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}

func replaceAll(a, b []string) []diffOp {
	ops := make([]diffOp, 0, len(a)+len(b))
	for i, s := range a {
		ops = append(ops, diffOp{'-', s, i + 1, 0})
	}
	for i, s := range b {
		ops = append(ops, diffOp{'+', s, len(a), i + 1})
	}
	return ops
}

// hunks keeps the changed ops and context unchanged ones around them,
// merging changes whose context overlaps.
func hunks(ops []diffOp, context int) []DiffLine {
	keep := make([]bool, len(ops))
	for i, o := range ops {
		if o.op == ' ' {
			continue
		}
		lo, hi := i-context, i+context
		if context < 0 {
			lo, hi = 0, len(ops)-1
		}
		for j := max(lo, 0); j <= min(hi, len(ops)-1); j++ {
			keep[j] = true
		}
	}
	var out []DiffLine
	for i := 0; i < len(ops); {
		if !keep[i] {
			i++
			continue
		}
		j := i
		for j < len(ops) && keep[j] {
			j++
		}
		out = append(out, DiffLine{Op: HunkOp, Text: hunkHeader(ops[i:j])})
		for _, o := range ops[i:j] {
			out = append(out, DiffLine{Op: string(o.op), Text: o.text})
		}
		i = j
	}
	return out
}

func hunkHeader(ops []diffOp) string {
	var aStart, bStart, aLen, bLen int
	for _, o := range ops {
		if o.op != '+' {
			if aLen == 0 {
				aStart = o.aLine
			}
			aLen++
		}
		if o.op != '-' {
			if bLen == 0 {
				bStart = o.bLine
			}
			bLen++
		}
	}
	// An empty side is addressed by the line before it, as diff -u does.
	if aLen == 0 {
		aStart = ops[0].aLine
	}
	if bLen == 0 {
		bStart = ops[0].bLine
	}
	return fmt.Sprintf("@@ -%d,%d +%d,%d @@", aStart, aLen, bStart, bLen)
}
