// Echo in passive mode: each accepted connection is activated (passive is the default mode)
// and served inside handle-connection by a loop of `receive` and `send` until the peer's end of
// stream (an empty list), then closed. While it loops, this actor serves nobody else: passive
// actors that serve many peers transfer connections to workers instead.
#include "actor.h"

INIT_KEEPS_STATE

bool exports_theater_simple_tcp_client_handle_connection(bytes_t *state,
                                                         tcp_actor_tuple1_string_t *params,
                                                         state_out_t *out, string_t *err) {
    string_t *conn = &params->f0;
    bool ok = theater_simple_tcp_activate(conn, err);
    while (ok) {
        bytes_t data;
        if (!theater_simple_tcp_receive(conn, 65536, &data, err)) {
            ok = false;
            break;
        }
        if (data.len == 0) {
            ok = theater_simple_tcp_close(conn, err);
            break;
        }
        ok = send_bytes(conn, data.ptr, data.len, err);
        tcp_actor_list_u8_free(&data);
    }
    tcp_actor_tuple1_string_free(params);
    keep_state(state, out);
    return ok;
}
