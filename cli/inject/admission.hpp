#pragma once
// The admission webhook's answer to one request body (Kubernetes `admission.k8s.io/v1`
// AdmissionReview), without I/O so that it is testable on its own. The pod is request.object,
// its namespace request.namespace (a pod made by a ReplicaSet has none of its own yet). The
// answer always allows the pod (`allowed: true`: the webhook never blocks a pod's creation); an
// injected pod gets `patchType: JSONPatch` and the base64 RFC 6902 patch from the pod sent to the
// injected pod; a pod the injector refused gets the reason in `warnings` (kubectl shows them).
// Only CREATE of a core v1 Pod is looked at, as App Mesh's webhook did.
//
// Thread-affinity: none; safe on many threads with one shared injector.

#include <string>
#include <string_view>

#include "cli/inject/injector.hpp"

namespace outrigger::inject {

struct admission_answer {
    unsigned http_status = 200;  // 400 when the body is not an AdmissionReview
    std::string content_type = "application/json";
    std::string body;            // the AdmissionReview response, or a one-line error (400)
    std::string log_line;        // "Pod my-app/web-*: injected as mesh/m/virtualNode/web_my-app"
};

[[nodiscard]] admission_answer review_admission(const injector& inj, std::string_view body);

/// RFC 4648 base64 with padding.
[[nodiscard]] std::string base64_encode(std::string_view data);

}  // namespace outrigger::inject
