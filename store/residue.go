package store

import (
	"bytes"
	"os"
)

// Residue counts the occurrences of the canaries (a purged member's Facebook
// id, name, token, action ids) in the bytes of the database file at path,
// its WAL and its shared-memory file: after a purge it must be zero. Files
// that do not exist count nothing; empty canaries are ignored.
func Residue(path string, canaries []string) int {
	hits := 0
	for _, suffix := range []string{"", "-wal", "-shm"} {
		data, err := os.ReadFile(path + suffix)
		if err != nil {
			continue
		}
		for _, c := range canaries {
			if c != "" {
				hits += bytes.Count(data, []byte(c))
			}
		}
	}
	return hits
}
