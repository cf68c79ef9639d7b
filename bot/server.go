package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/promptgate/promptgate/store"
)

// CheckName is the check run the bot owns; branch protection requires it.
const CheckName = "promptgate"

// Server is the running App: HTTP routes, the job queue and the handlers.
type Server struct {
	settings *Settings
	store    *store.Store
	clients  *Clients
	log      *slog.Logger
	registry *prometheus.Registry
	metrics  *metrics
	queue    *queue
	acceptor *acceptor
	// config follows the config repo production runs from; nil when
	// PROMPTGATE_CONFIG_REPO is unset (PR gating still works).
	config  *configRepo
	monitor *monitorLoop
}

type metrics struct {
	deliveries    *prometheus.CounterVec
	acceptSeconds prometheus.Histogram
	jobs          *prometheus.CounterVec
	jobSeconds    *prometheus.HistogramVec
	gates         *prometheus.CounterVec
	revertSeconds prometheus.Histogram
	events        *prometheus.CounterVec
	eventLatency  *prometheus.HistogramVec
	eventCost     *prometheus.HistogramVec
	series        *prometheus.GaugeVec
	triggers      *prometheus.GaugeVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promptgate_webhook_deliveries_total", Help: "Webhook deliveries by event and result.",
		}, []string{"event", "result"}),
		acceptSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "promptgate_webhook_accept_seconds", Help: "Time to accept a webhook delivery.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promptgate_jobs_total", Help: "Finished jobs by kind and final state.",
		}, []string{"kind", "state"}),
		jobSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "promptgate_job_seconds", Help: "Job run time by kind.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"kind"}),
		gates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promptgate_gate_verdicts_total", Help: "Gate verdicts posted on pull requests.",
		}, []string{"verdict"}),
	}
	m.revertSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "promptgate_alert_to_revert_pr_seconds", Help: "Time from an alert or fired trigger to its revert PR being open.",
		Buckets: []float64{.5, 1, 2, 5, 10, 30, 60, 300},
	})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "promptgate_events_total", Help: "Production events ingested, by artifact, version, environment and status.",
	}, []string{"artifact", "version", "environment", "status"})
	m.eventLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "promptgate_event_latency_ms", Help: "Latency of production calls in milliseconds.",
		Buckets: []float64{100, 250, 500, 1000, 1500, 2000, 2500, 3000, 5000, 10000},
	}, []string{"artifact", "version", "environment"})
	m.eventCost = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "promptgate_event_cost_usd", Help: "Cost of production calls in USD.",
		Buckets: []float64{.0005, .001, .002, .003, .004, .005, .0075, .01, .02, .05},
	}, []string{"artifact", "version", "environment"})
	m.series = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "promptgate_version_metric", Help: "Per-version production metrics over the monitor window (rates in percent, cost in USD, latency in ms).",
	}, []string{"artifact", "version", "environment", "metric"})
	m.triggers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "promptgate_trigger_firing", Help: "1 while a trigger fires for an artifact version.",
	}, []string{"trigger", "artifact", "version", "environment"})
	reg.MustRegister(m.revertSeconds, m.events, m.eventLatency, m.eventCost, m.series, m.triggers)
	reg.MustRegister(m.deliveries, m.acceptSeconds, m.jobs, m.jobSeconds, m.gates,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// New builds the server: it opens the store and prepares the GitHub clients.
func New(ctx context.Context, s *Settings, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	st, err := store.Open(ctx, s.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	clients, err := NewClients(s, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	srv := &Server{settings: s, store: st, clients: clients, log: log, registry: reg, metrics: newMetrics(reg), acceptor: newAcceptor(st)}
	host, _ := os.Hostname()
	srv.queue = &queue{
		store: st, owner: fmt.Sprintf("%s-%d-%d", host, os.Getpid(), time.Now().UnixNano()),
		workers: s.Workers, lease: s.JobLease, poll: time.Second, retryDelay: s.RetryDelay,
		log: log, metrics: srv.metrics, notify: make(chan struct{}, 1),
	}
	srv.queue.handlers = map[string]jobFunc{
		KindGate:   srv.handleGateJob,
		KindMerge:  srv.handleMergeJob,
		KindRevert: srv.handleRevertJob,
	}
	if s.ConfigRepo != "" {
		srv.config = newConfigRepo(s.ConfigRepo, s.DataDir, clients)
	}
	srv.monitor = newMonitorLoop(srv)
	return srv, nil
}

// Close releases the store.
func (s *Server) Close() error { return s.store.Close() }

// Handler returns the HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/github/hook", s.handleHook)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.store.Ping(ctx); err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /api/v1/events", s.handleEvents)
	mux.HandleFunc("POST /api/alerts", s.handleAlerts)
	return mux
}

// Run serves HTTP on ln and works the queue until ctx is cancelled, then
// shuts down gracefully: running jobs keep their leases and resume later.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	qdone := make(chan struct{})
	go func() {
		s.queue.run(ctx)
		close(qdone)
	}()
	mdone := make(chan struct{})
	go func() {
		s.monitor.run(ctx)
		close(mdone)
	}()
	ddone := make(chan struct{})
	go func() {
		s.runDrift(ctx)
		close(ddone)
	}()
	s.log.Info("serving", "addr", ln.Addr().String(), "workers", s.settings.Workers, "github", s.settings.GitHubURL)
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := hs.Shutdown(shut)
	<-qdone
	<-mdone
	<-ddone
	return err
}
