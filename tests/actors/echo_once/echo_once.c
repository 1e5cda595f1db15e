// Echo in "once" mode: the host pushes one chunk, the mode turns passive, and this actor
// re-arms `once` after echoing it, so every chunk is one explicit grant (Erlang {active, once}).
#include "actor.h"

INIT_KEEPS_STATE

bool exports_theater_simple_tcp_client_handle_connection(bytes_t *state,
                                                         tcp_actor_tuple1_string_t *params,
                                                         state_out_t *out, string_t *err) {
    string_t *conn = &params->f0;
    bool ok = theater_simple_tcp_activate(conn, err) &&
              theater_simple_tcp_set_active(conn, STR("once"), err);
    tcp_actor_tuple1_string_free(params);
    keep_state(state, out);
    return ok;
}

bool exports_theater_simple_tcp_client_on_data(bytes_t *state,
                                               tcp_actor_tuple2_string_list_u8_t *params,
                                               state_out_t *out, string_t *err) {
    string_t *conn = &params->f0;
    bool ok = send_bytes(conn, params->f1.ptr, params->f1.len, err) &&
              theater_simple_tcp_set_active(conn, STR("once"), err);
    tcp_actor_tuple2_string_list_u8_free(params);
    keep_state(state, out);
    return ok;
}
