package rbac

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
)

// Well-known users and groups, as the API server names them.
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
	// NodePrefix starts a node's username, system:node:<name>.
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
	return ServiceAccountPrefix + namespace + ":" + name
}

// ServiceAccountGroups are the groups the API server puts a service
// account's token in: system:serviceaccounts and system:serviceaccounts:<ns>.
func ServiceAccountGroups(namespace string) []string {
	return []string{GroupServiceAccounts, GroupServiceAccounts + ":" + namespace}
}

// ParseServiceAccount splits system:serviceaccount:<namespace>:<name>, with
// a valid namespace and service account name as the API server requires.
func ParseServiceAccount(username string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(username, ServiceAccountPrefix)
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	if !ok || strings.Contains(name, ":") ||
		len(validation.ValidateNamespaceName(namespace, false)) > 0 || len(validation.ValidateServiceAccountName(name, false)) > 0 {
		return "", "", false
	}
	return namespace, name, true
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
