//go:build tools

// Package kube pins the Kubernetes components that bulwark's tests run for
// real: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and
// kubeadm, all built from one k8s.io/kubernetes release.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
