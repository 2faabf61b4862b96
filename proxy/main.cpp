// outrigger: App Mesh manifests enforced by a standalone sidecar proxy. Wiring only.
#include "cli/commands.hpp"

int main(int argc, char** argv) { return outrigger::cli::dispatch(argc, argv); }
