// A worker: connections arrive by transfer (active, passive mode); it switches each to
// "active" and echoes what on-data pushes.
#include "actor.h"

INIT_KEEPS_STATE

bool exports_theater_simple_tcp_client_handle_connection_transfer(
    bytes_t *state, tcp_actor_tuple1_string_t *params, state_out_t *out, string_t *err) {
    bool ok = theater_simple_tcp_set_active(&params->f0, STR("active"), err);
    tcp_actor_tuple1_string_free(params);
    keep_state(state, out);
    return ok;
}

bool exports_theater_simple_tcp_client_on_data(bytes_t *state,
                                               tcp_actor_tuple2_string_list_u8_t *params,
                                               state_out_t *out, string_t *err) {
    bool ok = send_bytes(&params->f0, params->f1.ptr, params->f1.len, err);
    tcp_actor_tuple2_string_list_u8_free(params);
    keep_state(state, out);
    return ok;
}
