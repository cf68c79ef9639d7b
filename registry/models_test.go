package registry

import "testing"

func TestCheckModel(t *testing.T) {
	tests := []struct {
		model  string
		allow  []string
		pinned bool
	}{
		{"gpt-4o-2024-08-06", nil, true},
		{"gpt-4o-mini-2024-07-18", nil, true},
		{"gpt-3.5-turbo-0125", nil, true},
		{"o3-mini-2025-01-31", nil, true},
		{"claude-3-5-sonnet-20241022", nil, true},
		{"anthropic.claude-3-5-sonnet-20241022-v2:0", nil, true},
		{"gemini-1.5-pro-002", nil, true},
		{"mistral-large-2411", nil, true},
		{"command-r-plus-08-2024", nil, true},
		{"ft:gpt-4o-mini-2024-07-18:acme::9abcDEF1", nil, true},
		{"latest", nil, false},
		{"gpt-4o-latest", nil, false},
		{"chatgpt-4o-latest", nil, false},
		{"claude-3-5-sonnet-latest", nil, false},
		{"gpt-4o", nil, false},
		{"gpt-4o-mini", nil, false},
		{"gpt-4", nil, false},
		{"o3-mini", nil, false},
		{"gemini-1.5-pro", nil, false},
		{"claude-3-5-sonnet", nil, false},
		{"mistral-large-latest", nil, false},
		{"llama3", nil, false},
		{"default", nil, false},
		{"", nil, false},
		{"llama3.1:8b-instruct-q4_0", nil, false},
		{"llama3.1:8b-instruct-q4_0", []string{"llama3.1:8b-instruct-q4_0"}, true},
		{"acme-support-7b", []string{"acme-*"}, true},
		{"gpt-4o", []string{"acme-*"}, false},
	}
	for _, tt := range tests {
		why := CheckModel(tt.model, tt.allow)
		if (why == "") != tt.pinned {
			t.Errorf("CheckModel(%q, %v) = %q, want pinned=%v", tt.model, tt.allow, why, tt.pinned)
		}
	}
}
