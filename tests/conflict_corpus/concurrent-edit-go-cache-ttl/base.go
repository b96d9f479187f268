package status

import (
	"sync"
	"time"
)

// cacheTTL is how long `git pcc status` reuses a previous database read.
const cacheTTL = 30 * time.Second

type entry struct {
	value   []string
	fetched time.Time
}

// Cache remembers the session list per repository.
type Cache struct {
	mu      sync.Mutex
	entries map[string]entry
}

// Get returns the cached sessions for repo, calling load when they are stale.
func (c *Cache) Get(repo string, load func(string) []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]entry)
	}
	e, ok := c.entries[repo]
	if !ok || time.Since(e.fetched) > cacheTTL {
		e = entry{value: load(repo), fetched: time.Now()}
		c.entries[repo] = e
	}
	return e.value
}
