package store_test

import (
	"os"
	"path/filepath"
	"testing"

	"watchshare/store"
)

func TestResidue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	os.WriteFile(path, []byte("..CANARY..CANARY.."), 0o600)
	os.WriteFile(path+"-wal", []byte("CANARY other"), 0o600)
	for _, tc := range []struct {
		name     string
		canaries []string
		want     int
	}{
		{"db and wal", []string{"CANARY"}, 3},
		{"two canaries", []string{"CANARY", "other"}, 4},
		{"empty canary ignored", []string{""}, 0},
		{"absent", []string{"nothing"}, 0},
	} {
		if got := store.Residue(path, tc.canaries); got != tc.want {
			t.Errorf("%s: Residue = %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := store.Residue(filepath.Join(t.TempDir(), "missing.db"), []string{"CANARY"}); got != 0 {
		t.Errorf("missing files: Residue = %d", got)
	}
}
