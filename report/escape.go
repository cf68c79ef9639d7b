package report

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// zwsp is a zero-width space. Placed after "@" or "#" it breaks GitHub's
// mention and issue-reference autolinking while rendering invisibly.
const zwsp = "\u200b"

// Inline makes untrusted text (model output, golden-set case ids and
// category names, criteria) inert as running markdown text or a table cell.
// The result is one line that cannot ping anyone (@team), link an issue
// (#123), inject HTML, start a block (heading, list, quote), format or link
// text, or split a table row.
func Inline(s string) string {
	s = strings.TrimSpace(strings.Map(inlineRune, s))
	if s == "" {
		return ""
	}
	// An ordered-list marker ("12." or "3)") counts only at the start.
	listDot := -1
	if i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }); i > 0 && i <= 9 && (s[i] == '.' || s[i] == ')') {
		listDot = i
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for i, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '@':
			b.WriteString("@" + zwsp)
		case r == '#' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			b.WriteString("#" + zwsp)
		case strings.ContainsRune("\\`*_[]~$|", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case i == 0 && strings.ContainsRune("#-+=", r), i == listDot:
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// inlineRune flattens whitespace to spaces and replaces characters that could
// hide or reorder text.
func inlineRune(r rune) rune {
	switch {
	case r == '\n' || r == '\r' || r == '\t' || r == '\v' || r == '\f':
		return ' '
	case hiddenRune(r):
		return utf8.RuneError
	}
	return r
}

// hiddenRune reports control characters and bidirectional overrides: shown
// raw they can make a reviewer read something other than what is there.
func hiddenRune(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case unicode.IsControl(r):
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// CodeBlock puts untrusted text in a fenced code block that it cannot close:
// the fence is one backtick longer than the longest backtick run in s. In a
// code block HTML is not interpreted and mentions do not ping. lang is the
// info string (e.g. "diff"); anything but letters, digits, '-', '_' and '+'
// is dropped from it. The block ends with a newline.
func CodeBlock(s, lang string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.Map(func(r rune) rune {
		if hiddenRune(r) {
			return utf8.RuneError
		}
		return r
	}, s)
	fence := strings.Repeat("`", max(3, longestRun(s, '`')+1))
	lang = strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (r == '-' || r == '_' || r == '+' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return -1
	}, lang)
	var b strings.Builder
	b.Grow(len(s) + 2*len(fence) + len(lang) + 3)
	b.WriteString(fence)
	b.WriteString(lang)
	b.WriteByte('\n')
	b.WriteString(s)
	if s != "" && !strings.HasSuffix(s, "\n") {
		b.WriteByte('\n')
	}
	b.WriteString(fence)
	b.WriteByte('\n')
	return b.String()
}

// codeSpan renders user text (a ref, a model name, a path) as inline code,
// where HTML and mentions are inert. It must not be used in table cells:
// GitHub splits cells on '|' even inside code spans.
func codeSpan(s string) string {
	s = strings.Map(inlineRune, s)
	if strings.TrimSpace(s) == "" {
		return ""
	}
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || (strings.HasPrefix(s, " ") && strings.HasSuffix(s, " ")) {
		s = " " + s + " "
	}
	return fence + s + fence
}

func longestRun(s string, c byte) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}
