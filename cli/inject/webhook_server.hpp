#pragma once
// `outrigger inject --webhook`: a Kubernetes mutating admission webhook over HTTPS.
//
//   POST /mutate-v1-pod   AdmissionReview in, AdmissionReview out (admission.hpp); App Mesh's
//                         path, so a MutatingWebhookConfiguration written for it only needs the
//                         service name changed. The API server's `?timeout=10s` is ignored.
//   GET  /healthz         200 "ok" (the Deployment's probes)
//
// Bounded and never blocking a pod: 10 s for the TLS handshake and for each request, 30 s of
// idle keep-alive, 16 KiB of headers, 4 MiB of body (413 beyond); a malformed body is a 400
// (the API server then applies failurePolicy: Ignore). Connections are coroutines on a few
// threads sharing one io_context, so requests are served concurrently.
//
// Reloads: every second the certificate/key files and the mesh files are stat()ed; a change
// rebuilds the TLS context (cert-manager's rotation) or the mesh and injector (a new ConfigMap);
// a rebuild that fails keeps the old one and logs why. SIGTERM/SIGINT stop accepting and give
// in-flight requests 5 s.
//
// Thread-affinity: `serve_webhook` blocks its caller until stopped.

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "cli/inject/injector.hpp"

namespace outrigger::inject {

/// What requests are served with; replaced whole when the mesh files change.
struct webhook_state {
    routing::mesh_input mesh;
    std::unique_ptr<injector> inj;  // refers to `mesh`: built after it, never moved
    std::vector<std::string> files;  // to watch for changes
};

/// Loads (or reloads) the state; on failure returns null after writing why to `err`.
using webhook_loader = std::function<std::shared_ptr<const webhook_state>(std::ostream& err)>;

struct webhook_options {
    std::string address = "0.0.0.0";
    std::uint16_t port = 8443;  // 0: any free port (printed)
    std::string cert_file;
    std::string key_file;
    unsigned threads = 2;
};

/// Serves until SIGTERM or SIGINT. Prints `outrigger inject: webhook listening on ADDR:PORT` on
/// `out` once accepting; one line per request on `err`. Returns 0 after a signal, 1 when the
/// first load, the certificate or the bind fails.
int serve_webhook(const webhook_loader& load, const webhook_options& opts, std::ostream& out,
                  std::ostream& err);

}  // namespace outrigger::inject
