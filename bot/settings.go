// Package bot is the promptgate GitHub App: the webhook server, the durable
// job queue, and the handlers that gate pull requests, tag merges and open
// revert pull requests.
package bot

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Settings configure `promptgate serve`. They come from the environment
// (PROMPTGATE_*); an optional YAML file fills what the environment leaves unset.
type Settings struct {
	Addr           string `yaml:"addr"`
	AppID          int64  `yaml:"app_id"`
	PrivateKey     []byte `yaml:"-"`
	PrivateKeyFile string `yaml:"private_key_file"`
	WebhookSecret  string `yaml:"-"`
	GitHubURL      string `yaml:"github_url"`
	DatabaseURL    string `yaml:"database_url"`
	DataDir        string `yaml:"data_dir"`
	Workers        int    `yaml:"workers"`
	AlertsToken    string `yaml:"-"`
	EventsToken    string `yaml:"-"`
	// ForkMaxUSD caps what one fork PR's gate may spend (0: no cap beyond the repo's gate.max_usd).
	ForkMaxUSD float64 `yaml:"fork_max_usd"`
	// PRMaxUSD caps what any one PR's gate may spend (0: the repo's gate.max_usd).
	PRMaxUSD float64 `yaml:"pr_max_usd"`
	// JobLease is how long a worker holds a job between heartbeats.
	JobLease time.Duration `yaml:"job_lease"`
	// ConfigRepo is owner/name of the config repo production follows: its
	// triggers, prices and environments drive the monitor and revert PRs.
	ConfigRepo string `yaml:"config_repo"`
	// RetryDelay is the first wait before a failed job is tried again; it
	// doubles with each attempt (PROMPTGATE_RETRY_DELAY, default 5s).
	RetryDelay time.Duration `yaml:"retry_delay"`
	// MonitorInterval overrides promptgate.yaml's monitor.interval when set.
	MonitorInterval time.Duration `yaml:"monitor_interval"`
	// Getenv reads provider keys (OPENAI_API_KEY and the api_key_env of each provider).
	Getenv func(string) string `yaml:"-"`
	// ProviderKeyEnvs are the environment variables a config repo's
	// `api_key_env` may name (PROMPTGATE_PROVIDER_KEY_ENVS, comma
	// separated; default OPENAI_API_KEY). A repo cannot make the App read
	// any other variable, such as its own private key.
	ProviderKeyEnvs []string `yaml:"provider_key_envs"`
}

// LoadSettings reads the environment, then the optional file at
// PROMPTGATE_CONFIG_FILE (or path), then applies defaults and validates.
func LoadSettings(getenv func(string) string, path string) (*Settings, error) {
	s := &Settings{Getenv: getenv}
	if path == "" {
		path = getenv("PROMPTGATE_CONFIG_FILE")
	}
	var file Settings
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config file: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		if err := dec.Decode(&file); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	str := func(env, fromFile string) string {
		if v := getenv(env); v != "" {
			return v
		}
		return fromFile
	}
	s.Addr = str("PROMPTGATE_ADDR", file.Addr)
	s.GitHubURL = str("PROMPTGATE_GITHUB_URL", file.GitHubURL)
	s.DatabaseURL = str("PROMPTGATE_DATABASE_URL", file.DatabaseURL)
	s.DataDir = str("PROMPTGATE_DATA_DIR", file.DataDir)
	s.PrivateKeyFile = str("PROMPTGATE_PRIVATE_KEY_FILE", file.PrivateKeyFile)
	s.WebhookSecret = getenv("PROMPTGATE_WEBHOOK_SECRET")
	s.ConfigRepo = str("PROMPTGATE_CONFIG_REPO", file.ConfigRepo)
	s.MonitorInterval = file.MonitorInterval
	if v := getenv("PROMPTGATE_MONITOR_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("PROMPTGATE_MONITOR_INTERVAL: want a duration such as 1m")
		}
		s.MonitorInterval = d
	}
	s.AlertsToken = getenv("PROMPTGATE_ALERTS_TOKEN")
	s.EventsToken = getenv("PROMPTGATE_EVENTS_TOKEN")
	s.AppID = file.AppID
	if v := getenv("PROMPTGATE_APP_ID"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("PROMPTGATE_APP_ID: not a number")
		}
		s.AppID = id
	}
	s.Workers = file.Workers
	if v := getenv("PROMPTGATE_WORKERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("PROMPTGATE_WORKERS: want a positive number")
		}
		s.Workers = n
	}
	s.ForkMaxUSD, s.PRMaxUSD, s.JobLease = file.ForkMaxUSD, file.PRMaxUSD, file.JobLease
	s.ProviderKeyEnvs = file.ProviderKeyEnvs
	if v := getenv("PROMPTGATE_PROVIDER_KEY_ENVS"); v != "" {
		s.ProviderKeyEnvs = nil
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				s.ProviderKeyEnvs = append(s.ProviderKeyEnvs, name)
			}
		}
	}
	for env, dst := range map[string]*float64{"PROMPTGATE_FORK_MAX_USD": &s.ForkMaxUSD, "PROMPTGATE_PR_MAX_USD": &s.PRMaxUSD} {
		if v := getenv(env); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				return nil, fmt.Errorf("%s: want a non-negative number", env)
			}
			*dst = f
		}
	}
	s.RetryDelay = file.RetryDelay
	if v := getenv("PROMPTGATE_RETRY_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("PROMPTGATE_RETRY_DELAY: want a duration such as 5s")
		}
		s.RetryDelay = d
	}
	if v := getenv("PROMPTGATE_JOB_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return nil, fmt.Errorf("PROMPTGATE_JOB_LEASE: want a duration of at least 1s, such as 30s")
		}
		s.JobLease = d
	}
	if key := getenv("PROMPTGATE_PRIVATE_KEY"); key != "" {
		s.PrivateKey = []byte(key)
	} else if s.PrivateKeyFile != "" {
		key, err := os.ReadFile(s.PrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("PROMPTGATE_PRIVATE_KEY_FILE: %w", err)
		}
		s.PrivateKey = key
	}
	s.defaults()
	return s, s.validate()
}

func (s *Settings) defaults() {
	if s.Addr == "" {
		s.Addr = ":8080"
	}
	if s.GitHubURL == "" {
		s.GitHubURL = "https://api.github.com"
	}
	if s.DataDir == "" {
		s.DataDir = "data"
	}
	if s.DatabaseURL == "" {
		s.DatabaseURL = filepath.Join(s.DataDir, "promptgate.db")
	}
	if s.Workers <= 0 {
		s.Workers = 4
	}
	if s.JobLease <= 0 {
		s.JobLease = 30 * time.Second
	}
	if s.RetryDelay <= 0 {
		s.RetryDelay = 5 * time.Second
	}
	if s.Getenv == nil {
		s.Getenv = func(string) string { return "" }
	}
	if len(s.ProviderKeyEnvs) == 0 {
		s.ProviderKeyEnvs = []string{"OPENAI_API_KEY"}
	}
}

// ProviderEnv is the environment the model clients see: the allowed key
// variables and OPENAI_BASE_URL, nothing else. Config repos name key
// variables, so without this a repo could send any of the App's secrets
// to a host of its choosing.
func (s *Settings) ProviderEnv(name string) string {
	if strings.HasPrefix(name, "PROMPTGATE_") {
		return ""
	}
	if name == "OPENAI_BASE_URL" {
		return s.Getenv(name)
	}
	for _, allowed := range s.ProviderKeyEnvs {
		if name == allowed {
			return s.Getenv(name)
		}
	}
	return ""
}

// validate checks what serve cannot run without. Messages never include
// the secrets themselves.
func (s *Settings) validate() error {
	var errs []error
	if s.AppID <= 0 {
		errs = append(errs, errors.New("PROMPTGATE_APP_ID is required"))
	}
	if len(s.PrivateKey) == 0 {
		errs = append(errs, errors.New("PROMPTGATE_PRIVATE_KEY or PROMPTGATE_PRIVATE_KEY_FILE is required"))
	} else if err := checkPEM(s.PrivateKey); err != nil {
		errs = append(errs, fmt.Errorf("App private key: %w", err))
	}
	if s.WebhookSecret == "" {
		// Without a secret every payload would validate: refuse to start.
		errs = append(errs, errors.New("PROMPTGATE_WEBHOOK_SECRET is required"))
	}
	if s.ConfigRepo != "" && strings.Count(s.ConfigRepo, "/") != 1 {
		errs = append(errs, errors.New("PROMPTGATE_CONFIG_REPO must be owner/name"))
	}
	for _, name := range s.ProviderKeyEnvs {
		if strings.HasPrefix(name, "PROMPTGATE_") {
			errs = append(errs, fmt.Errorf("PROMPTGATE_PROVIDER_KEY_ENVS: %s is the App's own setting, not a provider key", name))
		}
	}
	if !strings.HasPrefix(s.GitHubURL, "http://") && !strings.HasPrefix(s.GitHubURL, "https://") {
		errs = append(errs, errors.New("PROMPTGATE_GITHUB_URL must be an http(s) URL"))
	}
	return errors.Join(errs...)
}

func checkPEM(key []byte) error {
	block, _ := pem.Decode(key)
	if block == nil {
		return errors.New("not PEM encoded")
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return nil
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		return nil
	}
	return errors.New("not an RSA private key")
}

// Secrets lists the values that must never appear in logs, comments or errors.
func (s *Settings) Secrets() []string {
	out := []string{s.WebhookSecret, s.AlertsToken, s.EventsToken}
	if len(s.PrivateKey) > 0 {
		out = append(out, string(s.PrivateKey))
	}
	return out
}
