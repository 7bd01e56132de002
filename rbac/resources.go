package rbac

// Resource is a built-in resource of the API server, as its discovery
// lists it (subresources aside).
type Resource struct {
	Group, Resource string
	Namespaced      bool
}

// BuiltinResources are the resources kube-apiserver serves with its default
// API groups and feature gates. The e2e suite checks the list against the
// real server's discovery.
var BuiltinResources = []Resource{
	{"", "bindings", true},
	{"", "componentstatuses", false},
	{"", "configmaps", true},
	{"", "endpoints", true},
	{"", "events", true},
	{"", "limitranges", true},
	{"", "namespaces", false},
	{"", "nodes", false},
	{"", "persistentvolumeclaims", true},
	{"", "persistentvolumes", false},
	{"", "pods", true},
	{"", "podtemplates", true},
	{"", "replicationcontrollers", true},
	{"", "resourcequotas", true},
	{"", "secrets", true},
	{"", "serviceaccounts", true},
	{"", "services", true},
	{"admissionregistration.k8s.io", "mutatingadmissionpolicies", false},
	{"admissionregistration.k8s.io", "mutatingadmissionpolicybindings", false},
	{"admissionregistration.k8s.io", "mutatingwebhookconfigurations", false},
	{"admissionregistration.k8s.io", "validatingadmissionpolicies", false},
	{"admissionregistration.k8s.io", "validatingadmissionpolicybindings", false},
	{"admissionregistration.k8s.io", "validatingwebhookconfigurations", false},
	{"apiextensions.k8s.io", "customresourcedefinitions", false},
	{"apiregistration.k8s.io", "apiservices", false},
	{"apps", "controllerrevisions", true},
	{"apps", "daemonsets", true},
	{"apps", "deployments", true},
	{"apps", "replicasets", true},
	{"apps", "statefulsets", true},
	{"authentication.k8s.io", "selfsubjectreviews", false},
	{"authentication.k8s.io", "tokenreviews", false},
	{"authorization.k8s.io", "localsubjectaccessreviews", true},
	{"authorization.k8s.io", "selfsubjectaccessreviews", false},
	{"authorization.k8s.io", "selfsubjectrulesreviews", false},
	{"authorization.k8s.io", "subjectaccessreviews", false},
	{"autoscaling", "horizontalpodautoscalers", true},
	{"batch", "cronjobs", true},
	{"batch", "jobs", true},
	{"certificates.k8s.io", "certificatesigningrequests", false},
	{"coordination.k8s.io", "leases", true},
	{"discovery.k8s.io", "endpointslices", true},
	{"events.k8s.io", "events", true},
	{"flowcontrol.apiserver.k8s.io", "flowschemas", false},
	{"flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations", false},
	{"networking.k8s.io", "ingressclasses", false},
	{"networking.k8s.io", "ingresses", true},
	{"networking.k8s.io", "ipaddresses", false},
	{"networking.k8s.io", "networkpolicies", true},
	{"networking.k8s.io", "servicecidrs", false},
	{"node.k8s.io", "runtimeclasses", false},
	{"policy", "poddisruptionbudgets", true},
	{"rbac.authorization.k8s.io", "clusterrolebindings", false},
	{"rbac.authorization.k8s.io", "clusterroles", false},
	{"rbac.authorization.k8s.io", "rolebindings", true},
	{"rbac.authorization.k8s.io", "roles", true},
	{"resource.k8s.io", "deviceclasses", false},
	{"resource.k8s.io", "resourceclaims", true},
	{"resource.k8s.io", "resourceclaimtemplates", true},
	{"resource.k8s.io", "resourceslices", false},
	{"scheduling.k8s.io", "priorityclasses", false},
	{"storage.k8s.io", "csidrivers", false},
	{"storage.k8s.io", "csinodes", false},
	{"storage.k8s.io", "csistoragecapacities", true},
	{"storage.k8s.io", "storageclasses", false},
	{"storage.k8s.io", "volumeattachments", false},
	{"storage.k8s.io", "volumeattributesclasses", false},
}

// ResourceGroups lists the API groups of the built-in resources of a name
// (events is in "" and events.k8s.io).
func ResourceGroups(resource string) []string {
	var out []string
	for _, r := range BuiltinResources {
		if r.Resource == resource {
			out = append(out, r.Group)
		}
	}
	return out
}

// ClusterScoped reports whether a built-in resource is cluster-scoped:
// requests for it have no namespace, so only ClusterRoleBindings can allow
// them.
func ClusterScoped(group, resource string) bool {
	for _, r := range BuiltinResources {
		if r.Group == group && r.Resource == resource {
			return !r.Namespaced
		}
	}
	return false
}
