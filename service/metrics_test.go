package service

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"watchshare/store"
)

func TestGraphOp(t *testing.T) {
	cases := []struct {
		method, path, want string
	}{
		{"POST", "/v21.0/me/video.watches", "publish"},
		{"GET", "/v21.0/me/video.watches", "reconcile"},
		{"DELETE", "/v21.0/10150000000015840", "delete"},
		{"DELETE", "/v21.0/me/permissions", "revoke"},
		{"DELETE", "/v21.0/1234/permissions", "revoke"},
		{"GET", "/v21.0/me/permissions", "permissions"},
		{"GET", "/v21.0/me/friends", "friends"},
		{"GET", "/v21.0/1234/friends", "friends"},
		{"GET", "/v21.0/me", "me"},
		{"GET", "/v21.0/oauth/access_token", "token"},
		{"POST", "/graph/v21.0/oauth/access_token", "token"},
		{"POST", "/v21.0/", "batch"},
		{"POST", "/v21.0", "batch"},
		{"GET", "/v21.0/debug_token", "other"},
		{"GET", "/", "other"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			if got := graphOp(tc.method, tc.path); got != tc.want {
				t.Errorf("graphOp(%q, %q) = %q, want %q", tc.method, tc.path, got, tc.want)
			}
		})
	}
}

// answer is a RoundTripper that answers every request with one response.
type answer struct {
	status int
	body   string
}

func (a answer) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: a.status, Body: io.NopCloser(strings.NewReader(a.body)), Request: r}, nil
}

func TestGraphTransport(t *testing.T) {
	big := `{"error":{"code":190,"message":"` + strings.Repeat("x", maxPeek) + `"}}`
	cases := []struct {
		name       string
		answer     answer
		path       string
		wantLabels []string
	}{
		{"success", answer{200, `{"id":"1"}`}, "/v21.0/me/video.watches", []string{"publish", "200", ""}},
		{"graph error", answer{400, `{"error":{"code":190,"error_subcode":463}}`}, "/v21.0/me/video.watches", []string{"publish", "400", "190"}},
		{"not a graph error", answer{503, `<html>down</html>`}, "/v21.0/me/friends", []string{"friends", "503", ""}},
		{"error body over the peek limit", answer{400, big}, "/v21.0/me", []string{"me", "400", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			client := &http.Client{Transport: m.GraphTransport(tc.answer)}
			resp, err := client.Post("https://graph.example/"+strings.TrimPrefix(tc.path, "/"), "", nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(body) != tc.answer.body {
				t.Errorf("body handed on = %d bytes (%v), want the %d bytes answered", len(body), err, len(tc.answer.body))
			}
			if got := observedLabels(t, reg, "watchshare_graph_request_duration_seconds"); !slices.EqualFunc(got, [][]string{tc.wantLabels}, slices.Equal[[]string]) {
				t.Errorf("observations labelled %q, want %q", got, [][]string{tc.wantLabels})
			}
		})
	}
}

// observedLabels gathers reg and returns the label values (op, status,
// code) of each series of histogram name that has observations.
func observedLabels(t *testing.T, reg *prometheus.Registry, name string) [][]string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetHistogram().GetSampleCount() == 0 {
				continue
			}
			values := map[string]string{}
			for _, l := range m.GetLabel() {
				values[l.GetName()] = l.GetValue()
			}
			out = append(out, []string{values["op"], values["status"], values["code"]})
		}
	}
	return out
}

// outboxCountsFunc is an OutboxCounter stub.
type outboxCountsFunc func(ctx context.Context) (map[store.OutboxKind]int, error)

func (f outboxCountsFunc) OutboxCounts(ctx context.Context) (map[store.OutboxKind]int, error) {
	return f(ctx)
}

func TestOutboxGauges(t *testing.T) {
	cases := []struct {
		name   string
		counts map[store.OutboxKind]int
		err    error
		want   map[string]float64
	}{
		{"counts", map[store.OutboxKind]int{store.OutboxDeleteAction: 3, store.OutboxRevoke: 1}, nil, map[string]float64{"delete_action": 3, "revoke": 1}},
		{"empty outbox", map[store.OutboxKind]int{}, nil, map[string]float64{"delete_action": 0, "revoke": 0}},
		{"store down: left out, scrape still works", nil, errors.New("store: unavailable"), map[string]float64{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			db := outboxCountsFunc(func(context.Context) (map[store.OutboxKind]int, error) { return tc.counts, tc.err })
			if err := RegisterOutboxGauges(reg, db, nil); err != nil {
				t.Fatal(err)
			}
			families, err := reg.Gather()
			if err != nil {
				t.Fatalf("Gather: %v", err)
			}
			got := map[string]float64{}
			for _, f := range families {
				for _, m := range f.GetMetric() {
					got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
				}
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("watchshare_outbox_pending = %v, want %v", got, tc.want)
			}
		})
	}
}
