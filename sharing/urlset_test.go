package sharing

import (
	"fmt"
	"strings"
	"testing"
)

func TestURLSetBounded(t *testing.T) {
	u := newURLSet(4, 1<<10)
	for i := range 10 {
		u.add(fmt.Sprintf("https://example.com/%d", i))
	}
	if n := len(u.cur.index) + len(u.old.index); n > 2*u.maxLen {
		t.Fatalf("%d strings kept, want at most %d", n, 2*u.maxLen)
	}
	for i, want := range map[int]bool{0: false, 3: false, 4: true, 9: true} {
		if got := u.has(fmt.Sprintf("https://example.com/%d", i)); got != want {
			t.Errorf("has(%d) = %v, want %v", i, got, want)
		}
	}
}

func TestURLSetBytesBounded(t *testing.T) {
	u := newURLSet(100, 64)
	long := "https://example.com/" + strings.Repeat("x", 40) // 60 bytes
	u.add(long + "1")
	u.add(long + "2") // does not fit: a new generation
	u.add(long + "3")
	if u.has(long+"1") || !u.has(long+"2") || !u.has(long+"3") {
		t.Errorf("has = %v %v %v, want false true true", u.has(long+"1"), u.has(long+"2"), u.has(long+"3"))
	}
	if u.has(long) || u.has(long+"22") {
		t.Error("has is true for a string never added")
	}
	u.add(strings.Repeat("y", 65)) // over maxBytes: not kept
	if u.has(strings.Repeat("y", 65)) {
		t.Error("a string longer than maxBytes was kept")
	}
}

// TestTitleURLRemembered: a remembered URL answers as the first check did,
// and the checks that come before the cache still apply.
func TestTitleURLRemembered(t *testing.T) {
	for range 2 {
		if err := validTitleURL("https://www.example.com/title/t1"); err != nil {
			t.Fatalf("validTitleURL = %v, want nil", err)
		}
		for _, bad := range []string{"http://www.example.com/title/t1", "https://user@www.example.com/", "https:///x", ""} {
			if err := validTitleURL(bad); err == nil {
				t.Errorf("validTitleURL(%q) = nil, want an error", bad)
			}
		}
	}
}
