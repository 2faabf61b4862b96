#pragma once
// Finds the pod templates of Kubernetes documents and hands them to the injector: Pod (the
// object itself), Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job
// (`spec.template`), CronJob (`spec.jobTemplate.spec.template`), and the items of `kind: List`
// and the typed lists (`DeploymentList`, ...), recursively. Every other document is left alone.
//
// Thread-affinity: none.

#include <map>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "cli/inject/injector.hpp"

namespace outrigger::inject {

/// One pod template met in a document.
struct workload_result {
    std::string kind;       // "Deployment"
    std::string ns;         // the namespace used (the document's, or the default)
    std::string name;       // metadata.name, or generateName + "*"
    std::string pointer;    // JSON pointer of the workload object in its document ("" = root)
    pod_result result;
};

/// Injects into every pod template of `document` (modified in place).
std::vector<workload_result> inject_document(const injector& inj, boost::json::value& document,
                                             const std::string& default_namespace);

/// Adds the labels of every Namespace object of `document` (lists included) to `out`.
void collect_namespaces(const boost::json::value& document,
                        std::map<std::string, label_map>& out);

}  // namespace outrigger::inject
