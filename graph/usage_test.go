package graph

import (
	"net/http"
	"testing"
	"time"
)

func TestParseUsage(t *testing.T) {
	tests := []struct {
		name       string
		header     map[string]string
		wantApp    RateUsage
		wantPage   RateUsage
		wantMax    int
		wantRegain time.Duration
		wantBUC    int // number of business ids
	}{
		{name: "absent", header: nil},
		{
			name:    "app usage",
			header:  map[string]string{"X-App-Usage": `{"call_count":28,"total_time":25,"total_cputime":25}`},
			wantApp: RateUsage{CallCount: 28, TotalTime: 25, TotalCPUTime: 25}, wantMax: 28,
		},
		{
			name:    "fractional rounds up",
			header:  map[string]string{"x-app-usage": `{"call_count":90.2,"total_time":"3","total_cputime":1}`},
			wantApp: RateUsage{CallCount: 91, TotalTime: 3, TotalCPUTime: 1}, wantMax: 91,
		},
		{
			name:     "page usage",
			header:   map[string]string{"X-Page-Usage": `{"call_count":5,"total_time":97,"total_cputime":1}`},
			wantPage: RateUsage{CallCount: 5, TotalTime: 97, TotalCPUTime: 1}, wantMax: 97,
		},
		{
			name: "business use case",
			header: map[string]string{"X-Business-Use-Case-Usage": `{"112233":[{"type":"pages","call_count":100,"total_cputime":20,"total_time":30,"estimated_time_to_regain_access":12}],` +
				`"445566":[{"type":"instagram","call_count":2,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":0}]}`},
			wantMax: 100, wantRegain: 12 * time.Minute, wantBUC: 2,
		},
		{
			name:   "malformed ignored",
			header: map[string]string{"X-App-Usage": `{call_count:28`, "X-Business-Use-Case-Usage": `[]`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			u := ParseUsage(h)
			if u.App != tc.wantApp {
				t.Fatalf("App = %+v, want %+v", u.App, tc.wantApp)
			}
			if u.Page != tc.wantPage {
				t.Fatalf("Page = %+v, want %+v", u.Page, tc.wantPage)
			}
			if got := u.Max(); got != tc.wantMax {
				t.Fatalf("Max() = %d, want %d", got, tc.wantMax)
			}
			if got := u.RegainAccessIn(); got != tc.wantRegain {
				t.Fatalf("RegainAccessIn() = %v, want %v", got, tc.wantRegain)
			}
			if got := len(u.BusinessUseCase); got != tc.wantBUC {
				t.Fatalf("len(BusinessUseCase) = %d, want %d", got, tc.wantBUC)
			}
		})
	}
}

func TestUsageOnResult(t *testing.T) {
	f := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-App-Usage", `{"call_count":91,"total_time":25,"total_cputime":25}`)
		w.Write([]byte(`{"id":"1","name":"A"}`))
	})
	res, err := f.client.Session(canary).Get(t.Context(), "/me", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Usage.Max() <= UsageThreshold {
		t.Fatalf("Usage.Max() = %d, want > %d", res.Usage.Max(), UsageThreshold)
	}
	bu := ParseUsage(http.Header{"X-Business-Use-Case-Usage": {`{"1":[{"type":"pages","call_count":3,"estimated_time_to_regain_access":5}]}`}}).BusinessUseCase["1"][0]
	if bu.Type != "pages" || bu.CallCount != 3 || bu.EstimatedTimeToRegainAccess != 5*time.Minute {
		t.Fatalf("BUC entry = %+v, want pages/3/5m", bu)
	}
}
