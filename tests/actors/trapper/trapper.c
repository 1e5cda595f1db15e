// An actor that traps on purpose, to show that a failing actor loses only its own connections.
// It echoes in active mode, except for two commands, each sent alone as one chunk:
// - "worker\n": it answers "moving\n" and transfers the connection to the actor "worker";
// - anything containing "trap": it executes an `unreachable` instruction (a wasm trap).
#include "actor.h"

INIT_KEEPS_STATE

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

static bool contains(const bytes_t *data, const char *word) {
    size_t n = strlen(word);
    for (size_t i = 0; i + n <= data->len; i++) {
        if (memcmp(data->ptr + i, word, n) == 0) {
            return true;
        }
    }
    return false;
}

bool exports_theater_simple_tcp_client_on_data(bytes_t *state,
                                               tcp_actor_tuple2_string_list_u8_t *params,
                                               state_out_t *out, string_t *err) {
    string_t *conn = &params->f0;
    bytes_t *data = &params->f1;
    bool ok;
    if (data->len == 7 && memcmp(data->ptr, "worker\n", 7) == 0) {
        ok = send_text(conn, "moving\n", err) &&
             theater_simple_tcp_transfer(conn, STR("worker"), err);
    } else if (contains(data, "trap")) {
        log_text("trapper: trapping on purpose");
        __builtin_trap();
    } else {
        ok = send_bytes(conn, data->ptr, data->len, err);
    }
    tcp_actor_tuple2_string_list_u8_free(params);
    keep_state(state, out);
    return ok;
}
