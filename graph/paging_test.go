package graph

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// pagedHandler serves pages[i] for after=i (page 0 without after). Each
// page is a JSON body where {{next N}} is replaced by a full next URL to
// page N that carries the canary token, as Facebook does.
func pagedHandler(t *testing.T, pages []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		i := 0
		if a := r.URL.Query().Get("after"); a != "" {
			fmt.Sscan(a, &i)
		}
		if r.URL.Query().Get("access_token") != "" {
			t.Errorf("access_token sent in URL %s", r.URL.Path)
		}
		if i >= len(pages) {
			w.WriteHeader(400)
			w.Write([]byte(`{"error":{"code":100,"message":"no such page"}}`))
			return
		}
		body := pages[i]
		for n := range 10 {
			next := fmt.Sprintf("http://%s/v2.5/1117/friends?access_token=%s&limit=2&after=%d", r.Host, canary, n)
			body = strings.ReplaceAll(body, fmt.Sprintf("{{next %d}}", n), next)
		}
		w.Write([]byte(body))
	}
}

func TestCollect(t *testing.T) {
	type item struct {
		ID string `json:"id"`
	}
	tests := []struct {
		name     string
		pages    []string
		maxPages int
		wantIDs  string
		wantErr  error
		wantReqs int
	}{
		{
			name:    "single page without paging",
			pages:   []string{`{"data":[{"id":"1"},{"id":"2"}]}`},
			wantIDs: "1,2", wantReqs: 1,
		},
		{
			name: "irregular pages end at absent next",
			pages: []string{
				`{"data":[{"id":"1"},{"id":"2"}],"paging":{"cursors":{"after":"x"},"next":"{{next 1}}"}}`,
				`{"data":[{"id":"3"}],"paging":{"next":"{{next 2}}"}}`,
				`{"data":[{"id":"4"},{"id":"5"}],"paging":{"cursors":{"before":"a","after":"b"}}}`,
			},
			wantIDs: "1,2,3,4,5", wantReqs: 3,
		},
		{
			name: "empty data stops even with next",
			pages: []string{
				`{"data":[{"id":"1"}],"paging":{"next":"{{next 1}}"}}`,
				`{"data":[],"paging":{"next":"{{next 2}}"}}`,
			},
			wantIDs: "1", wantReqs: 2,
		},
		{
			name: "bounded by maxPages",
			pages: []string{
				`{"data":[{"id":"1"}],"paging":{"next":"{{next 1}}"}}`,
				`{"data":[{"id":"2"}],"paging":{"next":"{{next 2}}"}}`,
				`{"data":[{"id":"3"}],"paging":{"next":"{{next 3}}"}}`,
			},
			maxPages: 2, wantIDs: "1,2", wantErr: ErrTooManyPages, wantReqs: 2,
		},
		{
			name: "exactly maxPages is fine",
			pages: []string{
				`{"data":[{"id":"1"}],"paging":{"next":"{{next 1}}"}}`,
				`{"data":[{"id":"2"}]}`,
			},
			maxPages: 2, wantIDs: "1,2", wantReqs: 2,
		},
		{
			name: "error mid-way keeps earlier items",
			pages: []string{
				`{"data":[{"id":"1"}],"paging":{"next":"{{next 5}}"}}`,
			},
			wantIDs: "1", wantErr: &APIError{Code: 100}, wantReqs: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, pagedHandler(t, tc.pages))
			items, res, err := Collect[item](t.Context(), f.client.Session(canary), "/me/friends", url.Values{"limit": {"2"}}, tc.maxPages)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var ids []string
			for _, it := range items {
				ids = append(ids, it.ID)
			}
			if got := strings.Join(ids, ","); got != tc.wantIDs {
				t.Fatalf("ids = %q, want %q", got, tc.wantIDs)
			}
			if res == nil {
				t.Fatal("Result = nil, want last page's")
			}
			reqs := f.requests()
			if len(reqs) != tc.wantReqs {
				t.Fatalf("requests = %d, want %d", len(reqs), tc.wantReqs)
			}
			proof := AppsecretProof(testSecret, canary)
			for i, r := range reqs {
				if strings.Contains(r.URL, canary) {
					t.Fatalf("request %d URL carries the token: %s", i, r.URL)
				}
				if first(r.Query, "appsecret_proof") != proof || r.Auth != "Bearer "+canary {
					t.Fatalf("request %d lacks proof or bearer: %+v", i, r)
				}
				if i > 0 && (!strings.HasPrefix(r.Path, "/v2.5/1117/friends") || first(r.Query, "limit") != "2") {
					t.Fatalf("request %d = %s, want the next URL verbatim", i, r.URL)
				}
			}
			if err != nil {
				assertNoSecret(t, "error", err.Error())
			}
		})
	}
}

func TestPagesEarlyBreak(t *testing.T) {
	f := setup(t, pagedHandler(t, []string{
		`{"data":[{"id":"1"}],"paging":{"next":"{{next 1}}"}}`,
		`{"data":[{"id":"2"}]}`,
	}))
	for p, err := range f.client.Session(canary).Pages(t.Context(), "/me/friends", nil, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Data) != 1 {
			t.Fatalf("len(Data) = %d, want 1", len(p.Data))
		}
		break
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("requests = %d, want 1 after break", n)
	}
}
