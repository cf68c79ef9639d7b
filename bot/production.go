package bot

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/promptgate/promptgate/monitor"
	"github.com/promptgate/promptgate/store"
)

// maxIngestBytes bounds one events request.
const maxIngestBytes = 64 << 20

// bearer checks an Authorization: Bearer header against the configured
// token in constant time. An unset token disables the route.
func bearer(w http.ResponseWriter, r *http.Request, token, envName string) bool {
	if token == "" {
		http.Error(w, envName+" is not set: this route is disabled", http.StatusServiceUnavailable)
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="promptgate"`)
		http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
		return false
	}
	return true
}

type ingestAnswer struct {
	Accepted int                  `json:"accepted"`
	Rejected []monitor.EventError `json:"rejected"`
	Error    string               `json:"error,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// handleEvents ingests production events (a JSON object, an array, or
// NDJSON). Each event is validated on its own: bad ones come back with
// their index and reason and the rest are kept. Accepted events are
// committed to the store before the answer, in one transaction, so a
// failure stores none of them.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if !bearer(w, r, s.settings.EventsToken, "PROMPTGATE_EVENTS_TOKEN") {
		return
	}
	body := http.MaxBytesReader(w, r.Body, maxIngestBytes)
	ok, bad, err := monitor.ParseEvents(body, s.monitor.prices(), time.Now())
	if bad == nil {
		bad = []monitor.EventError{}
	}
	if err != nil {
		status := http.StatusBadRequest
		if strings.Contains(err.Error(), "too large") {
			status = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, status, ingestAnswer{Rejected: bad, Error: "unreadable batch, nothing stored: " + err.Error()})
		return
	}
	if len(ok) == 0 {
		status := http.StatusUnprocessableEntity
		msg := "no valid events in the batch, nothing stored"
		if len(bad) == 0 {
			status, msg = http.StatusBadRequest, "empty batch"
		}
		writeJSON(w, status, ingestAnswer{Rejected: bad, Error: msg})
		return
	}
	events := make([]store.Event, len(ok))
	for i, e := range ok {
		events[i] = toStoreEvent(e)
	}
	if err := s.store.InsertEvents(r.Context(), events); err != nil {
		s.log.Error("store events", "events", len(events), "error", err)
		writeJSON(w, http.StatusServiceUnavailable, ingestAnswer{Rejected: bad, Error: "store unavailable, nothing stored"})
		return
	}
	s.observeEvents(ok)
	status := http.StatusOK
	if len(bad) > 0 {
		status = http.StatusMultiStatus
	}
	writeJSON(w, status, ingestAnswer{Accepted: len(ok), Rejected: bad})
}

func (s *Server) observeEvents(events []monitor.Event) {
	type key struct {
		artifact, env string
		version       int
	}
	type series struct {
		latency, cost prometheus.Observer
		status        map[string]int
	}
	// Label lookups are per series, not per event: a batch is mostly one series.
	bySeries := map[key]*series{}
	for i := range events {
		e := &events[i]
		k := key{e.Artifact, e.Environment, e.Version}
		sr := bySeries[k]
		if sr == nil {
			v := strconv.Itoa(e.Version)
			sr = &series{latency: s.metrics.eventLatency.WithLabelValues(e.Artifact, v, e.Environment),
				cost: s.metrics.eventCost.WithLabelValues(e.Artifact, v, e.Environment), status: map[string]int{}}
			bySeries[k] = sr
		}
		sr.status[e.Status]++
		sr.latency.Observe(e.LatencyMS)
		if e.CostUSD != nil {
			sr.cost.Observe(*e.CostUSD)
		}
	}
	for k, sr := range bySeries {
		for status, n := range sr.status {
			s.metrics.events.WithLabelValues(k.artifact, strconv.Itoa(k.version), k.env, status).Add(float64(n))
		}
	}
}

func toStoreEvent(e monitor.Event) store.Event {
	return store.Event{Time: e.Time, Artifact: e.Artifact, Version: e.Version, Environment: e.Environment, Model: e.Model,
		InputTokens: e.InputTokens, OutputTokens: e.OutputTokens, CostUSD: e.CostUSD, LatencyMS: e.LatencyMS,
		Status: e.Status, Escalated: e.Escalated, DontKnow: e.DontKnow, Rating: e.Rating}
}

func fromStoreEvent(e store.Event) monitor.Event {
	return monitor.Event{Time: e.Time, Artifact: e.Artifact, Version: e.Version, Environment: e.Environment, Model: e.Model,
		InputTokens: e.InputTokens, OutputTokens: e.OutputTokens, CostUSD: e.CostUSD, LatencyMS: e.LatencyMS,
		Status: e.Status, Escalated: e.Escalated, DontKnow: e.DontKnow, Rating: e.Rating}
}

// alertmanagerPayload is Alertmanager's webhook body, version 4.
type alertmanagerPayload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
		Fingerprint  string            `json:"fingerprint"`
	} `json:"alerts"`
}

// genericAlert is the small JSON form for senders other than Alertmanager.
type genericAlert struct {
	Artifact    string `json:"artifact"`
	Environment string `json:"environment"`
	Version     int    `json:"version"`
	Name        string `json:"name"`
	Status      string `json:"status"`
	Summary     string `json:"summary"`
}

// handleAlerts turns alerts into revert jobs: the first alert of an
// incident opens its revert PR, later ones comment on it. Alerts for an
// artifact the config repo does not know are refused with the reason.
func (s *Server) handleAlerts(w http.ResponseWriter, r *http.Request) {
	if !bearer(w, r, s.settings.AlertsToken, "PROMPTGATE_ALERTS_TOKEN") {
		return
	}
	received := time.Now()
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unreadable body"})
		return
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "not a JSON object: " + err.Error()})
		return
	}
	var jobs []RevertJob
	if _, ok := probe["alerts"]; ok {
		var p alertmanagerPayload
		if err := json.Unmarshal(raw, &p); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "not an Alertmanager payload: " + err.Error()})
			return
		}
		if p.Version != "" && p.Version != "4" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("Alertmanager payload version %q: only version 4 is understood", p.Version)})
			return
		}
		for _, a := range p.Alerts {
			labels := merge(p.CommonLabels, a.Labels)
			ann := merge(p.CommonAnnotations, a.Annotations)
			v, _ := strconv.Atoi(labels["version"])
			reason := firstNonEmpty(ann["summary"], ann["description"], labels["alertname"])
			status := firstNonEmpty(a.Status, p.Status)
			jobs = append(jobs, RevertJob{Artifact: labels["artifact"], Environment: firstNonEmpty(labels["environment"], "production"),
				Version: v, Source: "alert " + firstNonEmpty(labels["alertname"], "unnamed"), Status: status, Reason: reason, ReceivedAt: received})
		}
	} else {
		var g genericAlert
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&g); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "not an alert: " + err.Error()})
			return
		}
		jobs = append(jobs, RevertJob{Artifact: g.Artifact, Environment: firstNonEmpty(g.Environment, "production"), Version: g.Version,
			Source: "alert " + firstNonEmpty(g.Name, "unnamed"), Status: firstNonEmpty(g.Status, "firing"), Reason: firstNonEmpty(g.Summary, g.Name), ReceivedAt: received})
	}
	if len(jobs) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "no alerts in the payload"})
		return
	}
	var problems []string
	for i, j := range jobs {
		if why := s.monitor.knows(j.Artifact, j.Environment); why != "" {
			problems = append(problems, fmt.Sprintf("alert %d: %s", i, why))
		}
		if j.Status != "firing" && j.Status != "resolved" {
			problems = append(problems, fmt.Sprintf("alert %d: status %q is neither firing nor resolved", i, j.Status))
		}
	}
	if len(problems) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "nothing processed", "problems": problems})
		return
	}
	for _, j := range jobs {
		body, _ := json.Marshal(j)
		if _, _, err := s.store.Enqueue(r.Context(), KindRevert, "", body); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "store unavailable"})
			return
		}
		s.log.Info("alert queued", "artifact", j.Artifact, "environment", j.Environment, "source", j.Source, "status", j.Status)
	}
	s.queue.wake()
	writeJSON(w, http.StatusAccepted, map[string]int{"queued": len(jobs)})
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
