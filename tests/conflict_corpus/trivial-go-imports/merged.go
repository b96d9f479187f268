package watcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Poller checks a worktree for changes at a fixed interval.
type Poller struct {
	Root     string
	Interval time.Duration
}

// Run polls until the context is cancelled.
func (p *Poller) Run(ctx context.Context, changed func(string)) error {
	if _, err := os.Stat(p.Root); err != nil {
		return err
	}
	ticker := time.NewTicker(p.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
			changed(filepath.Clean(p.Root))
		}
	}
}

// IsHidden reports whether a path names a dot file.
func IsHidden(path string) bool {
	return strings.HasPrefix(filepath.Base(path), ".")
}

func (p *Poller) String() string {
	return fmt.Sprintf("poller(%s, every %s)", strings.TrimSuffix(p.Root, "/"), p.Interval)
}
