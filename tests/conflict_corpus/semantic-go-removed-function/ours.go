package session

import (
	"strings"
	"time"
)

// Session is one coding-agent session registered in a repository.
type Session struct {
	ID      string
	Ref     string
	Files   []string
	Started time.Time
}

// Label is the short name shown by `git pcc status`.
func (s *Session) Label() string {
	return s.ID + "@" + strings.TrimPrefix(s.Ref, "refs/heads/")
}

// Expired reports whether the session has been idle for longer than ttl.
func (s *Session) Expired(now time.Time, ttl time.Duration) bool {
	return now.Sub(s.Started) > ttl
}

// OnBranch reports whether the session works on the given branch.
func (s *Session) OnBranch(branch string) bool {
	return strings.TrimPrefix(s.Ref, "refs/heads/") == branch
}
