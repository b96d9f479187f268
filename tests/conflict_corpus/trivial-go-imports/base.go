package watcher

import (
	"context"
	"fmt"
	"time"
)

// Poller checks a worktree for changes at a fixed interval.
type Poller struct {
	Root     string
	Interval time.Duration
}

// Run polls until the context is cancelled.
func (p *Poller) Run(ctx context.Context, changed func(string)) error {
	ticker := time.NewTicker(p.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
			changed(p.Root)
		}
	}
}

func (p *Poller) String() string {
	return fmt.Sprintf("poller(%s, every %s)", p.Root, p.Interval)
}
