package rbac

import (
	"slices"
	"strings"

	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
)

// Well-known users and groups, as the API server names them (from
// k8s.io/apiserver's user and serviceaccount packages).
const (
	GroupMasters         = user.SystemPrivilegedGroup             // allowed everything, before any authorizer runs
	GroupAuthenticated   = user.AllAuthenticated                  // every authenticated user
	GroupUnauthenticated = user.AllUnauthenticated                // anonymous requests
	GroupServiceAccounts = serviceaccount.AllServiceAccountsGroup // every service account
	GroupNodes           = user.NodesGroup                        // kubelets, with users system:node:<name>
	UserAnonymous        = user.Anonymous

	// ServiceAccountPrefix starts a service account's username,
	// system:serviceaccount:<namespace>:<name>.
	ServiceAccountPrefix = serviceaccount.ServiceAccountUsernamePrefix
	// NodePrefix starts a node's username, system:node:<name>. Kubernetes
	// keeps it unexported (k8s.io/kubernetes/pkg/auth/nodeidentifier and
	// k8s.io/apiserver's impersonation filter each spell it), so it is
	// spelled here once.
	NodePrefix = "system:node:"
)

// User is an authenticated identity as authorizers see it: a name and every
// group, the implicit ones included (see Impersonate).
type User struct {
	Name   string   `json:"name"`
	Groups []string `json:"groups,omitempty"`
}

// ServiceAccountUser is the username of a service account.
func ServiceAccountUser(namespace, name string) string {
	return serviceaccount.MakeUsername(namespace, name)
}

// isServiceAccount reports whether username is the service account's,
// without building it.
func isServiceAccount(username, namespace, name string) bool {
	return serviceaccount.MatchesUsername(namespace, name, username)
}

// ServiceAccountGroups are the groups the API server puts a service
// account's token in: system:serviceaccounts and system:serviceaccounts:<ns>.
func ServiceAccountGroups(namespace string) []string {
	return serviceaccount.MakeGroupNames(namespace)
}

// ServiceAccountNamespaceGroup is the group of every service account of a
// namespace, system:serviceaccounts:<namespace>.
func ServiceAccountNamespaceGroup(namespace string) string {
	return serviceaccount.MakeNamespaceGroupName(namespace)
}

// ParseServiceAccount splits system:serviceaccount:<namespace>:<name>, with
// a valid namespace and service account name as the API server requires.
func ParseServiceAccount(username string) (namespace, name string, ok bool) {
	namespace, name, err := serviceaccount.SplitUsername(username)
	return namespace, name, err == nil
}

// Impersonate returns the user the API server sees when a request
// impersonates name with groups, as kubectl --as NAME --as-group G... does:
// a service account without groups gets its service-account groups; then
// system:authenticated is added unless the groups already hold it or
// system:unauthenticated, and system:anonymous gets system:unauthenticated.
func Impersonate(name string, groups ...string) User {
	g := slices.Clone(groups)
	if len(g) == 0 {
		if ns, _, ok := ParseServiceAccount(name); ok {
			g = ServiceAccountGroups(ns)
		}
	}
	if name != UserAnonymous {
		if !slices.Contains(g, GroupAuthenticated) && !slices.Contains(g, GroupUnauthenticated) {
			g = append(g, GroupAuthenticated)
		}
	} else if !slices.Contains(g, GroupUnauthenticated) {
		g = append(g, GroupUnauthenticated)
	}
	return User{Name: name, Groups: g}
}

// InGroup reports whether the user is in group g.
func (u User) InGroup(g string) bool { return slices.Contains(u.Groups, g) }

// Node returns the node name and true when the Node authorizer treats the
// user as a node: a name system:node:<name> and the group system:nodes.
// The name may be empty (an unidentifiable node, which the Node authorizer
// allows nothing).
func (u User) Node() (string, bool) {
	name, ok := strings.CutPrefix(u.Name, NodePrefix)
	if !ok || !u.InGroup(GroupNodes) {
		return "", false
	}
	return name, true
}
