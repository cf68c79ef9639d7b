package monitor

import (
	"bytes"
	"errors"
	"io"
)

// tracker sits between the body and the JSON decoder. It keeps the bytes
// from the start of the value being decoded onwards, so that a rejected
// value's line can be found and decoding can restart after a syntax error,
// and it counts the lines of the bytes it lets go.
type tracker struct {
	r    io.Reader
	err  error  // the reader's error, once it returned one
	buf  []byte // input bytes [base, base+len(buf))
	base int64
	pos  int64 // next offset handed to the decoder
	line int   // line number at offset base
}

func (t *tracker) Read(p []byte) (int, error) {
	if end := t.base + int64(len(t.buf)); t.pos < end {
		n := copy(p, t.buf[t.pos-t.base:])
		t.pos += int64(n)
		return n, nil
	}
	if t.err != nil {
		return 0, t.err
	}
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	t.pos += int64(n)
	if err != nil {
		t.err = err
	}
	return n, err
}

// readFailed reports whether err is the reader's own failure (not EOF).
func (t *tracker) readFailed(err error) bool {
	return t.err != nil && t.err != io.EOF && errors.Is(err, t.err)
}

// fill reads more input into buf; false at the end of the input.
func (t *tracker) fill() bool {
	if t.err != nil {
		return false
	}
	var chunk [4096]byte
	for {
		n, err := t.r.Read(chunk[:])
		t.buf = append(t.buf, chunk[:n]...)
		if err != nil {
			t.err = err
		}
		if n > 0 {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// at returns the byte at absolute offset off, reading more input if needed.
func (t *tracker) at(off int64) (byte, bool) {
	for off-t.base >= int64(len(t.buf)) {
		if !t.fill() {
			return 0, false
		}
	}
	return t.buf[off-t.base], true
}

func (t *tracker) peekNonSpace() (byte, error) {
	for off := t.base; ; off++ {
		c, ok := t.at(off)
		if !ok {
			if t.err == nil || t.err == io.EOF {
				return 0, io.EOF
			}
			return 0, t.err
		}
		if !isSpace(c) {
			return c, nil
		}
	}
}

// valueStart returns the offset of the first byte of the value that follows
// offset from, skipping white space and array punctuation.
func (t *tracker) valueStart(from int64) int64 {
	off := from
	for {
		c, ok := t.at(off)
		if !ok || !(isSpace(c) || c == ',' || c == '[') {
			return off
		}
		off++
	}
}

// nextObjectLine returns the offset where the first line after the one
// holding offset from begins whose first non-blank byte is '{', or the end of
// the input when there is none.
func (t *tracker) nextObjectLine(from int64) int64 {
	off := from
	for {
		c, ok := t.at(off)
		if !ok {
			return off
		}
		off++
		if c != '\n' {
			continue
		}
		lineStart := off
	blanks:
		for {
			c, ok = t.at(off)
			switch {
			case !ok:
				return off
			case c == '{':
				return lineStart
			case c == '\n':
				off++
				lineStart = off
			case c == ' ' || c == '\t' || c == '\r':
				off++
			default:
				break blanks
			}
		}
	}
}

// lineOf returns the 1-based line of absolute offset off (off >= base).
func (t *tracker) lineOf(off int64) int {
	n := int(off - t.base)
	if n > len(t.buf) {
		n = len(t.buf)
	}
	return t.line + bytes.Count(t.buf[:n], newline)
}

var newline = []byte{'\n'}

// discard lets go of the input before offset to. The memory is reclaimed
// in large steps so that each event does not move the buffer.
func (t *tracker) discard(to int64) {
	n := int(to - t.base)
	if n < 64<<10 || n < len(t.buf)/2 {
		return
	}
	if n > len(t.buf) {
		n = len(t.buf)
	}
	t.line += bytes.Count(t.buf[:n], newline)
	t.base += int64(n)
	t.buf = t.buf[:copy(t.buf, t.buf[n:])]
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
