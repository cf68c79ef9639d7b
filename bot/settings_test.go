package bot

import (
	"strings"
	"testing"
)

// TestProviderEnvAllowlist: a config repo's api_key_env can only reach the
// variables the operator allowed, never the App's own secrets.
func TestProviderEnvAllowlist(t *testing.T) {
	env := map[string]string{
		"PROMPTGATE_APP_ID": "1", "PROMPTGATE_PRIVATE_KEY": testKey, "PROMPTGATE_WEBHOOK_SECRET": "whsec-123456",
		"OPENAI_API_KEY": "sk-openai", "ANTHROPIC_API_KEY": "sk-ant", "AWS_SECRET_ACCESS_KEY": "aws", "OPENAI_BASE_URL": "http://llm/v1",
	}
	s, err := LoadSettings(func(k string) string { return env[k] }, "")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"OPENAI_API_KEY": "sk-openai", "OPENAI_BASE_URL": "http://llm/v1",
		"ANTHROPIC_API_KEY": "", "AWS_SECRET_ACCESS_KEY": "", "PROMPTGATE_PRIVATE_KEY": "", "PROMPTGATE_WEBHOOK_SECRET": "",
	} {
		if got := s.ProviderEnv(name); got != want {
			t.Errorf("ProviderEnv(%s) = %q, want %q", name, got, want)
		}
	}
	env["PROMPTGATE_PROVIDER_KEY_ENVS"] = "OPENAI_API_KEY, ANTHROPIC_API_KEY"
	s, _ = LoadSettings(func(k string) string { return env[k] }, "")
	if s.ProviderEnv("ANTHROPIC_API_KEY") != "sk-ant" {
		t.Error("an allowed key is not passed")
	}
	env["PROMPTGATE_PROVIDER_KEY_ENVS"] = "PROMPTGATE_PRIVATE_KEY"
	if _, err := LoadSettings(func(k string) string { return env[k] }, ""); err == nil || !strings.Contains(err.Error(), "not a provider key") {
		t.Errorf("allowing an App secret: %v", err)
	}
}

func TestSettingsErrorsNameNoSecret(t *testing.T) {
	env := map[string]string{"PROMPTGATE_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nnot-a-key-secret-material\n-----END RSA PRIVATE KEY-----", "PROMPTGATE_WEBHOOK_SECRET": "whsec-secret-value"}
	_, err := LoadSettings(func(k string) string { return env[k] }, "")
	if err == nil {
		t.Fatal("want errors")
	}
	for _, sec := range []string{"not-a-key-secret-material", "whsec-secret-value"} {
		if strings.Contains(err.Error(), sec) {
			t.Errorf("error leaks %q: %v", sec, err)
		}
	}
	if !strings.Contains(err.Error(), "PROMPTGATE_APP_ID is required") {
		t.Errorf("error: %v", err)
	}
}
