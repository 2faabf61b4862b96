#pragma once
// App Mesh's sidecar injector (aws-app-mesh-controller-for-k8s, pkg/inject) for outrigger, on a
// pod (or pod template) as JSON. Shared by `outrigger inject` (files) and its webhook
// (AdmissionReview). docs/inject.md is the user-facing description; the rules, in order:
//
//  1. A pod that already has a container or init container named `outrigger`/`outrigger-init` is
//     left as it is (so injecting twice changes nothing); one with App Mesh's `envoy` container
//     or `proxyinit` init container too (App Mesh injected it).
//  2. Mode: the namespace label `appmesh.k8s.aws/sidecarInjectorWebhook` sets the default, the
//     pod annotation of the same name overrides it; `disabled` skips the pod, `enabled` makes a
//     pod that matches no node an error, anything else injects when a node matches.
//  3. Mesh: the one Mesh whose namespaceSelector selects the namespace's labels (absent selector:
//     none; `{}`: all; the implicit mesh of an input without a Mesh: all). None: not injected;
//     two: an error (App Mesh refuses such objects).
//  4. Node: the VirtualNode of that mesh in the pod's namespace whose podSelector selects the
//     pod's labels (absent podSelector: no pod). None: not injected; two or more: an error (App
//     Mesh refuses the pod: "found multiple matching VirtualNodes").
//  5. Annotations (App Mesh's names): ports, egressIgnoredPorts, egressIgnoredIPs, ipv6,
//     cpuRequest, memoryRequest, cpuLimit, memoryLimit, sidecarEnv, sidecarEnvJson,
//     secretMounts, volumeMounts; appmeshCNI `enabled` is an error (no NET_ADMIN, no iptables).
//  6. Adds: the mesh ConfigMap volume (and secret volumes), then at the end of initContainers the
//     iptables init container `outrigger-init` and the native sidecar `outrigger`
//     (restartPolicy: Always), in the shape of deploy/kubernetes/20-*.yaml.
//
// Thread-affinity: an injector is immutable after construction; `inject` may run on many
// threads at once (the webhook does).

#include <map>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "routing/mesh_model.hpp"

namespace outrigger::inject {

using label_map = std::map<std::string, std::string>;

struct injector_options {
    std::string image = "outrigger:latest";
    std::string init_image = "outrigger-init:latest";
    std::string configmap = "outrigger-mesh";
    std::string configmap_key = "mesh.yaml";  // the sidecar reads /etc/outrigger/<key>
};

/// What happened to one pod.
struct pod_result {
    enum class status_t { injected, unchanged, error };
    status_t status = status_t::unchanged;
    /// injected: the node (`mesh/M/virtualNode/AWSNAME`); otherwise why nothing was done.
    std::string message;
    /// Things the user should know about an injected pod (a legacy annotation, an app running as
    /// the proxy's UID, ...).
    std::vector<std::string> warnings;
    /// injected: one line per addition, for `--report`.
    std::vector<std::string> changes;
};

class injector {
public:
    /// `mesh` must be resolved and valid (routing::resolve + validate without errors) and outlive
    /// the injector. `namespaces`: the labels of every namespace known (Namespace documents and
    /// --namespace-labels); a namespace not in it has no labels.
    injector(const routing::mesh_input& mesh, injector_options opts,
             std::map<std::string, label_map> namespaces);

    /// Injects into `pod` ({metadata, spec}: a Pod or a pod template) of namespace `ns`. On any
    /// status but `injected`, `pod` is not modified.
    pod_result inject(boost::json::object& pod, const std::string& ns) const;

    [[nodiscard]] const injector_options& options() const { return opts_; }

private:
    const routing::mesh_input& mesh_;
    injector_options opts_;
    std::map<std::string, label_map> namespaces_;
};

}  // namespace outrigger::inject
