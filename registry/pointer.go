package registry

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// SetPointer returns an environment file with artifact's live version set
// to version. The number is replaced in place, so comments and layout stay
// as the humans wrote them. A canary is dropped, since a rollback should
// send no traffic to a newer version; that edit re-encodes the file.
func SetPointer(data []byte, artifact string, version int) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("not a mapping of artifact to version")
	}
	root := doc.Content[0]
	val := fieldValue(root, artifact)
	if val == root {
		return nil, fmt.Errorf("no pointer for %s", artifact)
	}
	switch val.Kind {
	case yaml.ScalarNode:
		return replaceScalar(data, val, strconv.Itoa(version))
	case yaml.MappingNode:
		if canary := fieldNode(val, "canary"); canary != val {
			var kept []*yaml.Node
			for i := 0; i+1 < len(val.Content); i += 2 {
				if val.Content[i].Value != "canary" {
					kept = append(kept, val.Content[i], val.Content[i+1])
				}
			}
			val.Content = kept
			fieldValue(val, "version").Value = strconv.Itoa(version)
			var buf bytes.Buffer
			enc := yaml.NewEncoder(&buf)
			enc.SetIndent(2)
			if err := enc.Encode(&doc); err != nil {
				return nil, err
			}
			return buf.Bytes(), nil
		}
		v := fieldValue(val, "version")
		if v == val || v.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("pointer for %s has no version", artifact)
		}
		return replaceScalar(data, v, strconv.Itoa(version))
	}
	return nil, fmt.Errorf("pointer for %s is neither a version nor {version, canary}", artifact)
}

// replaceScalar swaps the text of scalar node n (at its line and column) for s.
func replaceScalar(data []byte, n *yaml.Node, s string) ([]byte, error) {
	off := 0
	for line := 1; line < n.Line; line++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return nil, fmt.Errorf("line %d out of range", n.Line)
		}
		off += i + 1
	}
	for col := 1; col < n.Column; col++ {
		_, size := utf8.DecodeRune(data[off:])
		off += size
	}
	width := len(n.Value)
	if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
		width += 2
	}
	if off+width > len(data) {
		return nil, fmt.Errorf("value out of range")
	}
	out := append([]byte{}, data[:off]...)
	out = append(out, s...)
	return append(out, data[off+width:]...), nil
}
