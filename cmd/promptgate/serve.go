package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/promptgate/promptgate/bot"
)

func runServe(ctx context.Context, c *cli, args []string) int {
	fl := c.flags("serve", "[--config FILE] [--database-url URL]", `
Runs the GitHub App: webhooks on POST /api/github/hook, health on /healthz and
/readyz, metrics on /metrics. Settings come from the environment:
PROMPTGATE_ADDR, PROMPTGATE_APP_ID, PROMPTGATE_PRIVATE_KEY_FILE or
PROMPTGATE_PRIVATE_KEY, PROMPTGATE_WEBHOOK_SECRET, PROMPTGATE_GITHUB_URL,
PROMPTGATE_DATABASE_URL, PROMPTGATE_DATA_DIR, PROMPTGATE_WORKERS, and the
providers' keys; a YAML file (--config or PROMPTGATE_CONFIG_FILE) fills what
the environment leaves unset.`)
	configFile := fl.String("config", "", "optional YAML settings file")
	dbURL := fl.String("database-url", "", "store: a SQLite file, or postgres://… (overrides PROMPTGATE_DATABASE_URL)")
	if code, done := c.parse(fl, args); done {
		return code
	}
	getenv := c.getenv
	if *dbURL != "" {
		getenv = func(k string) string {
			if k == "PROMPTGATE_DATABASE_URL" {
				return *dbURL
			}
			return c.getenv(k)
		}
	}
	settings, err := bot.LoadSettings(getenv, *configFile)
	if err != nil {
		fmt.Fprintf(c.stderr, "promptgate serve: %v\n", err)
		return 2
	}
	log := bot.NewLogger(c.stderr, slog.LevelInfo, append(settings.Secrets(), providerKeys(c.getenv)...))
	srv, err := bot.New(ctx, settings, log)
	if err != nil {
		log.Error("start", "error", err)
		return 1
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", settings.Addr)
	if err != nil {
		log.Error("listen", "addr", settings.Addr, "error", err)
		return 1
	}
	if err := srv.Run(ctx, ln); err != nil {
		log.Error("serve", "error", err)
		return 1
	}
	return 0
}

// providerKeys are the values of environment variables that look like keys,
// so the logger can scrub them.
func providerKeys(getenv func(string) string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasSuffix(name, "_API_KEY") || strings.HasSuffix(name, "_TOKEN") || strings.HasSuffix(name, "_SECRET") {
			out = append(out, getenv(name))
		}
	}
	return out
}
