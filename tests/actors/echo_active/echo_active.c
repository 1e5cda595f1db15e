// Echo in active mode: every accepted connection is activated and switched to "active"; each
// chunk the host pushes through on-data is sent straight back. When the peer closes, the host
// closes the connection (this actor exports no on-close).
#include "actor.h"

INIT_KEEPS_STATE

// A listener pushed a pending connection: activate it and ask for pushed data.
bool exports_theater_simple_tcp_client_handle_connection(bytes_t *state,
                                                         tcp_actor_tuple1_string_t *params,
                                                         state_out_t *out, string_t *err) {
    string_t *conn = &params->f0;
    bool ok = theater_simple_tcp_activate(conn, err) &&
              theater_simple_tcp_set_active(conn, STR("active"), err);
    tcp_actor_tuple1_string_free(params);
    keep_state(state, out);
    return ok;
}

// One chunk in: the same bytes out.
bool exports_theater_simple_tcp_client_on_data(bytes_t *state,
                                               tcp_actor_tuple2_string_list_u8_t *params,
                                               state_out_t *out, string_t *err) {
    bool ok = send_bytes(&params->f0, params->f1.ptr, params->f1.len, err);
    tcp_actor_tuple2_string_list_u8_free(params);
    keep_state(state, out);
    return ok;
}
