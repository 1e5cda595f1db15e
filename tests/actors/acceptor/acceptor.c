// An acceptor: it owns the listener and hands every connection, still pending, to the actor
// "worker" with `transfer`, which returns once the worker's handle-connection-transfer ran.
#include "actor.h"

INIT_KEEPS_STATE

bool exports_theater_simple_tcp_client_handle_connection(bytes_t *state,
                                                         tcp_actor_tuple1_string_t *params,
                                                         state_out_t *out, string_t *err) {
    bool ok = theater_simple_tcp_transfer(&params->f0, STR("worker"), err);
    tcp_actor_tuple1_string_free(params);
    keep_state(state, out);
    return ok;
}
