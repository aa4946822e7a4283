package resilience

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDiskFull puts the database on a small tmpfs, fills it while events
// flow, and frees it again: the worker must stop consuming (pause, not
// dead-letter), say why in its log, lose nothing and resume by itself.
//
// The read-only variant is not run: a mount cannot be made read-only while
// SQLite holds its files open for writing (EBUSY), and root, which the
// mount needs, ignores file permissions.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("skipped: filling a disk needs a small tmpfs, and mounting one needs root")
	}
	dbDir := filepath.Join(t.TempDir(), "db")
	if err := os.Mkdir(dbDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dbDir).CombinedOutput(); err != nil {
		t.Skipf("skipped: cannot mount a tmpfs here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	r := newRig(t, rigOptions{dbDir: dbDir})
	// Cleanups run last-in first-out: the worker's (registered by start,
	// later) kills it before this unmounts, and the temp dir goes after.
	t.Cleanup(func() {
		if w := r.worker(); w != nil {
			w.kill()
		}
		exec.Command("umount", "-l", dbDir).Run()
	})
	r.start()
	ids := r.connectMembers("d", size(10, 30))
	first := makePlan("d", ids, 2, 2, 1)
	r.postAll(first)

	filler := filepath.Join(dbDir, "filler")
	filled, err := fill(filler)
	if err != nil {
		t.Fatalf("filling the disk: %v", err)
	}
	t.Logf("disk full: %d KiB of filler", filled>>10)
	second := makePlan("e", ids, 3, 1, 0) // each member: two titles crossing the threshold at once, one abandoned
	if err := r.publishAll(second.events, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the worker to pause on the full disk", func() bool {
		return len(r.worker().logs(`"worker paused"`, "full")) > 0
	})
	why := r.worker().logs(`"worker paused"`, "full")[0]
	st, err := r.consumer()
	if err != nil {
		t.Fatal(err)
	}
	postedWhileFull := r.count(first, second).Executed - len(first.expect)
	if st.terminal() || st.DLQ != 0 {
		t.Errorf("consumer while the disk is full: %+v; want events held, none dead-lettered", st)
	}
	t.Logf("paused: %s", why)
	t.Logf("while full: %d posts, consumer %+v", postedWhileFull, st)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	took, tl, st := r.settle(3*time.Minute, first, second)
	r.check(tl, st, first, second)
	t.Logf("disk freed: every event terminal %s later; %v; consumer %+v", took.Round(time.Second), tl, st)
	summary(t, "paused_on_full_disk=yes posts_while_full=%d %v dlq=%d resumed_and_settled_in=%s", postedWhileFull, tl, st.DLQ, time.Since(freed).Round(time.Second))
}

// fill writes zeros to path until the file system is full and returns how
// much it wrote.
func fill(path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := f.Write(buf)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			// Fill the last partial block too.
			for {
				k, err := f.Write(buf[:512])
				n += int64(k)
				if err != nil {
					return n, nil
				}
			}
		}
		if err != nil {
			return n, err
		}
	}
}
