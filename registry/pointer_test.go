package registry

import "testing"

func TestSetPointer(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"short form keeps comments", "# live versions\nsa: 15   # shipped Friday\nother: 3\n", "# live versions\nsa: 14   # shipped Friday\nother: 3\n"},
		{"quoted", "sa: \"15\"\n", "sa: 14\n"},
		{"long form", "sa: {version: 15}\nother: 3\n", "sa: {version: 14}\nother: 3\n"},
		{"block long form", "sa:\n  version: 15 # live\n", "sa:\n  version: 14 # live\n"},
		{"canary dropped", "sa: {version: 15, canary: {version: 16, weight: 10}}\n", "sa: {version: 14}\n"},
	}
	for _, tt := range tests {
		got, err := SetPointer([]byte(tt.in), "sa", 14)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if string(got) != tt.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tt.name, got, tt.want)
		}
	}
	if _, err := SetPointer([]byte("other: 3\n"), "sa", 14); err == nil {
		t.Error("missing artifact: want an error")
	}
}
