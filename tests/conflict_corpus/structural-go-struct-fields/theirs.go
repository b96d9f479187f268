package watch

import "time"

// Config controls how git-pcc-watch scans a worktree.
type Config struct {
	Root      string
	Interval  time.Duration
	MaxClaims int
	Exclude   []string
	Debounce  time.Duration
}

// DefaultConfig returns the settings used when no config file exists.
func DefaultConfig(root string) Config {
	return Config{
		Root:      root,
		Interval:  2 * time.Second,
		MaxClaims: 500,
		Exclude:   []string{".git", "target"},
	}
}

// Validate rejects settings the watcher cannot run with.
func (c Config) Validate() error {
	if c.Interval < 100*time.Millisecond {
		return errTooFast
	}
	return nil
}
