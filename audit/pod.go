package audit

import (
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulwark-k8s/bulwark/finding"
	"github.com/bulwark-k8s/bulwark/hardening"
)

// Rules about a static Pod's spec beyond its command line: what it runs
// and what of the host it reaches. A control-plane Pod needs the host's
// network and its own files, nothing more.
const (
	idPodPrivileged = "pod:privileged"
	idPodHostPath   = "pod:sensitive-host-path"
	idPodImage      = "pod:image-repository"
	idPodOther      = "pod:other-static-pod-privileged"
)

func podRules() []finding.Rule {
	return []finding.Rule{
		r(idPodPrivileged, finding.High, "", "a control-plane Pod runs privileged, with added capabilities, or in the host's PID or IPC namespace: it is root on the node", "remove privileged, capabilities.add, hostPID and hostIPC from the static Pod"),
		r(idPodHostPath, finding.High, "", "a control-plane Pod mounts a host path that holds the whole node (/, /etc, /var, /root, the container runtime's socket, ...)", "mount only the component's own files and folders"),
		r(idPodOther, finding.High, "", "a static Pod beside the control plane runs privileged, in the host's namespaces or with the node's files: the kubelet starts it as root on the node, past the API server's admission", "remove the static Pod, or drop privileged, host namespaces, capabilities beyond networking and the node's paths"),
		r(idPodImage, finding.High, "", "a control-plane Pod runs an image from another repository than the cluster's other components (or than the configured one)", "use the images of the configured repository (render.imageRepository); restore the manifest with bulwark render"),
	}
}

// sensitiveHostPaths are host paths that give a container the node: the
// root, the system's configuration and state, and the container
// runtimes' sockets.
var sensitiveHostPaths = []string{
	"/", "/etc", "/root", "/home", "/var", "/var/lib", "/var/run", "/run", "/usr", "/bin", "/sbin", "/lib", "/boot",
	"/proc", "/sys", "/dev", "/var/lib/kubelet", "/var/lib/containerd", "/var/lib/docker", "/etc/systemd", "/etc/sudoers.d", "/etc/cron.d",
	"/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock", "/var/run/containerd/containerd.sock",
	"/run/crio/crio.sock", "/var/run/crio/crio.sock", "/run/containerd", "/var/run/containerd",
}

// checkPod judges a static Pod's spec.
func (a *auditor) checkPod(c *Component, comps []*Component) {
	if c.Pod == nil {
		return
	}
	a.r.Check(idPodPrivileged)
	a.r.Check(idPodHostPath)
	a.r.Check(idPodImage)
	spec := c.Pod
	var priv []string
	if spec.HostPID {
		priv = append(priv, "hostPID: true")
	}
	if spec.HostIPC {
		priv = append(priv, "hostIPC: true")
	}
	for _, ct := range slices.Concat(spec.InitContainers, spec.Containers) {
		sc := ct.SecurityContext
		if sc == nil {
			continue
		}
		if sc.Privileged != nil && *sc.Privileged {
			priv = append(priv, ct.Name+": privileged: true")
		}
		if sc.Capabilities != nil && len(sc.Capabilities.Add) > 0 {
			priv = append(priv, fmt.Sprintf("%s: capabilities.add %v", ct.Name, sc.Capabilities.Add))
		}
	}
	if len(priv) > 0 {
		a.r.Add(newFinding(idPodPrivileged, c, Evidence{File: c.Source, Detail: strings.Join(priv, "; ")}))
	}
	for _, v := range spec.Volumes {
		if v.HostPath == nil {
			continue
		}
		p := path.Clean("/" + v.HostPath.Path)
		if slices.Contains(sensitiveHostPaths, p) || strings.HasSuffix(p, ".sock") {
			a.r.Add(newFinding(idPodHostPath, c, Evidence{File: c.Source, Detail: fmt.Sprintf("volume %q is the host's %s", v.Name, v.HostPath.Path)}))
		}
	}
	want, from := a.imageRepository(c, comps)
	if want == "" {
		return
	}
	for _, ct := range slices.Concat(spec.InitContainers, spec.Containers) {
		if repo := imageRepo(ct.Image); repo != want {
			a.r.Add(newFinding(idPodImage, c, Evidence{File: c.Source, Detail: fmt.Sprintf("%s runs %s; %s is %s", ct.Name, ct.Image, from, want)}))
		}
	}
}

// imageRepository is the repository c's images must come from: the
// configured one, or, in a folder without a configuration, the one every
// other control-plane Pod uses ("" when they do not agree).
func (a *auditor) imageRepository(c *Component, comps []*Component) (repo, from string) {
	if !a.defaulted && a.cfg != nil && a.cfg.Render.ImageRepository != "" {
		return a.cfg.Render.ImageRepository, "the configured repository"
	}
	for _, o := range comps {
		if o == c || o.Pod == nil || o.Name == hardening.Kubelet {
			continue
		}
		for _, ct := range o.Pod.Containers {
			r := imageRepo(ct.Image)
			switch {
			case repo == "":
				repo = r
			case repo != r:
				return "", ""
			}
		}
	}
	return repo, "the other control-plane Pods' repository"
}

// imageRepo is an image reference without its last path element (name,
// tag and digest): registry.k8s.io/kube-apiserver:v1.36.3 ->
// registry.k8s.io.
func imageRepo(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, "/"); i >= 0 {
		return image[:i]
	}
	return "docker.io/library"
}

// otherPod is a static Pod of a manifests folder that runs no
// control-plane component (a virtual-IP or load-balancer Pod, or one
// that should not be there).
type otherPod struct {
	file, node string
	spec       corev1.PodSpec
}

// staticPod reads a manifest as a Pod.
func staticPod(data []byte) (corev1.PodSpec, bool) {
	var pod corev1.Pod
	if err := yaml.Unmarshal(data, &pod); err != nil || len(pod.Spec.Containers) == 0 {
		return corev1.PodSpec{}, false
	}
	return pod.Spec, true
}

// networkCaps are the capabilities a virtual-IP or load-balancer static
// Pod (kube-vip, keepalived) needs.
var networkCaps = []corev1.Capability{"NET_ADMIN", "NET_RAW", "NET_BROADCAST", "NET_BIND_SERVICE"}

// checkOtherPods judges the static Pods beside the control plane: they
// may hold the node's network (kube-vip, keepalived), not the node.
func (a *auditor) checkOtherPods() {
	a.r.Check(idPodOther)
	for _, o := range a.others {
		var why []string
		if o.spec.HostPID {
			why = append(why, "hostPID: true")
		}
		if o.spec.HostIPC {
			why = append(why, "hostIPC: true")
		}
		for _, ct := range slices.Concat(o.spec.InitContainers, o.spec.Containers) {
			sc := ct.SecurityContext
			if sc == nil {
				continue
			}
			if sc.Privileged != nil && *sc.Privileged {
				why = append(why, ct.Name+": privileged: true")
			}
			if sc.Capabilities != nil {
				for _, c := range sc.Capabilities.Add {
					if !slices.Contains(networkCaps, corev1.Capability(strings.ToUpper(strings.TrimPrefix(string(c), "CAP_")))) {
						why = append(why, fmt.Sprintf("%s: capabilities.add %s", ct.Name, c))
					}
				}
			}
		}
		for _, v := range o.spec.Volumes {
			if v.HostPath == nil {
				continue
			}
			if p := path.Clean("/" + v.HostPath.Path); slices.Contains(sensitiveHostPaths, p) || strings.HasSuffix(p, ".sock") {
				why = append(why, fmt.Sprintf("volume %q is the host's %s", v.Name, v.HostPath.Path))
			}
		}
		if len(why) > 0 {
			f := newFinding(idPodOther, nil, Evidence{File: o.file, Detail: strings.Join(why, "; ")})
			f.Node = o.node
			a.r.Add(f)
		}
	}
}
