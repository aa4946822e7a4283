package graph

import (
	"encoding/json"
	"math"
	"net/http"
	"time"
)

// Usage is the rate-limit usage Facebook reports in response headers. Every
// value is a whole-number percentage of the allowance; a header Facebook
// left out (it does so near 0%) or could not be parsed reads as zero.
type Usage struct {
	App  RateUsage // X-App-Usage
	Page RateUsage // X-Page-Usage
	// BusinessUseCase is X-Business-Use-Case-Usage: business object id →
	// one entry per use-case type.
	BusinessUseCase map[string][]BusinessUseCaseUsage
}

// RateUsage is one X-App-Usage / X-Page-Usage value.
type RateUsage struct {
	CallCount    int `json:"call_count"`
	TotalTime    int `json:"total_time"`
	TotalCPUTime int `json:"total_cputime"`
}

// Max returns the largest of the three percentages.
func (r RateUsage) Max() int { return max(r.CallCount, r.TotalTime, r.TotalCPUTime) }

// BusinessUseCaseUsage is one entry of X-Business-Use-Case-Usage.
type BusinessUseCaseUsage struct {
	Type         string
	CallCount    int
	TotalTime    int
	TotalCPUTime int
	// EstimatedTimeToRegainAccess is how long until calls are accepted
	// again (Facebook reports whole minutes); zero when not throttled.
	EstimatedTimeToRegainAccess time.Duration
}

// UsageThreshold is the percentage above which callers should slow down.
const UsageThreshold = 90

// Max returns the highest percentage across all reported usage values.
// Compare it with UsageThreshold.
func (u Usage) Max() int {
	m := max(u.App.Max(), u.Page.Max())
	for _, list := range u.BusinessUseCase {
		for _, b := range list {
			m = max(m, b.CallCount, b.TotalTime, b.TotalCPUTime)
		}
	}
	return m
}

// RegainAccessIn returns the longest estimated_time_to_regain_access across
// the business use cases, or zero.
func (u Usage) RegainAccessIn() time.Duration {
	var d time.Duration
	for _, list := range u.BusinessUseCase {
		for _, b := range list {
			d = max(d, b.EstimatedTimeToRegainAccess)
		}
	}
	return d
}

// ParseUsage reads X-App-Usage, X-Page-Usage and X-Business-Use-Case-Usage.
// Malformed headers are ignored.
func ParseUsage(h http.Header) Usage {
	var u Usage
	if v := h.Get("X-App-Usage"); v != "" {
		u.App = parseRateUsage(v)
	}
	if v := h.Get("X-Page-Usage"); v != "" {
		u.Page = parseRateUsage(v)
	}
	if v := h.Get("X-Business-Use-Case-Usage"); v != "" {
		u.BusinessUseCase = parseBusinessUseCaseUsage(v)
	}
	return u
}

// parseBusinessUseCaseUsage reads an X-Business-Use-Case-Usage value; nil
// when it is malformed or empty.
func parseBusinessUseCaseUsage(v string) map[string][]BusinessUseCaseUsage {
	var raw map[string][]wireUsage
	if json.Unmarshal([]byte(v), &raw) != nil || len(raw) == 0 {
		return nil
	}
	out := make(map[string][]BusinessUseCaseUsage, len(raw))
	for id, list := range raw {
		entries := make([]BusinessUseCaseUsage, 0, len(list))
		for _, w := range list {
			entries = append(entries, BusinessUseCaseUsage{
				Type:                        w.Type,
				CallCount:                   pct(w.CallCount),
				TotalTime:                   pct(w.TotalTime),
				TotalCPUTime:                pct(w.TotalCPUTime),
				EstimatedTimeToRegainAccess: time.Duration(pct(w.EstimatedTimeToRegainAccess)) * time.Minute,
			})
		}
		out[id] = entries
	}
	return out
}

type wireUsage struct {
	Type                        string      `json:"type"`
	CallCount                   json.Number `json:"call_count"`
	TotalTime                   json.Number `json:"total_time"`
	TotalCPUTime                json.Number `json:"total_cputime"`
	EstimatedTimeToRegainAccess json.Number `json:"estimated_time_to_regain_access"`
}

func parseRateUsage(v string) RateUsage {
	var w wireUsage
	if json.Unmarshal([]byte(v), &w) != nil {
		return RateUsage{}
	}
	return RateUsage{CallCount: pct(w.CallCount), TotalTime: pct(w.TotalTime), TotalCPUTime: pct(w.TotalCPUTime)}
}

// pct turns a number (possibly fractional) into a whole percentage,
// rounding up so 90.2% is not read as 90%.
func pct(n json.Number) int {
	if n == "" {
		return 0
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 {
		return 0
	}
	if f > 1e6 {
		return 1e6
	}
	return int(math.Ceil(f))
}
