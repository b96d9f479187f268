package branches

import (
	"errors"
	"strings"
)

// Prefix is put in front of every branch a session creates.
const Prefix = "pcc/"

var errEmpty = errors.New("branch name is empty")

// SessionBranch returns the branch name used for a session's worktree.
func SessionBranch(sessionID string) string {
	return Prefix + strings.ToLower(sessionID)
}

// IsSessionBranch reports whether a branch was created by parallel-cc.
func IsSessionBranch(name string) bool {
	return strings.HasPrefix(name, Prefix)
}

// Owner extracts the session id from a session branch name.
func Owner(name string) (string, error) {
	if name == "" {
		return "", errEmpty
	}
	return strings.TrimPrefix(name, Prefix), nil
}
