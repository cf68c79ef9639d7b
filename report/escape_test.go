package report

import (
	"strings"
	"testing"
)

func TestInline(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"@team ping", "@\u200bteam ping"},
		{"<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"},
		{"```\n# injected heading\n```", "\\`\\`\\` # injected heading \\`\\`\\`"},
		{"</details><script>", "&lt;/details&gt;&lt;script&gt;"},
		{"||table|break", "\\|\\|table\\|break"},
		{"fixes #123", "fixes #\u200b123"},
		{"# heading", "\\# heading"},
		{"- item", "\\- item"},
		{"12. item", "12\\. item"},
		{"[click](https://evil.example)", "\\[click\\](https://evil.example)"},
		{"a\\|b", "a\\\\\\|b"},
		{"&#64;team", "&amp;#\u200b64;team"},
		{"**bold** _em_ ~~gone~~ $x$", "\\*\\*bold\\*\\* \\_em\\_ \\~\\~gone\\~\\~ \\$x\\$"},
		{"line one\r\nline two\ttab", "line one  line two tab"},
		{"rtl \u202ereversed", "rtl \ufffdreversed"},
		{"  padded  ", "padded"},
		{"esc-001", "esc-001"},
		{"temperature: 0.2 → 0.4", "temperature: 0.2 → 0.4"},
	}
	for _, tt := range tests {
		if got := Inline(tt.in); got != tt.want {
			t.Errorf("Inline(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestInlineIsOneTableCell(t *testing.T) {
	for _, s := range []string{"@team ping", "<img src=x onerror=alert(1)>", "```\n# injected heading\n```", "</details><script>", "||table|break", "a\\|b\\\\|c"} {
		got := Inline(s)
		if strings.ContainsAny(got, "\n\r<>") {
			t.Errorf("Inline(%q) = %q keeps a newline or angle bracket", s, got)
		}
		// Every pipe must be escaped by an odd number of backslashes.
		for i := strings.IndexByte(got, '|'); i >= 0; {
			n := 0
			for j := i - 1; j >= 0 && got[j] == '\\'; j-- {
				n++
			}
			if n%2 == 0 {
				t.Errorf("Inline(%q) = %q has a live pipe at %d", s, got, i)
			}
			next := strings.IndexByte(got[i+1:], '|')
			if next < 0 {
				break
			}
			i += next + 1
		}
	}
}

func TestCodeBlock(t *testing.T) {
	tests := []struct {
		name, in, lang, want string
	}{
		{"plain", "hello\n", "", "```\nhello\n```\n"},
		{"no final newline", "hello", "diff", "```diff\nhello\n```\n"},
		{"empty", "", "", "```\n```\n"},
		{"triple backticks", "```\n# injected heading\n```", "", "````\n```\n# injected heading\n```\n````\n"},
		{"longer run", "a ````` b", "", "``````\na ````` b\n``````\n"},
		{"hostile lang", "x", "js\n```<script>", "```jsscript\nx\n```\n"},
		{"html stays text", "</details><script>", "", "```\n</details><script>\n```\n"},
		{"carriage returns", "a\r\nb\rc", "", "```\na\nb\nc\n```\n"},
		{"bidi override", "x\u202ey", "", "```\nx\ufffdy\n```\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CodeBlock(tt.in, tt.lang); got != tt.want {
				t.Errorf("CodeBlock(%q, %q) = %q, want %q", tt.in, tt.lang, got, tt.want)
			}
		})
	}
}

// TestCodeBlockCannotBeEscaped renders hostile output in a block and checks
// that everything after the opening fence up to the real closing fence is
// the content, line for line.
func TestCodeBlockCannotBeEscaped(t *testing.T) {
	for _, s := range []string{hostile, "````", "~~~\n```\n~~~", "   ```\n", "``` ```` `````"} {
		md := "before\n\n" + CodeBlock(s, "") + "\nafter\n"
		outside := outsideFences(t, md)
		if outside != "before\n\n\nafter\n" {
			t.Errorf("content of %q leaked out of its block: outside is %q", s, outside)
		}
	}
}

func TestCodeSpan(t *testing.T) {
	tests := []struct{ in, want string }{
		{"main", "`main`"},
		{"feat/`x`", "`` feat/`x` ``"},
		{"a`b", "``a`b``"},
		{"", ""},
		{"two\nlines", "`two lines`"},
	}
	for _, tt := range tests {
		if got := codeSpan(tt.in); got != tt.want {
			t.Errorf("codeSpan(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
