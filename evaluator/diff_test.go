package evaluator

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestDiffLines(t *testing.T) {
	before := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"
	after := "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\nk\n"
	lines, added, removed := LineDiff(before, after, 1)
	want := []DiffLine{
		{HunkOp, "@@ -4,3 +4,3 @@"},
		{" ", "d"}, {"-", "e"}, {"+", "E"}, {" ", "f"},
		{HunkOp, "@@ -10,1 +10,2 @@"},
		{" ", "j"}, {"+", "k"},
	}
	if !slices.Equal(lines, want) || added != 2 || removed != 1 {
		t.Errorf("LineDiff = %v (+%d -%d), want %v (+2 -1)", lines, added, removed, want)
	}
}

func TestDiffEdges(t *testing.T) {
	tests := []struct {
		name, before, after string
		want                []DiffLine
		added, removed      int
	}{
		{"identical", "x\ny\n", "x\ny", nil, 0, 0},
		{"both empty", "", "", nil, 0, 0},
		{"from nothing", "", "x\ny\n", []DiffLine{{HunkOp, "@@ -0,0 +1,2 @@"}, {"+", "x"}, {"+", "y"}}, 2, 0},
		{"to nothing", "x\n", "", []DiffLine{{HunkOp, "@@ -1,1 +0,0 @@"}, {"-", "x"}}, 0, 1},
		{"insert first", "b\nc\n", "a\nb\nc\n", []DiffLine{{HunkOp, "@@ -1,2 +1,3 @@"}, {"+", "a"}, {" ", "b"}, {" ", "c"}}, 1, 0},
		{"merged hunks", "1\n2\n3\n4\n5\n", "1\nX\n3\nY\n5\n", []DiffLine{
			{HunkOp, "@@ -1,5 +1,5 @@"}, {" ", "1"}, {"-", "2"}, {"+", "X"}, {" ", "3"}, {"-", "4"}, {"+", "Y"}, {" ", "5"},
		}, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, added, removed := LineDiff(tt.before, tt.after, 3)
			if !slices.Equal(lines, tt.want) || added != tt.added || removed != tt.removed {
				t.Errorf("LineDiff = %v (+%d -%d), want %v (+%d -%d)", lines, added, removed, tt.want, tt.added, tt.removed)
			}
		})
	}
}

// lcs is the textbook dynamic program, to check the script is minimal.
func lcs(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

func TestDiffRandomIsMinimalAndApplies(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"a", "b", "c", "d"}
	gen := func() []string {
		out := make([]string, rng.IntN(15))
		for i := range out {
			out[i] = words[rng.IntN(len(words))]
		}
		return out
	}
	for range 2000 {
		a, b := gen(), gen()
		lines, added, removed := LineDiff(strings.Join(a, "\n"), strings.Join(b, "\n"), -1)
		var gotA, gotB []string
		for _, l := range lines {
			switch l.Op {
			case " ":
				gotA, gotB = append(gotA, l.Text), append(gotB, l.Text)
			case "-":
				gotA = append(gotA, l.Text)
			case "+":
				gotB = append(gotB, l.Text)
			}
		}
		if added+removed == 0 {
			gotA, gotB = a, b
		}
		if !slices.Equal(gotA, a) || !slices.Equal(gotB, b) {
			t.Fatalf("diff of %q → %q does not reproduce them: %v", a, b, lines)
		}
		if want := len(a) + len(b) - 2*lcs(a, b); added+removed != want {
			t.Fatalf("diff of %q → %q has %d edits, want %d", a, b, added+removed, want)
		}
	}
}

func TestDiffLargeRewriteFallsBack(t *testing.T) {
	var a, b []string
	for i := range 3000 {
		a = append(a, "old "+strings.Repeat("x", i%7)+string(rune('a'+i%26)))
		b = append(b, "new "+string(rune('a'+i%26)))
	}
	_, added, removed := LineDiff(strings.Join(a, "\n"), strings.Join(b, "\n"), 3)
	if added != 3000 || removed != 3000 {
		t.Errorf("rewrite: +%d -%d, want +3000 -3000", added, removed)
	}
}
