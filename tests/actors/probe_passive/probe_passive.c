// The probe without on-data, on-close, on-passive or handle-connection: it exports only
// handle-connection-transfer, so its control connection arrives by transfer (`handoff` on
// another probe) and is served in passive mode, and its listeners queue connections for
// `accept`. It shows the errors that depend on what an actor does not export.
#define PROBE_PASSIVE 1
#include "../probe/probe.c"
